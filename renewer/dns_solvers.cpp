#include "renewer/dns_solvers.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "dns/config.hpp"
#include "renewer/run.hpp"

namespace renewer {

core::Result<std::shared_ptr<dns::Solver>> solver_for(const CertificateConfig& config,
                                                      std::optional<std::chrono::seconds> max_wait) {
    dns::DnsConfig bounded = config.dns;
    if (max_wait) {
        bounded.set_wait(std::max(std::chrono::seconds(1), std::min(bounded.propagation_timeout, *max_wait)));
    }
    return dns::make_solver(bounded);
}

void replay_dns_journal(const RunSettings& settings, const std::vector<Job>& jobs, dns::Journal& journal) {
    auto orphans = journal.orphans(settings.lease_ttl);
    if (!orphans) {
        core::log::warn("cannot read the DNS journal", {{"error", orphans.error().message}});
        return;
    }
    for (const auto& entry : *orphans) {
        const auto owner = std::find_if(jobs.begin(), jobs.end(),
                                        [&](const Job& job) { return job.config->dns.identity() == entry.provider; });
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
