// RFC 2136 dynamic UPDATE provider with TSIG (RFC 8945, hmac-sha256/512),
// over TCP to the zone's primary server.
//
// Environment (lego's names):
//   RFC2136_NAMESERVER       primary server, "host[:port]" (required; port 53 by default)
//   RFC2136_TSIG_KEY         TSIG key name (optional: unsigned updates when unset)
//   RFC2136_TSIG_SECRET      base64 secret (required with a key)
//   RFC2136_TSIG_ALGORITHM   hmac-sha256 (default) or hmac-sha512, with or without the trailing dot
//   RFC2136_TTL              TTL of added records, seconds (default 60)
//   RFC2136_DNS_TIMEOUT      seconds per UPDATE exchange (default 10)
//   RFC2136_ZONE             zone to update (optional; default: the SOA the server names for each record)
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
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

    static core::Result<Rfc2136Settings> from_env(const Env& env = process_env());
};

// Errors: invalid_input naming the setting when the settings are incomplete.
core::Result<std::unique_ptr<Provider>> make_rfc2136(Rfc2136Settings settings);

}  // namespace dns
