#include "renewer/customer_dns.hpp"

#include <map>

#include "core/log.hpp"
#include "dns/challenge.hpp"
#include "dns/wire.hpp"
#include "renewer/job.hpp"
#include "renewer/run.hpp"

namespace renewer {
namespace {

// "a.b.zone." is inside "zone" (canonical names, RFC 4343: compared lower-cased).
bool inside(const std::string& fqdn, const std::string& zone) {
    const auto apex = dns::wire::canonical_name(zone);
    return fqdn == apex || (fqdn.size() > apex.size() && fqdn.ends_with("." + apex));
}

// The record the customer should make, for the report.
std::string wanted(const std::string& fqdn, const std::string& name, const std::string& zone) {
    const std::string base = name.starts_with("*.") ? name.substr(2) : name;
    return fqdn + " CNAME " + (zone.empty() ? "<a name in our zone>" : base + "." + zone + ".");
}

// "" when every name of the job is ready, else the first reason.
core::Result<std::string> job_problem(dns::Resolver& resolver, const Job& job, const std::string& zone,
                                      const core::Deadline& deadline) {
    for (const auto& name : job.config->domains) {
        if (!zone.empty() && inside(dns::wire::canonical_name(name.starts_with("*.") ? name.substr(2) : name), zone)) {
            continue;  // our own zone: nothing for a customer to make
        }
        TRY_ASSIGN(auto problem, customer_dns_problem(resolver, name, zone, deadline));
        if (!problem.empty()) {
            return problem;
        }
    }
    return std::string();
}

}  // namespace

core::Result<std::string> customer_dns_problem(dns::Resolver& resolver, const std::string& name,
                                               const std::string& zone, const core::Deadline& deadline) {
    const auto fqdn = dns::challenge_fqdn(name);
    TRY_ASSIGN(auto target, dns::follow_cname(resolver, fqdn, deadline));
    if (target == fqdn) {
        return fqdn + " is no CNAME yet (wanted: " + wanted(fqdn, name, zone) + ")";
    }
    if (!zone.empty() && !inside(target, zone)) {
        return fqdn + " leads to " + target + ", outside " + zone + " (wanted: " + wanted(fqdn, name, zone) + ")";
    }
    return std::string();
}

void hold_unready_customers(const RunSettings& settings, std::vector<Job>& jobs, const core::Deadline& deadline) {
    // One resolver per configured server list, shared by the jobs using it.
    std::map<std::string, core::Result<dns::Resolver>> resolvers;
    for (auto& job : jobs) {
        if (job.result.outcome != Outcome::would_renew || !job.config->customer_dns) {
            continue;
        }
        const auto& servers = job.config->dns.resolver;
        auto it = resolvers.find(servers);
        if (it == resolvers.end()) {
            dns::ResolverOptions options;
            options.servers = servers;
            it = resolvers.emplace(servers, dns::Resolver::create(options)).first;
        }
        auto problem = it->second ? job_problem(*it->second, job, settings.config.customer_dns_zone, deadline)
                                  : core::Result<std::string>(it->second.error());
        if (!problem) {
            job.result.outcome = Outcome::failed;
            job.result.reason = "customer DNS check: " + problem.error().message;
        } else if (!problem->empty()) {
            job.due = false;
            job.result.outcome = Outcome::waiting_customer_dns;
            job.result.reason = *problem;
            core::log::info("certificate waiting for customer DNS",
                            {{"certificate", job.config->id}, {"reason", *problem}});
        }
    }
}

}  // namespace renewer
