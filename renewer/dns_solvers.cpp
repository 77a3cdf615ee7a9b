#include "renewer/dns_solvers.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "dns/config.hpp"
#include "renewer/run.hpp"

namespace renewer {

core::Result<std::shared_ptr<dns::Solver>> solver_for(const RunSettings& settings, const CertificateConfig& config,
                                                      std::optional<std::chrono::seconds> max_wait) {
    dns::DnsConfig bounded = config.dns;
    if (max_wait) {
        bounded.set_wait(std::max(std::chrono::seconds(1), std::min(bounded.propagation_timeout, *max_wait)));
    }
    if (auto* route53 = std::get_if<dns::Route53Settings>(&bounded.provider); route53 && settings.deadline) {
        route53->client.deadline = hard_end_of(settings);
        route53->client.deadline_name = settings.deadline_name;
    }
    return dns::make_solver(bounded);
}

namespace {

// A run could not remove an entry's values: count it; past the limit the
// entry expires with this one warning (docs/troubleshooting.md).
void note_failure(dns::Journal& journal, const dns::JournalEntry& entry, const std::string& why) {
    const std::string first = entry.records.empty() ? "" : entry.records.front().fqdn;
    auto expired = journal.failed(entry);
    if (expired && *expired) {
        core::log::warn(
            "giving up on TXT values left by an interrupted run: " + std::to_string(dns::k_journal_max_attempts) +
                " runs could not remove them; remove them by hand if they still exist",
            {{"fqdn", first}, {"records", std::to_string(entry.records.size())}, {"error", why}});
        return;
    }
    core::log::warn("cannot remove TXT values left by an interrupted run; the next run tries again",
                    {{"fqdn", first},
                     {"attempt", std::to_string(entry.failed_attempts + 1)},
                     {"journal", journal.dir() + "/" + entry.id},
                     {"error", why}});
}

}  // namespace

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
            note_failure(journal, entry, "they use DNS settings no certificate has now");
            continue;
        }
        auto solver = solver_for(settings, *owner->config);
        auto removed = solver ? (*solver)->remove(entry.records) : core::Result<std::size_t>(solver.error());
        if (!removed) {
            note_failure(journal, entry, removed.error().message);
            continue;
        }
        (void)journal.remove(entry.id);
        // The count is what the provider found and deleted, not what the entry listed.
        core::log::info(*removed == 0 ? "TXT values left by an interrupted run were already gone"
                                      : "removed TXT values left by an interrupted run",
                        {{"fqdn", first}, {"records", std::to_string(*removed)}});
    }
}

}  // namespace renewer
