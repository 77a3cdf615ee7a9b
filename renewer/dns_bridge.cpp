#include "renewer/dns_bridge.hpp"

#include <algorithm>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "core/log.hpp"
#include "dns/exec.hpp"
#include "dns/rfc2136.hpp"
#include "dns/route53.hpp"

namespace renewer {
namespace {

// Our options first, the process environment for everything they leave open.
dns::Env env_with(const DnsOptions& options) {
    std::map<std::string, std::string, std::less<>> values;
    auto set = [&values](const char* name, const std::string& value) {
        if (!value.empty()) {
            values[name] = value;
        }
    };
    set("AWS_HOSTED_ZONE_ID", options.route53_zone_id);
    set("AWS_ASSUME_ROLE_ARN", options.route53_assume_role_arn);
    set("AWS_EXTERNAL_ID", options.route53_external_id);
    set("AWS_ROUTE53_REQUESTS_PER_SECOND", fmt::format("{}", options.route53_requests_per_second));
    // One timeout bounds every DNS wait: Route53's INSYNC as well as the
    // authoritative-server check, so --dns-timeout means what it says.
    set("AWS_PROPAGATION_TIMEOUT", std::to_string(options.propagation_timeout.count()));
    if (options.route53_private_zone) {
        set("AWS_PRIVATE_ZONE", "true");
    }
    set("RFC2136_NAMESERVER", options.rfc2136_server);
    set("RFC2136_TSIG_KEY", options.rfc2136_tsig_key);
    set("RFC2136_TSIG_SECRET", options.rfc2136_tsig_secret);
    set("RFC2136_TSIG_ALGORITHM", options.rfc2136_tsig_algorithm);
    set("RFC2136_TTL", std::to_string(options.rfc2136_ttl));
    set("EXEC_PATH", options.exec_path);
    const dns::Env process = dns::process_env();
    return [values = std::move(values), process](std::string_view name) -> std::optional<std::string> {
        if (auto it = values.find(name); it != values.end()) {
            return it->second;
        }
        return process(name);
    };
}

std::string key_of(const std::vector<acme::Dns01Record>& records) {
    std::vector<std::string> parts;
    parts.reserve(records.size());
    for (const auto& record : records) {
        parts.push_back(record.domain + "=" + record.value);
    }
    std::sort(parts.begin(), parts.end());
    std::string key;
    for (const auto& part : parts) {
        key += part;
        key += ';';
    }
    return key;
}

}  // namespace

core::Result<std::shared_ptr<dns::Provider>> make_dns_provider(const DnsOptions& options) {
    auto provider = dns::make_provider(options.provider, env_with(options));
    if (!provider) {
        return provider.error();
    }
    return std::shared_ptr<dns::Provider>(std::move(*provider));
}

dns::SolverOptions dns_solver_options(const DnsOptions& options) {
    dns::SolverOptions solver_options;
    solver_options.cname = options.follow_cname ? dns::CnameMode::follow : dns::CnameMode::ignore;
    solver_options.propagation.resolver = options.resolver;
    solver_options.propagation.nameservers = options.nameservers;
    solver_options.propagation.timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(options.propagation_timeout);
    return solver_options;
}

core::Result<std::shared_ptr<dns::Solver>> make_dns_solver(const DnsOptions& options) {
    auto provider = make_dns_provider(options);
    if (!provider) {
        return provider.error();
    }
    return std::make_shared<dns::Solver>(std::move(*provider), dns_solver_options(options));
}

void DnsBridge::route(const std::string& domain, std::shared_ptr<dns::Solver> solver) {
    std::lock_guard lock(mutex_);
    routes_.emplace(domain, std::move(solver));
}

core::Status DnsBridge::present(const std::vector<acme::Dns01Record>& records) {
    if (records.empty()) {
        return {};
    }
    std::shared_ptr<dns::Solver> solver;
    {
        std::lock_guard lock(mutex_);
        const auto it = routes_.find(records.front().domain);
        if (it == routes_.end()) {
            return core::make_error(
                core::ErrorKind::internal,
                fmt::format("{}: no DNS provider configured for this name", records.front().domain));
        }
        solver = it->second;
    }
    std::vector<dns::Challenge> challenges;
    challenges.reserve(records.size());
    for (const auto& record : records) {
        challenges.push_back({record.domain, record.value});
    }
    auto presentation = solver->present(challenges);
    if (!presentation) {
        return presentation.error();
    }
    std::lock_guard lock(mutex_);
    presentations_.emplace(key_of(records), std::move(*presentation));
    return {};
}

void DnsBridge::cleanup(const std::vector<acme::Dns01Record>& records) {
    std::optional<dns::Presentation> presentation;
    {
        std::lock_guard lock(mutex_);
        const auto it = presentations_.find(key_of(records));
        if (it == presentations_.end()) {
            return;  // present() failed and cleaned up after itself
        }
        presentation.emplace(std::move(it->second));
        presentations_.erase(it);
    }
    if (auto status = presentation->cleanup(); !status) {
        core::log::warn("DNS cleanup failed; the record may need removing by hand",
                        {{"error", status.error().message}});
    }
}

}  // namespace renewer
