// RFC 2136 dynamic UPDATE provider with TSIG (RFC 8945, hmac-sha256/512),
// over TCP to the zone's primary server.
//
// Settings (schema() in rfc2136.cpp; lego's environment names):
//   server          primary server "host[:port]" (required; port 53 by default)
//   tsig_key        TSIG key name (optional: unsigned updates when unset)
//   the TSIG secret base64, from RFC2136_TSIG_SECRET, a variable the file
//                   names (tsig_secret_env) or a file (tsig_secret_file)
//   tsig_algorithm  hmac-sha256 (default) or hmac-sha512, with or without the trailing dot
//   ttl             TTL of added records, seconds (default 60)
//   RFC2136_DNS_TIMEOUT  seconds per UPDATE exchange (default 10)
//   zone            zone to update (default: the SOA the server names for each record)
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "dns/provider.hpp"

namespace dns {

struct Rfc2136Settings {
    std::string nameserver;
    std::string tsig_key;
    std::string tsig_secret;  // base64
    std::string tsig_algorithm = "hmac-sha256.";
    std::uint32_t ttl = 60;
    std::chrono::milliseconds timeout{10'000};
    std::string zone;

    // The settings schema (docs/dns-providers.md).
    static std::span<const core::settings::Setting> schema();
    // From checked values; reads the secret from the variable or file named.
    static core::Result<Rfc2136Settings> from_values(const core::settings::Values& values,
                                                     const std::string& block_origin);
    static core::Result<Rfc2136Settings> from_env(const Env& env = process_env());

    bool operator==(const Rfc2136Settings&) const = default;
};

// Errors: invalid_input naming the setting when the settings are incomplete.
core::Result<std::unique_ptr<Provider>> make_rfc2136(Rfc2136Settings settings);

}  // namespace dns
