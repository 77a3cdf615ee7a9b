// A certificate's DNS settings, typed: the provider's own settings (one
// struct per provider, chosen by "provider") and the settings every provider
// shares (CNAME delegation, where to check propagation, how long to wait).
// The settings schema of the DNS block (docs/configuration.md) is built from
// the rows each provider declares beside its code (route53.cpp, rfc2136.cpp,
// exec.cpp) and the common rows in config.cpp; renewer reads flags,
// environment and file through it and calls make_dns_config(). Two
// certificates share a solver when their DnsConfigs are equal.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "core/result.hpp"
#include "core/settings.hpp"
#include "dns/exec.hpp"
#include "dns/provider.hpp"
#include "dns/rfc2136.hpp"
#include "dns/route53.hpp"
#include "dns/solver.hpp"

namespace dns {

using ProviderConfig = std::variant<Route53Settings, Rfc2136Settings, ExecSettings>;

struct DnsConfig {
    ProviderConfig provider = Route53Settings{};
    CnameMode cname = CnameMode::follow;
    std::string resolver;     // host:port for SOA/NS/CNAME look-ups; "" = the system's
    std::string nameservers;  // host:port[,host:port] replacing the authoritative servers' addresses
    std::chrono::seconds propagation_timeout{300};

    bool operator==(const DnsConfig&) const = default;

    // Sets every DNS wait (propagation, Route53's INSYNC) to `timeout`.
    void set_wait(std::chrono::seconds timeout);
    // "route53", "rfc2136", "exec".
    std::string provider_name() const;
    SolverOptions solver_options() const;
    // A stable text naming these settings, without secrets: the DNS journal
    // records which settings presented a value, so a later run can remove it.
    std::string identity() const;
};

// The DNS block: "provider" selects one of the provider_factories() rows.
const core::settings::Block& dns_block();

// Typed settings from the checked values of the block (after every source
// was laid over the others). Secrets named by the values (a variable, a file)
// are read here and registered for log redaction. Errors name the origin of
// the value; a required setting that no source gave is named after
// `block_origin` (core::settings::missing_origin).
core::Result<DnsConfig> make_dns_config(const core::settings::Values& values, const std::string& block_origin);

core::Result<std::shared_ptr<Provider>> make_provider(const ProviderConfig& config);
core::Result<std::shared_ptr<Solver>> make_solver(const DnsConfig& config);

// Settings checks shared by the rows: "host", "host:port", "[v6]:port".
std::optional<std::string> host_port_problem(std::string_view text);

// The provider table: adding a provider adds a row (and a variant above).
struct ProviderFactory {
    std::string_view name;  // "route53", "rfc2136", "exec"
    std::span<const core::settings::Setting> (*settings)();
    core::Result<ProviderConfig> (*build)(const core::settings::Values& values, const std::string& block_origin);
    std::string_view description;  // one line for --help
};
std::span<const ProviderFactory> provider_factories();

// The named provider with its settings from the environment alone (lego's
// variable names): `renewer dns-test` without flags, and tests.
core::Result<std::shared_ptr<Provider>> make_provider(std::string_view name, const Env& env = process_env());

}  // namespace dns
