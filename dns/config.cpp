#include "dns/config.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <unistd.h>

#include "core/env.hpp"
#include "dns/wire.hpp"

namespace dns {
namespace {

namespace settings = core::settings;
using settings::Setting;
using settings::Type;

// The rows every provider shares (docs/dns-providers.md).
const std::array<Setting, 5> k_common{{
    {.key = "provider",
     .flag = "dns",
     .help = "DNS provider: route53, rfc2136 or exec",
     .choices = "route53|rfc2136|exec"},
    {.key = "resolver",
     .flag = "dns-resolver",
     .help = "recursive resolver host:port for SOA/NS/CNAME look-ups",
     .check = host_port_problem},
    {.key = "nameservers",
     .flag = "dns-nameservers",
     .type = Type::list,
     .help = "host:port[,host:port] that replace the authoritative servers' addresses",
     .text_in_file = true,
     .check = host_port_problem},
    {.key = "follow_cname",
     .type = Type::boolean,
     .help = "follow a CNAME at _acme-challenge.<name> (--no-cname-follow turns it off)"},
    {.key = "propagation_timeout",
     .flag = "dns-timeout",
     .type = Type::integer,
     .min = 1,
     .max = 3600,
     .help = "seconds to wait for the records to be visible everywhere (Route53's INSYNC included)"},
}};

template <typename Settings>
core::Result<ProviderConfig> build_as(const settings::Values& values, const std::string& block_origin) {
    TRY_ASSIGN(Settings typed, Settings::from_values(values, block_origin));
    return ProviderConfig(std::move(typed));
}

const std::array<ProviderFactory, 3> k_factories{{
    {"route53", &Route53Settings::schema, &build_as<Route53Settings>,
     "Amazon Route53 (AWS_HOSTED_ZONE_ID, AWS_ASSUME_ROLE_ARN, AWS_TTL, ...)"},
    {"rfc2136", &Rfc2136Settings::schema, &build_as<Rfc2136Settings>,
     "RFC 2136 dynamic update with TSIG (RFC2136_NAMESERVER, RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET, ...)"},
    {"exec", &ExecSettings::schema, &build_as<ExecSettings>, "run EXEC_PATH present|cleanup FQDN VALUE"},
}};

const ProviderFactory* factory_named(std::string_view name) {
    const auto it =
        std::find_if(k_factories.begin(), k_factories.end(), [&](const ProviderFactory& f) { return f.name == name; });
    return it == k_factories.end() ? nullptr : &*it;
}

// The executable `path` names: as written when it has a '/', else the first
// match on PATH (as execvp() finds it). nullopt when there is none.
std::optional<std::string> find_executable(const std::string& path) {
    if (path.find('/') != std::string::npos) {
        return ::access(path.c_str(), X_OK) == 0 ? std::optional<std::string>(path) : std::nullopt;
    }
    const std::string search = core::env_or("PATH", "/usr/local/bin:/usr/bin:/bin");
    for (std::size_t start = 0; start <= search.size();) {
        const auto end = std::min(search.find(':', start), search.size());
        const std::string dir = end == start ? "." : search.substr(start, end - start);
        if (const std::string candidate = dir + "/" + path; ::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        start = end + 1;
    }
    return std::nullopt;
}

// What the provider's constructor (make_provider) would refuse, checked while
// the configuration is read so that a mistake stops the run before any network
// call (docs/configuration.md, "Checked before the run"), named after what
// the user wrote.
core::Status check_provider(const ProviderConfig& provider, const settings::Values& values) {
    if (const auto* rfc2136 = std::get_if<Rfc2136Settings>(&provider); rfc2136 && !rfc2136->tsig_key.empty()) {
        if (auto name = wire::encode_name(rfc2136->tsig_key); !name) {
            return settings::settings_error(settings::origin(values, "tsig_key"),
                                            "not a DNS name: " + name.error().message);
        }
    }
    if (const auto* exec = std::get_if<ExecSettings>(&provider); exec && !find_executable(exec->path)) {
        return settings::settings_error(settings::origin(values, "exec_path"),
                                        fmt::format("\"{}\" is not an executable file{}", exec->path,
                                                    exec->path.find('/') == std::string::npos ? " on PATH" : ""));
    }
    return {};
}

}  // namespace

std::span<const ProviderFactory> provider_factories() { return k_factories; }

const settings::Block& dns_block() {
    static const std::array<settings::Variant, 3> variants{{
        {k_factories[0].name, k_factories[0].settings()},
        {k_factories[1].name, k_factories[1].settings()},
        {k_factories[2].name, k_factories[2].settings()},
    }};
    static const settings::Block block{k_common, "provider", "provider", "route53", variants};
    return block;
}

std::string DnsConfig::provider_name() const {
    return std::visit(
        [](const auto& s) -> std::string {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, Route53Settings>) {
                return "route53";
            } else if constexpr (std::is_same_v<T, Rfc2136Settings>) {
                return "rfc2136";
            } else {
                return "exec";
            }
        },
        provider);
}

void DnsConfig::set_wait(std::chrono::seconds timeout) {
    propagation_timeout = timeout;
    // One timeout bounds every DNS wait: Route53's INSYNC as well as the
    // authoritative-server check, so --dns-timeout means what it says.
    if (auto* route53 = std::get_if<Route53Settings>(&provider)) {
        route53->change_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    }
}

SolverOptions DnsConfig::solver_options() const {
    SolverOptions options;
    options.cname = cname;
    options.propagation.resolver = resolver;
    options.propagation.nameservers = nameservers;
    options.propagation.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(propagation_timeout);
    return options;
}

std::string DnsConfig::identity() const {
    const std::string common =
        fmt::format("{}|{}|{}|{}", resolver, nameservers, cname == CnameMode::follow, propagation_timeout.count());
    return std::visit(
        [&](const auto& s) -> std::string {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, Route53Settings>) {
                return fmt::format("route53|{}|{}|{}|{}|{}|{}|{}", common, s.hosted_zone_id,
                                   s.zone_visibility == ZoneVisibility::prefer_private, s.ttl, s.assume_role_arn,
                                   s.external_id, s.requests_per_second);
            } else if constexpr (std::is_same_v<T, Rfc2136Settings>) {
                // The TSIG secret never goes to disk; the key name does.
                return fmt::format("rfc2136|{}|{}|{}|{}|{}|{}", common, s.nameserver, s.tsig_key, s.tsig_algorithm,
                                   s.ttl, s.zone);
            } else {
                return fmt::format("exec|{}|{}", common, s.path);
            }
        },
        provider);
}

