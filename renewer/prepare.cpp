#include "renewer/prepare.hpp"

#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "acme/ari.hpp"
#include "aws/client.hpp"
#include "core/log.hpp"
#include "renewer/issue.hpp"
#include "renewer/owed.hpp"
#include "renewer/plan.hpp"
#include "renewer/run.hpp"
#include "secrets/store.hpp"

namespace renewer {
namespace {

using Clock = std::chrono::steady_clock;

double random_fraction() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Reads the job's stored certificate; false (job failed) when the store
// cannot be read. A value that is there but does not parse (a corrupted
// version) is not a reason to stop this certificate for good: it is
// "unreadable", due, and replaced by a good version (docs/stores.md).
bool read_current(Job& job) {
    auto current = job.store->get(secrets::Stage::current);
    job.unreadable.clear();
    if (!current) {
        if (current.error().code == secrets::k_unreadable_bundle) {
            job.unreadable = current.error().message;
            job.current.reset();
            core::log::error("the stored certificate is unreadable; a new one will replace it",
                             {{"certificate", job.config->id}, {"error", job.unreadable}});
            return true;
        }
        job.result.outcome = Outcome::failed;
        job.result.reason = current.error().wrap("reading the stored certificate").message;
        return false;
    }
    job.current = std::move(*current);
    if (job.current) {
        fill_current(job.result, *job.current);
    }
    return true;
}

}  // namespace

secrets::StoreConfig store_config_for(const StoreSpec& store) {
    secrets::StoreConfig config;
    config.lease_table = store.lease_table;
    config.kms_key_id = store.kms_key_id;
    return config;
}

namespace {

// Opens the job's store and its locker; false (job failed) when it cannot.
bool open_store(const RunSettings& settings, Job& job) {
    const auto& config = *job.config;
    job.result.id = config.id;
    job.result.domains = config.domains;
    job.result.store = config.store.spec;
    secrets::StoreConfig store_config = store_config_for(config.store);
    if (settings.deadline) {
        auto aws = std::make_shared<aws::ClientSettings>();
        aws->deadline = store_end_of(settings);
        aws->deadline_name = settings.deadline_name;
        store_config.aws = std::move(aws);
    }
    auto opened = secrets::make_store_with_locker(config.store.spec, store_config);
    if (!opened) {
        job.result.outcome = Outcome::failed;
        job.result.reason = opened.error().message;
        return false;
    }
    job.store = std::move(opened->store);
    job.locker = std::move(opened->locker);
    return true;
}

// Reads every open store's bundle, and the replacement-owed note of those
// with a replacement target (read next, by read_owed_notes), in as few calls
// as the stores allow: a DynamoDB table answers a thousand certificates in
// ten BatchGetItem calls instead of a thousand GetItem round trips one after
// the other (docs/stores.md#reading-many-certificates).
void read_stores_ahead(const RunSettings& settings, const std::vector<Job>& jobs) {
    std::vector<secrets::ReadAhead> requests;
    for (const auto& job : jobs) {
        if (job.store && !finished(job)) {
            secrets::ReadAhead request{job.store.get(), {}};
            if (job.config->replace.type != ReplaceType::none) {
                request.note_kinds.emplace_back(k_owed_note);
            }
            requests.push_back(std::move(request));
        }
    }
    secrets::read_ahead(requests, store_end_of(settings));
}

// A spooled certificate that failed verification after issuance: stored now
// if it passes today (the cause was fixed: false), else held, the job
// finished without an order, while the configuration is the one it was
// ordered for and there is no --force (true), else left to a new order (true).
bool held_back(const RunSettings& settings, Job& job, const secrets::SpoolEntry& entry, secrets::Spool& spool) {
    const auto& id = job.config->id;
    if (verify_issued(entry.bundle, *job.config, settings)) {
        core::log::info("a spooled certificate that failed verification passes now", {{"certificate", id}});
        return false;
    }
    if (settings.force == Force::no && entry.failure->config == config_fingerprint(*job.config)) {
        job.result.outcome = Outcome::failed;
        job.result.reason = fmt::format("issued (serial {}) but rejected: {}; held in the spool ({}); {}",
                                        entry.bundle.serial, entry.failure->reason, spool.path_for(id), k_held_hint);
        return true;
    }
    core::log::warn("ordering again: the configuration changed or --force since a certificate failed verification",
                    {{"certificate", id}});
    return true;
}

// Whether a spooled bundle is worth storing over the current one: unless it is
// what the store already holds or older than it. (Not just a later expiry:
// two certificates issued in the same second, e.g. a --force run right after
// the last one, expire in the same second.)
bool newer_than_current(const Job& job, const secrets::Bundle& bundle) {
    return !job.current || job.current->not_after < bundle.not_after ||
           (job.current->not_after == bundle.not_after && job.current->serial != bundle.serial &&
            job.current->not_before <= bundle.not_before);
}

// A certificate issued by an earlier run but never stored: store it now
// instead of ordering again (CA rate limits are precious).
void store_spooled(const RunSettings& settings, Job& job, secrets::Spool& spool, SpooledCertificates mode) {
    const auto& id = job.config->id;
    std::error_code ec;
    if (!std::filesystem::exists(spool.path_for(id), ec)) {
        return;
    }
    auto spooled = spool.take_entry(id);
    if (!spooled || !*spooled) {
        return;
    }
    if ((*spooled)->failure && held_back(settings, job, **spooled, spool)) {
        return;
    }
    if (mode == SpooledCertificates::leave || !claim(settings, job)) {
        return;
    }
    const auto& bundle = (*spooled)->bundle;
    if (!verify_issued(bundle, *job.config, settings) || !newer_than_current(job, bundle)) {
        core::log::warn("dropping a spooled certificate that is no longer useful", {{"certificate", id}});
        (void)spool.remove(id);
        return;
    }
    if (settings.dry_run == DryRun::yes) {
        return;
    }
    if (auto put = job.store->put(bundle); !put) {
        job.result.outcome = Outcome::failed;
        job.result.reason = put.error().wrap("storing the spooled certificate").message;
        return;
    }
    (void)spool.remove(id);
    job.current = bundle;
    job.unreadable.clear();
    fill_current(job.result, bundle);
    job.result.outcome = Outcome::stored_from_spool;
    job.result.reason = "issued by an earlier run, stored now";
}

}  // namespace

// The CA's renewal window for the job's current certificate (RFC 9773 §4.2),
// when the CA offers ARI; also sets job.replaces for the order.
std::optional<acme::RenewalInfo> renewal_info(Job& job, acme::Transport* transport,
                                              const core::Deadline& run_deadline) {
    if (!job.current || transport == nullptr || transport->directory().renewal_info.empty()) {
        return std::nullopt;
    }
    auto leaf = core::Certificate::from_pem(job.current->certificate);
    auto id = leaf ? acme::ari_certificate_id(*leaf) : core::Result<std::string>(leaf.error());
    if (!id) {
        return std::nullopt;
    }
    auto info =
        acme::fetch_renewal_info(*transport, *id, core::Deadline::after(std::chrono::seconds(30)).min(run_deadline));
    if (!info) {
        core::log::info("no renewal information from the CA; using the lifetime rule",
                        {{"certificate", job.config->id}, {"error", info.error().message}});
        return std::nullopt;
    }
    // RFC 9773 §5: `replaces` only for a certificate the CA answered about.
    job.replaces = *id;
    if (!info->explanation_url.empty()) {
        // RFC 9773 §4.2: the CA moved the window for a reason (a revocation
        // event) and the client SHOULD show the operator its explanation.
        core::log::warn("the CA explains this certificate's renewal window",
                        {{"certificate", job.config->id},
                         {"window_start", core::format_time(info->window_start)},
                         {"window_end", core::format_time(info->window_end)},
                         {"explanation", info->explanation_url}});
    }
    return *info;
}

std::vector<Job> make_jobs(const RunSettings& settings) {
    std::vector<Job> jobs;
    jobs.reserve(settings.config.certificates.size());
    for (const auto& certificate : settings.config.certificates) {
        Job job;
        job.config = &certificate;
        job.result.outcome = Outcome::not_due;  // until prepare/plan say otherwise
        jobs.push_back(std::move(job));
    }
    return jobs;
}

void prepare_jobs(const RunSettings& settings, std::vector<Job>& jobs, secrets::Spool& spool,
                  SpooledCertificates spooled) {
    const auto took = [](Clock::time_point started) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    };
    for (auto& job : jobs) {
        const auto started = Clock::now();
        (void)open_store(settings, job);
        job.result.duration = took(started);
    }
    read_stores_ahead(settings, jobs);
    for (auto& job : jobs) {
        const auto started = Clock::now();
        if (job.store && !finished(job) && read_current(job)) {
            store_spooled(settings, job, spool, spooled);
        }
        job.result.duration += took(started);
    }
}

