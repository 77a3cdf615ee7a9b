#include "renewer/replacement.hpp"

#include <algorithm>
#include <optional>

#include "aws/client.hpp"
#include "core/log.hpp"
#include "renewer/run.hpp"

namespace renewer {
namespace {

bool stored_now(const Job& job) {
    return job.result.outcome == Outcome::renewed || job.result.outcome == Outcome::stored_from_spool;
}

// A replacement an earlier run owes for the certificate now current. A held
// lease means another run works on it and replaces what it stores.
bool owes(const Job& job) {
    return job.result.replacement_owed && job.result.outcome != Outcome::locked && !stored_now(job) &&
           job.config->replace.type != ReplaceType::none;
}

ChangedCertificate change_of(const Job& job) {
    ChangedCertificate change{job.config->id, job.config->domains, job.result.serial, job.config->store.spec,
                              std::nullopt};
    if (stored_now(job)) {
        change.stored_at = std::chrono::system_clock::now();
    } else if (job.current) {
        change.serial = job.current->serial;
        // ec2-tag: instances launched after the certificate was stored have it already.
        if (auto at = core::parse_time(job.current->renewed_at)) {
            change.stored_at = *at;
        }
    }
    return change;
}

Job& job_named(std::vector<Job>& jobs, const std::string& id) {
    return *std::find_if(jobs.begin(), jobs.end(), [&](const Job& job) { return job.config->id == id; });
}

// Before the call: the note names the serial, so a run killed during the
// call leaves it for the next run. An unchanged note is not written again.
void mark_owed(std::vector<Job>& jobs, const ReplacementBatch& batch) {
    for (const auto& change : batch.changed) {
        Job& job = job_named(jobs, change.name);
        OwedReplacement owed{change.serial, to_string(batch.target.type),
                             core::format_time(std::chrono::system_clock::now()), ""};
        if (job.result.replacement_owed && job.result.replacement_owed->serial == change.serial) {
            owed = *job.result.replacement_owed;
            core::log::info("retrying a replacement owed",
                            {{"certificate", change.name}, {"serial", owed.serial}, {"since", owed.since}});
        }
        if ((!job.owed || *job.owed != owed) && write_owed(*job.store, change.name, owed)) {
            job.owed = owed;
        }
        job.result.replacement_owed = owed;
    }
}

// After the call: cleared when it succeeded (unless another run has since
// recorded a newer serial), else kept with the error.
void settle_owed(std::vector<Job>& jobs, const ReplacementBatch& batch, const std::string& error) {
    for (const auto& change : batch.changed) {
        Job& job = job_named(jobs, change.name);
        auto& owed = job.result.replacement_owed;
        if (!error.empty()) {
            owed->error = error;
            (void)write_owed(*job.store, change.name, *owed);
            continue;
        }
        owed.reset();
        const auto note = read_owed(*job.store, change.name);
        if (note && (note->serial == change.serial || (job.owed && note->serial == job.owed->serial))) {
            (void)write_owed(*job.store, change.name, OwedReplacement{});
        }
    }
}

}  // namespace

void read_owed_notes(std::vector<Job>& jobs) {
    for (auto& job : jobs) {
        // Without a replacement target nothing is owed (owes()): no read,
        // one request per certificate and run saved (docs/stores.md).
        if (!job.store || job.result.outcome == Outcome::failed || job.config->replace.type == ReplaceType::none) {
            continue;
        }
        job.owed = read_owed(*job.store, job.config->id);
        if (job.owed && job.current && job.owed->serial == job.current->serial &&
            job.config->replace.type != ReplaceType::none) {
            job.result.replacement_owed = job.owed;
        }
    }
}

void replace_changed(const RunSettings& settings, std::vector<Job>& jobs, RunReport& report) {
    std::vector<ChangedCertificate> changed;
    for (auto& job : jobs) {
        if (stored_now(job)) {
            job.result.replacement_owed.reset();  // it named the certificate this run replaced in the store
        }
        if (stored_now(job) || owes(job)) {
            changed.push_back(change_of(job));
        }
    }
    std::optional<aws::Client> client;
    for (const auto& batch : group_replacements(settings.config, changed)) {
        const bool needs_aws = batch.target.type == ReplaceType::autoscaling ||
                               batch.target.type == ReplaceType::ec2_tag || batch.target.type == ReplaceType::ecs;
        if (needs_aws && !client) {
            client.emplace(aws::ClientSettings{});
        }
        const bool record = settings.dry_run == DryRun::no;
        if (record) {
            mark_owed(jobs, batch);
        }
        auto outcome =
            replace::run_replacement(batch.target, batch.changed, settings.dry_run, client ? &*client : nullptr);
        if (record) {
            settle_owed(jobs, batch, outcome ? std::string() : outcome.error().message);
        }
        if (outcome) {
            report.replacements.push_back(std::move(*outcome));
        } else {
            report.replacement_errors.push_back(outcome.error().message);
        }
    }
}

}  // namespace renewer
