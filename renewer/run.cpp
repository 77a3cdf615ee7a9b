#include "renewer/run.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include "acme/obtain.hpp"
#include "core/log.hpp"
#include "dns/journal.hpp"
#include "renewer/customer_dns.hpp"
#include "renewer/dns_solvers.hpp"
#include "renewer/issue.hpp"
#include "renewer/job.hpp"
#include "renewer/prepare.hpp"
#include "renewer/replacement.hpp"
#include "secrets/spool.hpp"

namespace renewer {
namespace {

using Clock = std::chrono::steady_clock;

// Moves each job's result into the report. The report goes to stdout; a
// failure also goes to the log stream, so an alarm on error-level lines
// (CloudWatch, journald) catches it.
void take_results(std::vector<Job>& jobs, RunReport& report) {
    for (auto& job : jobs) {
        if (job.result.outcome == Outcome::failed) {
            core::log::error("certificate failed", {{"certificate", job.result.id}, {"reason", job.result.reason}});
        }
        report.certificates.push_back(std::move(job.result));
    }
}

secrets::Spool spool_for(const RunSettings& settings) {
    return secrets::Spool(settings.config.spool_dir.empty() ? secrets::Spool::default_dir()
                                                            : settings.config.spool_dir);
}

// Every job still due fails with `reason` (nothing can be ordered).
void fail_due(std::vector<Job>& jobs, const std::string& reason) {
    for (auto& job : jobs) {
        if (job.result.outcome == Outcome::would_renew) {
            job.result.outcome = Outcome::failed;
            job.result.reason = reason;
        }
    }
}

struct RunDeadlines {
    core::Deadline run;       // every wait ends by it
    core::Deadline start_by;  // no order starts after it
};

RunDeadlines run_deadlines(const RunSettings& settings) {
    RunDeadlines deadlines{core::Deadline::after(settings.order_timeout + std::chrono::seconds(120)),
                           core::Deadline::never()};
    // With a deadline, orders start only while k_order_start_budget (or the
    // order timeout, when shorter) is left; see RunSettings::deadline.
    if (settings.deadline) {
        deadlines.run = deadlines.run.min(*settings.deadline);
        const auto budget = std::min<std::chrono::milliseconds>(k_order_start_budget, settings.order_timeout);
        deadlines.start_by = core::Deadline(settings.deadline->at() - budget);
    }
    return deadlines;
}

}  // namespace

core::Deadline deadline_before(core::Clock::time_point hard_end) {
    return core::Deadline(hard_end - k_deadline_margin);
}

core::Deadline hard_end_of(const RunSettings& settings) {
    return settings.deadline ? core::Deadline(settings.deadline->at() + k_deadline_margin) : core::Deadline::never();
}

core::Deadline store_end_of(const RunSettings& settings) {
    return settings.deadline ? core::Deadline(settings.deadline->at() + k_deadline_margin / 2)
                             : core::Deadline::never();
}

RunReport plan_run(const RunSettings& settings) {
    const auto start = Clock::now();
    auto jobs = make_jobs(settings);
    auto spool = spool_for(settings);
    prepare_jobs(settings, jobs, spool, SpooledCertificates::leave);
    read_owed_notes(jobs);
    std::string ca_error;
    const auto deadline = settings.deadline.value_or(core::Deadline::never());
    // The CA is asked only for renewal information (RFC 9773) about stored
    // certificates: with nothing stored, a plan needs no network call.
    const bool stored = std::any_of(jobs.begin(), jobs.end(), [](const Job& j) { return !finished(j) && j.current; });
    auto transport = stored ? connect_ca(settings, ca_error, deadline) : std::nullopt;
    if (stored && !transport) {
        core::log::warn("cannot reach the CA; planning with the lifetime rule only", {{"error", ca_error}});
    }
    plan_jobs(settings, jobs, transport ? transport->get() : nullptr, deadline);
    hold_unready_customers(settings, jobs, deadline);
    RunReport report;
    take_results(jobs, report);
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return report;
}

RunReport execute_run(const RunSettings& settings) {
    const auto start = Clock::now();
    const auto deadlines = run_deadlines(settings);
    auto jobs = make_jobs(settings);
    auto spool = spool_for(settings);
    prepare_jobs(settings, jobs, spool, SpooledCertificates::store);
    read_owed_notes(jobs);
    auto journal = std::make_shared<dns::Journal>(spool.dir() + "-dns-journal");
    if (settings.dry_run == DryRun::no) {
        replay_dns_journal(settings, jobs, *journal);
    }

    // The CA is needed for ARI (when something is stored) and for orders.
    const bool need_ca = std::any_of(jobs.begin(), jobs.end(), [](const Job& j) { return !finished(j); });
    std::optional<std::unique_ptr<acme::Transport>> transport;
    std::string ca_error;
    // Past the point where orders may start, the CA is not contacted at all
    // (ARI would not change the outcome: nothing can be ordered).
    if (need_ca && !deadlines.start_by.expired()) {
        transport = connect_ca(settings, ca_error, deadlines.run);
    }
    plan_jobs(settings, jobs, transport ? transport->get() : nullptr, deadlines.run);
    hold_unready_customers(settings, jobs, deadlines.run);
    for (auto& job : jobs) {
        if (job.result.outcome == Outcome::would_renew) {
            core::log::info("due", {{"certificate", job.config->id}, {"reason", job.result.reason}});
        }
    }
    if (settings.dry_run == DryRun::no) {
        if (deadlines.start_by.expired()) {
            fail_due(jobs, acme::k_not_started_deadline);
        } else if (transport) {
            issue_due(settings, jobs, **transport, spool, journal, deadlines.run, deadlines.start_by);
        } else {
            fail_due(jobs, "cannot reach the ACME server: " + ca_error);
        }
    }
    release_leases(jobs);

    RunReport report;
    replace_changed(settings, jobs, report);
    take_results(jobs, report);
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return report;
}

}  // namespace renewer