core::Result<DnsConfig> make_dns_config(const settings::Values& values, const std::string& block_origin) {
    DnsConfig config;
    const std::string name = settings::selected_variant(dns_block(), values);
    const ProviderFactory* factory = factory_named(name);
    if (factory == nullptr) {
        return settings::settings_error(settings::origin(values, "provider"),
                                        fmt::format("unknown provider \"{}\"", name));
    }
    TRY_ASSIGN(config.provider, factory->build(values, block_origin));
    TRY(check_provider(config.provider, values));
    config.cname = settings::boolean(values, "follow_cname", true) ? CnameMode::follow : CnameMode::ignore;
    config.resolver = settings::text(values, "resolver");
    const auto servers = settings::list(values, "nameservers");
    for (const auto& server : servers) {
        config.nameservers += (config.nameservers.empty() ? "" : ",") + server;
    }
    config.set_wait(std::chrono::seconds(settings::integer(values, "propagation_timeout", 300)));
    return config;
}

core::Result<std::shared_ptr<Provider>> make_provider(const ProviderConfig& config) {
    auto made = std::visit(
        [](const auto& s) -> core::Result<std::unique_ptr<Provider>> {
            using T = std::decay_t<decltype(s)>;
            if constexpr (std::is_same_v<T, Route53Settings>) {
                return make_route53(s);
            } else if constexpr (std::is_same_v<T, Rfc2136Settings>) {
                return make_rfc2136(s);
            } else {
                return make_exec(s);
            }
        },
        config);
    if (!made) {
        return made.error();
    }
    return std::shared_ptr<Provider>(std::move(*made));
}

core::Result<std::shared_ptr<Solver>> make_solver(const DnsConfig& config) {
    TRY_ASSIGN(auto provider, make_provider(config.provider));
    return std::make_shared<Solver>(std::move(provider), config.solver_options());
}

core::Result<std::shared_ptr<Provider>> make_provider(std::string_view name, const Env& env) {
    const ProviderFactory* factory = factory_named(name);
    if (factory == nullptr) {
        std::string known;
        for (const auto& f : k_factories) {
            known += (known.empty() ? "" : ", ") + std::string(f.name);
        }
        return core::make_error(core::ErrorKind::invalid_input,
                                "unknown DNS provider '" + std::string(name) + "' (known: " + known + ")");
    }
    TRY_ASSIGN(const auto values, settings::read_env(settings::flat_block(factory->settings()), env));
    TRY_ASSIGN(const ProviderConfig config, factory->build(values, ""));
    return make_provider(config);
}

// host, host:port, [v6] or [v6]:port.
std::optional<std::string> host_port_problem(std::string_view text) {
    const auto bad = [&](const char* why) { return fmt::format("\"{}\" is not host:port ({})", text, why); };
    if (text.find_first_of(" \t/") != std::string_view::npos) {
        return bad("white space or '/'");
    }
    std::string_view port;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close == 1) {
            return bad("unclosed '['");
        }
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') {
                return bad("text after ']'");
            }
            port = text.substr(close + 2);
            if (port.empty()) {
                return bad("empty port");
            }
        }
    } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
        if (text.find(':', colon + 1) != std::string_view::npos) {
            return bad("write IPv6 addresses as [addr]:port");
        }
        if (colon == 0) {
            return bad("empty host");
        }
        port = text.substr(colon + 1);
        if (port.empty()) {
            return bad("empty port");
        }
    }
    if (!port.empty()) {
        const bool digits =
            port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535) {
            return bad("port must be 1..65535");
        }
    }
    return std::nullopt;
}

}  // namespace dns
