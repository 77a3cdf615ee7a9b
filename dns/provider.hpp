// dns::Provider: the one extension point for writing DNS-01 TXT records
// (docs/architecture.md). A provider presents a batch of (fqdn, value) pairs and
// cleans up exactly those values again; it knows nothing of ACME.
// Each implementation lives in its own .cpp, hidden in an anonymous
// namespace; its header exposes a settings struct with its settings schema
// (JSON keys, flags, lego's environment names, ranges) and a factory.
// dns/config.hpp holds the name -> factory table.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/settings.hpp"

namespace dns {

// One TXT value at one name. `fqdn` is absolute ("_acme-challenge.example.com.");
// `value` is the raw TXT string (no quotes).
struct TxtRecord {
    std::string fqdn;
    std::string value;

    bool operator==(const TxtRecord&) const = default;
};

class Provider {
public:
    virtual ~Provider() = default;

    // Adds every value of `records` next to whatever values already exist at
    // those names, one change per zone where the API allows it. Returns when
    // the provider reports the change applied (Route53: INSYNC; RFC 2136: the
    // primary answered NOERROR; exec: the command exited 0).
    virtual core::Status present(const std::vector<TxtRecord>& records) = 0;

    // Removes exactly these values; other values at the same names stay, byte
    // for byte. Values that are already gone are not an error.
    virtual core::Status cleanup(const std::vector<TxtRecord>& records) = 0;

    // "route53", "rfc2136", "exec".
    virtual std::string name() const = 0;
};

// Reads one environment variable; returns nullopt when unset or empty. Tests
// pass their own to fill settings without touching the process environment.
using Env = core::settings::EnvLookup;
inline Env process_env() { return core::settings::process_env(); }

}  // namespace dns
