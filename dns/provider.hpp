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

// What present() tells the caller about the changes it sends, so the DNS
// journal holds exactly the values that may exist
// (docs/architecture.md#the-dns-journal): nothing is journalled for a
// present refused before it sent anything (no zone found) or whose change the
// server refused as a whole.
class PresentLog {
public:
    virtual ~PresentLog() = default;
    // `records` go out in the next change; an error stops the present before it is sent.
    virtual core::Status sending(const std::vector<TxtRecord>& records) = 0;
    // The server answered that change with a refusal: changes are atomic
    // (RFC 2136 section 3.7, a Route53 change batch), so none of `records` was written.
    virtual void refused(const std::vector<TxtRecord>& records) = 0;
};

// Where a provider writes a name, for the delegation check
// (docs/dns-providers.md#stale-delegation).
struct ZoneInfo {
    std::string name;                      // canonical apex, "example.com."
    std::string label;                     // for messages: "example.com. (Z123)"
    std::vector<std::string> nameservers;  // canonical NS names the provider serves the zone from
};

class Provider {
public:
    virtual ~Provider() = default;

    // Adds every value of `records` next to whatever values already exist at
    // those names, one change per zone where the API allows it. Returns when
    // the provider reports the change applied (Route53: INSYNC; RFC 2136: the
    // primary answered NOERROR; exec: the command exited 0). Every change is
    // announced to `log` before it is sent.
    virtual core::Status present(const std::vector<TxtRecord>& records, PresentLog& log) = 0;
    // The same without a journal.
    core::Status present(const std::vector<TxtRecord>& records);

    // Removes exactly these values; other values at the same names stay, byte
    // for byte. Values that are already gone are not an error. Returns how
    // many of `records` were there and are gone now (exec: every value its
    // command was asked to remove; the command reports no more).
    virtual core::Result<std::size_t> cleanup(const std::vector<TxtRecord>& records) = 0;

    // The zone `fqdn` would be written to and its name servers, when the
    // provider knows them and the zone is public (Route53); nullopt otherwise.
    virtual core::Result<std::optional<ZoneInfo>> zone_info(const std::string& fqdn);

    // "route53", "rfc2136", "exec".
    virtual std::string name() const = 0;
};

// Reads one environment variable; returns nullopt when unset or empty. Tests
// pass their own to fill settings without touching the process environment.
using Env = core::settings::EnvLookup;
inline Env process_env() { return core::settings::process_env(); }

}  // namespace dns
