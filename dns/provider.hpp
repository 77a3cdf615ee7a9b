// dns::Provider: the one extension point for writing DNS-01 TXT records
// (STYLE.md habit 1). A provider presents a batch of (fqdn, value) pairs and
// cleans up exactly those values again; it knows nothing of ACME (habit 2).
// Each implementation lives in its own .cpp, hidden in an anonymous
// namespace; its header exposes a settings struct (filled from named
// environment constants, lego style, habit 3) and a factory. The table below
// maps provider names to factories.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

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

// Reads one environment variable; returns nullopt when unset. Tests and the
// CLI pass their own to fill settings without touching the process environment.
using Env = std::function<std::optional<std::string>(std::string_view)>;
// The process environment (getenv).
Env process_env();

using ProviderFactoryFn = core::Result<std::unique_ptr<Provider>> (*)(const Env& env);

struct ProviderFactory {
    std::string_view name;         // "route53", "rfc2136", "exec"
    ProviderFactoryFn from_env;    // settings from the named environment constants
    std::string_view description;  // one line for --help
};

// The name -> factory table.
std::span<const ProviderFactory> provider_factories();

// Builds the named provider with settings from `env`. An invalid_input error
// names the provider and the variable that is missing or wrong.
core::Result<std::unique_ptr<Provider>> make_provider(std::string_view name, const Env& env = process_env());

// Helpers for the settings parsers.
namespace env_util {
std::string get_or(const Env& env, std::string_view name, std::string fallback);
// Integer setting; an error names the variable when it does not parse or is out of [min, max].
core::Result<long> get_long(const Env& env, std::string_view name, long fallback, long min, long max);
core::Result<double> get_double(const Env& env, std::string_view name, double fallback, double min, double max);
// true/false/1/0/yes/no.
core::Result<bool> get_flag(const Env& env, std::string_view name, bool fallback);
}  // namespace env_util

}  // namespace dns