bool claim(const RunSettings& settings, Job& job) {
    auto lease = job.locker->try_acquire(secrets::default_lock_owner(), settings.lease_ttl);
    if (!lease) {
        job.result.outcome = lease.error().kind == core::ErrorKind::conflict ? Outcome::locked : Outcome::failed;
        job.result.reason = lease.error().message;
        return false;
    }
    job.lease = std::move(*lease);
    const std::string planned_serial = job.current ? job.current->serial : "";
    if (!read_current(job)) {
        return false;
    }
    if ((job.current ? job.current->serial : "") != planned_serial) {
        job.due = false;
        job.result.outcome = Outcome::not_due;
        job.result.reason = "stored by another run meanwhile";
    }
    return true;
}

void plan_jobs(const RunSettings& settings, std::vector<Job>& jobs, acme::Transport* transport,
               const core::Deadline& run_deadline) {
    const auto now = std::chrono::system_clock::now();
    for (auto& job : jobs) {
        if (finished(job)) {
            continue;
        }
        PlanInput input;
        input.names = job.config->domains;
        input.key_type = core::to_string(job.config->key_type);
        input.force = settings.force;
        input.policy = settings.config.renew;
        input.unreadable = job.unreadable;
        const auto ari = renewal_info(job, transport, run_deadline);
        const auto decision = decide(job.current, input, now, ari, random_fraction());
        job.due = decision.due;
        job.ari_window = decision.ari_window;
        job.result.reason = decision.reason;
        job.result.outcome = decision.due ? Outcome::would_renew : Outcome::not_due;
    }
}

void release_leases(std::vector<Job>& jobs) {
    const core::CancelShield shield(std::chrono::seconds(10));
    for (auto& job : jobs) {
        if (job.locker && job.lease) {
            (void)job.locker->release(*job.lease);
            job.lease.reset();
        }
    }
}

}  // namespace renewer
