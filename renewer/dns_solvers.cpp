#include "renewer/dns_solvers.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/log.hpp"
#include "renewer/dns_bridge.hpp"
#include "renewer/run.hpp"

namespace renewer {

// Every setting counts (a certificate with a 3 s timeout must not get
// another's 300 s), except the TSIG secret, which never goes to disk (its key
// name does).
std::string dns_key(const DnsOptions& dns) {
    return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", dns.provider, dns.resolver, dns.nameservers,
                       dns.follow_cname, dns.propagation_timeout.count(), dns.route53_zone_id,
                       dns.route53_assume_role_arn, dns.route53_external_id, dns.route53_requests_per_second,
                       dns.route53_private_zone, dns.rfc2136_server, dns.rfc2136_tsig_key, dns.rfc2136_tsig_algorithm,
                       dns.rfc2136_ttl, dns.exec_path);
}

core::Result<std::shared_ptr<dns::Solver>> solver_for(const CertificateConfig& config,
                                                      std::optional<std::chrono::seconds> max_wait) {
    DnsOptions bounded = config.dns;
    if (max_wait) {
        bounded.propagation_timeout =
            std::max(std::chrono::seconds(1), std::min(bounded.propagation_timeout, *max_wait));
    }
    return make_dns_solver(bounded);
}

void replay_dns_journal(const RunSettings& settings, const std::vector<Job>& jobs, dns::Journal& journal) {
    auto orphans = journal.orphans(settings.lease_ttl);
    if (!orphans) {
        core::log::warn("cannot read the DNS journal", {{"error", orphans.error().message}});
        return;
    }
    for (const auto& entry : *orphans) {
        const auto owner = std::find_if(jobs.begin(), jobs.end(),
                                        [&](const Job& job) { return dns_key(job.config->dns) == entry.provider; });
        const std::string first = entry.records.empty() ? "" : entry.records.front().fqdn;
        if (owner == jobs.end()) {
            core::log::warn(
                "TXT values left by an interrupted run use DNS settings no certificate has now; "
                "remove them by hand",
                {{"fqdn", first}, {"journal", journal.dir() + "/" + entry.id}});
            continue;
        }
        auto solver = solver_for(*owner->config);
        auto removed = solver ? (*solver)->remove(entry.records) : core::Status(solver.error());
        if (!removed) {
            core::log::warn("cannot remove TXT values left by an interrupted run; the next run tries again",
                            {{"fqdn", first}, {"error", removed.error().message}});
            continue;
        }
        (void)journal.remove(entry.id);
        core::log::info("removed TXT values left by an interrupted run",
                        {{"fqdn", first}, {"records", std::to_string(entry.records.size())}});
    }
}

}  // namespace renewer
