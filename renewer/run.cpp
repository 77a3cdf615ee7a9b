#include "renewer/run.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "acme/account.hpp"
#include "acme/ari.hpp"
#include "acme/obtain.hpp"
#include "acme/transport.hpp"
#include "aws/client.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "dns/config.hpp"
#include "dns/journal.hpp"
#include "renewer/dns_bridge.hpp"
#include "secrets/spool.hpp"
#include "secrets/store.hpp"

namespace renewer {
namespace {

using Clock = std::chrono::steady_clock;

// The ACME account kept inside a certificate store (a second secret, or a
// file in the folder), so a container with no disk keeps its account.
class StoreAccountStore final : public acme::AccountStore {
public:
    explicit StoreAccountStore(secrets::Store& store) : store_(store) {}

    core::Result<std::optional<acme::StoredAccount>> load() override {
        auto text = store_.get_account();
        if (!text) {
            return text.error();
        }
        if (!*text) {
            return std::optional<acme::StoredAccount>{};
        }
        const auto json = nlohmann::json::parse(**text, nullptr, false);
        if (json.is_discarded() || !json.is_object() || !json.contains("key_pem") || !json["key_pem"].is_string()) {
            return core::make_error(
                core::ErrorKind::invalid_input,
                fmt::format("{}: the stored ACME account is not valid JSON with a key_pem", store_.describe()));
        }
        acme::StoredAccount account;
        account.key_pem = json["key_pem"].get<std::string>();
        // Not json.value(): GCC's -Wnull-dereference false positive at -O2.
        for (auto [key, field] : {std::pair{"url", &account.url}, std::pair{"server", &account.server}}) {
            if (const auto it = json.find(key); it != json.end()) {
                if (const auto* value = it->get_ptr<const std::string*>()) {
                    *field = *value;
                }
            }
        }
        return std::optional<acme::StoredAccount>(std::move(account));
    }

    core::Status save(const acme::StoredAccount& account) override {
        const nlohmann::json json = {{"server", account.server}, {"url", account.url}, {"key_pem", account.key_pem}};
        return store_.put_account(json.dump());
    }

private:
    secrets::Store& store_;
};

// One certificate's state through the run.
struct Job {
    const CertificateConfig* config = nullptr;
    std::unique_ptr<secrets::Store> store;
    std::optional<secrets::Lease> lease;
    std::optional<secrets::Bundle> current;
    std::string replaces;  // RFC 9773 id of the current certificate when the CA offers ARI
    CertificateResult result;
    bool due = false;
};

std::string strip_wildcard(const std::string& name) { return name.rfind("*.", 0) == 0 ? name.substr(2) : name; }

// TXT values a killed run left behind (issue 8): the journal beside the spool
// lists them; remove them through the provider of a certificate with the same
// DNS settings before anything is ordered.
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
        auto solver = dns::make_solver(owner->config->dns);
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

double random_fraction() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

void fill_current(CertificateResult& result, const secrets::Bundle& bundle) {
    result.serial = bundle.serial;
    result.not_after = bundle.not_after;
}

// Checks an issued certificate before it may replace anything (DESIGN.md:
// never a bad certificate over a good one): parses, key matches, every
// requested name is covered, valid now, chains to a trusted root if given.
core::Result<secrets::Bundle> verified_bundle(const acme::ObtainedCertificate& issued, const CertificateConfig& config,
                                              const RunSettings& settings) {
    auto bundle = secrets::build_bundle(issued.fullchain_pem, issued.key_pem, core::to_string(issued.key_type),
                                        std::chrono::system_clock::now());
    if (!bundle) {
        return bundle.error().wrap("issued certificate rejected");
    }
    secrets::VerifyOptions verify;
    for (const auto& root : settings.trust_roots) {
        auto copy = core::Certificate::from_der(root.to_der());
        if (copy) {
            verify.roots.push_back(std::move(*copy));
        }
    }
    if (auto ok = secrets::verify_bundle(*bundle, verify); !ok) {
        return ok.error().wrap("issued certificate rejected");
    }
    for (const auto& name : config.domains) {
        const bool covered = std::any_of(bundle->domains.begin(), bundle->domains.end(),
                                         [&](const std::string& have) { return secrets::name_matches(have, name); });
        if (!covered) {
            return core::make_error(core::ErrorKind::protocol,
                                    fmt::format("issued certificate rejected: it does not cover {}", name));
        }
    }
    return bundle;
}

// Opens the stores, takes the leases, reads the current bundles and stores
// spooled ones. Jobs that fail here are finished (result set).
// Reads the job's stored certificate; false (job failed) when the store cannot be read.
bool read_current(Job& job) {
    auto current = job.store->get(secrets::Stage::current);
    if (!current) {
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

// Takes the job's lease before anything is written for it, and reads the
// store again under it: another run may have stored a certificate since our
// first read. Only certificates with work to do are claimed, so a run where
// nothing is due reads each store once and writes nothing. False when the
// job is finished (held by another run, or failed).
bool claim(const RunSettings& settings, Job& job) {
    auto lease = job.store->try_acquire_lock(secrets::default_lock_owner(), settings.lease_ttl);
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

// Reads every certificate's store (no lease: reading changes nothing) and,
// with `with_spool`, claims and stores the ones an earlier run spooled.
void prepare_jobs(const RunSettings& settings, std::vector<Job>& jobs, secrets::Spool& spool, bool with_spool) {
    for (auto& job : jobs) {
        const auto started = Clock::now();
        // Every path out of this iteration records the time spent on the job.
        struct Took {
            CertificateResult& result;
            Clock::time_point started;
            ~Took() { result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started); }
        } took{job.result, started};
        const auto& config = *job.config;
        job.result.id = config.id;
        job.result.domains = config.domains;
        job.result.store = config.store.spec;
        auto store = secrets::make_store(config.store.spec);
        if (!store) {
            job.result.outcome = Outcome::failed;
            job.result.reason = store.error().message;
            continue;
        }
        job.store = std::move(*store);
        if (!read_current(job)) {
            continue;
        }
        // A certificate issued by an earlier run but never stored: store it
        // now instead of ordering again (CA rate limits are precious).
        std::error_code ec;
        if (!with_spool || !std::filesystem::exists(spool.path_for(config.id), ec) || !claim(settings, job)) {
            continue;
        }
        auto spooled = spool.take(config.id);
        if (!spooled || !*spooled) {
            continue;
        }
        const auto& bundle = **spooled;
        // Useful unless it is what the store already holds or older than it.
        // (Not just a later expiry: two certificates issued in the same second,
        // e.g. a --force run right after the last one, expire in the same second.)
        const bool newer = !job.current || job.current->not_after < bundle.not_after ||
                           (job.current->not_after == bundle.not_after && job.current->serial != bundle.serial &&
                            job.current->not_before <= bundle.not_before);
        if (!secrets::verify_bundle(bundle) || !newer) {
            core::log::warn("dropping a spooled certificate that is no longer useful", {{"certificate", config.id}});
            (void)spool.remove(config.id);
            continue;
        }
        if (settings.dry_run == DryRun::yes) {
            continue;
        }
        if (auto put = job.store->put(bundle); !put) {
            job.result.outcome = Outcome::failed;
            job.result.reason = put.error().wrap("storing the spooled certificate").message;
            continue;
        }
        (void)spool.remove(config.id);
        job.current = bundle;
        fill_current(job.result, bundle);
        job.result.outcome = Outcome::stored_from_spool;
        job.result.reason = "issued by an earlier run, stored now";
    }
}

bool finished(const Job& job) {
    return job.result.outcome == Outcome::failed || job.result.outcome == Outcome::locked ||
           job.result.outcome == Outcome::stored_from_spool;
}

std::unique_ptr<acme::AccountStore> account_store_for(const RunSettings& settings,
                                                      std::unique_ptr<secrets::Store>& holder,
                                                      secrets::Store* fallback) {
    if (!settings.account_file.empty()) {
        return acme::make_file_account_store(settings.account_file);
    }
    if (settings.config.account_store) {
        auto store = secrets::make_store(settings.config.account_store->spec);
        if (store) {
            holder = std::move(*store);
            return std::make_unique<StoreAccountStore>(*holder);
        }
        core::log::warn("account store unusable; using the first certificate's store",
                        {{"error", store.error().message}});
    }
    return std::make_unique<StoreAccountStore>(*fallback);
}

// Decides for every open job; connects to the CA when needed for ARI.
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
        std::optional<acme::RenewalInfo> ari;
        if (job.current && transport != nullptr && !transport->directory().renewal_info.empty()) {
            auto leaf = core::Certificate::from_pem(job.current->certificate);
            auto id = leaf ? acme::ari_certificate_id(*leaf) : core::Result<std::string>(leaf.error());
            if (id) {
                job.replaces = *id;
                auto info = acme::fetch_renewal_info(*transport, *id,
                                                     core::Deadline::after(std::chrono::seconds(30)).min(run_deadline));
                if (info) {
                    ari = *info;
                } else {
                    core::log::info("no renewal information from the CA; using the lifetime rule",
                                    {{"certificate", job.config->id}, {"error", info.error().message}});
                }
            }
        }
        const auto decision = decide(job.current, input, now, ari, random_fraction());
        job.due = decision.due;
        job.result.reason = decision.reason;
        job.result.outcome = decision.due ? Outcome::would_renew : Outcome::not_due;
    }
}

std::optional<std::unique_ptr<acme::Transport>> connect_ca(const RunSettings& settings, std::string& error,
                                                           const core::Deadline& run_deadline) {
    acme::TransportOptions options;
    options.directory_url = settings.config.server;
    options.http.ca_bundle = settings.config.ca_bundle;
    auto transport =
        acme::Transport::connect(options, core::Deadline::after(std::chrono::seconds(60)).min(run_deadline));
    if (!transport) {
        error = transport.error().message;
        return std::nullopt;
    }
    return std::move(*transport);
}

// Orders every due job, verifies and stores what was issued.
void issue_due(const RunSettings& settings, std::vector<Job>& jobs, acme::Transport& transport, secrets::Spool& spool,
               const std::shared_ptr<dns::Journal>& journal, const core::Deadline& run_deadline,
               const core::Deadline& start_by) {
    std::vector<Job*> due;
    for (auto& job : jobs) {
        if (!finished(job) && job.due) {
            due.push_back(&job);
        }
    }
    if (due.empty()) {
        return;
    }
    auto fail_all = [&](const std::string& reason) {
        for (auto* job : due) {
            job->result.outcome = Outcome::failed;
            job->result.reason = reason;
        }
    };

    std::unique_ptr<secrets::Store> account_holder;
    auto account_store = account_store_for(settings, account_holder, due.front()->store.get());
    acme::AccountOptions account_options;
    account_options.email = settings.config.email;
    account_options.terms = settings.config.agree_tos ? acme::TermsOfService::agreed : acme::TermsOfService::not_agreed;
    if (!settings.config.eab.kid.empty()) {
        account_options.eab = acme::ExternalAccountBinding{settings.config.eab.kid, settings.config.eab.hmac_key};
    }
    auto account = acme::load_or_register(transport, *account_store, account_options, settings.account_key_type,
                                          core::Deadline::after(std::chrono::seconds(120)).min(run_deadline));
    if (!account) {
        fail_all(account.error().wrap("ACME account").message);
        return;
    }
    if (start_by.expired()) {
        fail_all(acme::k_not_started_deadline);
        return;
    }

    DnsBridge bridge;
    std::map<std::string, std::shared_ptr<dns::Solver>> solvers;  // one per distinct DNS setting
    std::vector<acme::ObtainRequest> requests;
    std::vector<Job*> ordered;
    for (auto* job : due) {
        const auto& config = *job->config;
        const dns::DnsConfig& dns = config.dns;
        // Certificates with equal DNS settings share one solver; the journal
        // names the settings a value was presented with by this key.
        const std::string key = dns.identity();
        auto& solver = solvers[key];
        if (!solver) {
            // No DNS wait (INSYNC, propagation) may outlast the run's deadline.
            dns::DnsConfig bounded = dns;
            if (settings.deadline) {
                const auto left = std::chrono::duration_cast<std::chrono::seconds>(run_deadline.remaining());
                bounded.set_wait(std::max(std::chrono::seconds(1), std::min(bounded.propagation_timeout, left)));
            }
            auto made = dns::make_solver(bounded);
            if (!made) {
                job->result.outcome = Outcome::failed;
                job->result.reason = made.error().wrap("DNS provider " + dns.provider_name()).message;
                solvers.erase(key);
                continue;
            }
            solver = *made;
            solver->set_journal(journal, key);
        }
        for (const auto& name : config.domains) {
            bridge.route(strip_wildcard(name), solver);
        }
        acme::ObtainRequest request;
        request.names = config.domains;
        request.key_type = config.key_type;
        if (settings.reuse_key && job->current) {
            request.key_pem = job->current->private_key;
        }
        request.profile = config.profile;
        request.replaces = job->replaces;
        request.preferred_chain = settings.preferred_chain;
        request.timeout = settings.order_timeout;
        request.start_by = start_by;
        requests.push_back(std::move(request));
        ordered.push_back(job);
    }

    std::vector<std::chrono::milliseconds> durations;
    auto results =
        acme::obtain_many(transport, *account, bridge, requests, settings.config.concurrency, run_deadline, &durations);
    // A CA that no longer knows the cached account URL (a CA reset, an
    // account it deactivated) refuses newOrder with accountDoesNotExist, and
    // would refuse every later run the same way: forget the URL, look the key
    // up again or register it anew, and retry those orders once (nothing was
    // presented for them).
    const auto account_gone = [](const core::Result<acme::ObtainedCertificate>& r) {
        return !r && r.error().code == "accountDoesNotExist";
    };
    if (std::any_of(results.begin(), results.end(), account_gone)) {
        core::log::warn("the CA does not know the stored ACME account; registering it again",
                        {{"account", account->url()}});
        (void)account_store->save(acme::StoredAccount{account->key().to_pem(), "", transport.directory().url});
        auto again = acme::load_or_register(transport, *account_store, account_options, settings.account_key_type,
                                            core::Deadline::after(std::chrono::seconds(120)).min(run_deadline));
        if (again) {
            std::vector<std::size_t> redo;
            std::vector<acme::ObtainRequest> retry;
            for (std::size_t i = 0; i < results.size(); ++i) {
                if (account_gone(results[i])) {
                    redo.push_back(i);
                    retry.push_back(requests[i]);
                }
            }
            auto second =
                acme::obtain_many(transport, *again, bridge, retry, settings.config.concurrency, run_deadline);
            for (std::size_t k = 0; k < redo.size() && k < second.size(); ++k) {
                results[redo[k]] = std::move(second[k]);
            }
        }
    }
    for (std::size_t i = 0; i < results.size(); ++i) {
        Job& job = *ordered[i];
        auto& issued = results[i];
        if (i < durations.size()) {
            job.result.duration += durations[i];
        }
        if (!issued) {
            job.result.outcome = Outcome::failed;
            job.result.reason = issued.error().message;
            continue;
        }
        auto bundle = verified_bundle(*issued, *job.config, settings);
        if (!bundle) {
            job.result.outcome = Outcome::failed;
            job.result.reason = fmt::format("{}: {}", job.config->id, bundle.error().message);
            continue;
        }
        // Spool before storing: a run that fails or is killed while storing
        // leaves the certificate to the next run instead of a second order.
        auto spooled = spool.put(job.config->id, *bundle);
        if (!spooled) {
            core::log::warn("cannot spool the issued certificate",
                            {{"certificate", job.config->id}, {"error", spooled.error().message}});
        }
        core::log::debug(
            "storing", {{"certificate", job.config->id}, {"store", job.store->describe()}, {"serial", bundle->serial}});
        if (auto put = job.store->put(*bundle); !put) {
            job.result.outcome = Outcome::failed;
            job.result.reason = fmt::format("{}: issued (serial {}) but not stored: {}; {}", job.config->id,
                                            bundle->serial, put.error().message,
                                            spooled ? "kept in the spool for the next run"
                                                    : "could not spool it either: " + spooled.error().message);
            continue;
        }
        (void)spool.remove(job.config->id);
        job.result.outcome = Outcome::renewed;
        fill_current(job.result, *bundle);
    }
}

void replace_changed(const RunSettings& settings, const std::vector<Job>& jobs, RunReport& report) {
    std::vector<ChangedCertificate> changed;
    for (const auto& job : jobs) {
        if (job.result.outcome == Outcome::renewed || job.result.outcome == Outcome::stored_from_spool) {
            changed.push_back({job.config->id, job.config->domains, job.result.serial, job.config->store.spec,
                               std::chrono::system_clock::now()});
        }
    }
    if (changed.empty()) {
        return;
    }
    std::optional<aws::Client> client;
    for (const auto& batch : group_replacements(settings.config, changed)) {
        const bool needs_aws = batch.target.type == ReplaceType::autoscaling ||
                               batch.target.type == ReplaceType::ec2_tag || batch.target.type == ReplaceType::ecs;
        if (needs_aws && !client) {
            client.emplace(aws::ClientSettings{});
        }
        auto outcome =
            replace::run_replacement(batch.target, batch.changed, settings.dry_run, client ? &*client : nullptr);
        if (outcome) {
            report.replacements.push_back(std::move(*outcome));
        } else {
            report.replacement_errors.push_back(outcome.error().message);
        }
    }
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

void release_leases(std::vector<Job>& jobs) {
    // Also after SIGTERM: a released lease lets the next run start at once.
    const core::CancelShield shield(std::chrono::seconds(10));
    for (auto& job : jobs) {
        if (job.store && job.lease) {
            (void)job.store->release_lock(*job.lease);
            job.lease.reset();
        }
    }
}

}  // namespace

const char* to_string(Outcome outcome) {
    switch (outcome) {
        case Outcome::renewed: return "renewed";
        case Outcome::stored_from_spool: return "stored";
        case Outcome::not_due: return "not due";
        case Outcome::would_renew: return "due";
        case Outcome::locked: return "skipped";
        case Outcome::failed: return "failed";
    }
    return "unknown";
}

core::Deadline deadline_before(core::Clock::time_point hard_end) {
    return core::Deadline(hard_end - k_deadline_margin);
}

bool RunReport::any_changed() const {
    return std::any_of(certificates.begin(), certificates.end(), [](const CertificateResult& r) {
        return r.outcome == Outcome::renewed || r.outcome == Outcome::stored_from_spool;
    });
}

int RunReport::exit_code() const {
    const bool failed = std::any_of(certificates.begin(), certificates.end(),
                                    [](const CertificateResult& r) { return r.outcome == Outcome::failed; });
    return failed || !replacement_errors.empty() ? 1 : 0;
}

RunReport plan_run(const RunSettings& settings) {
    const auto start = Clock::now();
    auto jobs = make_jobs(settings);
    secrets::Spool spool(settings.config.spool_dir.empty() ? secrets::Spool::default_dir() : settings.config.spool_dir);
    prepare_jobs(settings, jobs, spool, false);
    std::string ca_error;
    const auto deadline = settings.deadline.value_or(core::Deadline::never());
    auto transport = connect_ca(settings, ca_error, deadline);
    if (!transport) {
        core::log::warn("cannot reach the CA; planning with the lifetime rule only", {{"error", ca_error}});
    }
    plan_jobs(settings, jobs, transport ? transport->get() : nullptr, deadline);
    RunReport report;
    take_results(jobs, report);
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return report;
}

RunReport execute_run(const RunSettings& settings) {
    const auto start = Clock::now();
    auto run_deadline = core::Deadline::after(settings.order_timeout + std::chrono::seconds(120));
    // With a deadline, orders start only while k_order_start_budget (or the
    // order timeout, when shorter) is left; see RunSettings::deadline.
    auto start_by = core::Deadline::never();
    if (settings.deadline) {
        run_deadline = run_deadline.min(*settings.deadline);
        const auto budget = std::min<std::chrono::milliseconds>(k_order_start_budget, settings.order_timeout);
        start_by = core::Deadline(settings.deadline->at() - budget);
    }
    auto jobs = make_jobs(settings);
    secrets::Spool spool(settings.config.spool_dir.empty() ? secrets::Spool::default_dir() : settings.config.spool_dir);
    prepare_jobs(settings, jobs, spool, true);
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
    if (need_ca && !start_by.expired()) {
        transport = connect_ca(settings, ca_error, run_deadline);
    }
    plan_jobs(settings, jobs, transport ? transport->get() : nullptr, run_deadline);
    for (auto& job : jobs) {
        if (job.result.outcome == Outcome::would_renew) {
            core::log::info("due", {{"certificate", job.config->id}, {"reason", job.result.reason}});
        }
    }
    if (settings.dry_run == DryRun::no) {
        if (start_by.expired()) {
            for (auto& job : jobs) {
                if (job.result.outcome == Outcome::would_renew) {
                    job.result.outcome = Outcome::failed;
                    job.result.reason = acme::k_not_started_deadline;
                }
            }
        } else if (transport) {
            for (auto& job : jobs) {
                if (!finished(job) && job.due && !job.lease) {
                    (void)claim(settings, job);
                }
            }
            issue_due(settings, jobs, **transport, spool, journal, run_deadline, start_by);
        } else {
            for (auto& job : jobs) {
                if (job.result.outcome == Outcome::would_renew) {
                    job.result.outcome = Outcome::failed;
                    job.result.reason = "cannot reach the ACME server: " + ca_error;
                }
            }
        }
    }
    release_leases(jobs);

    RunReport report;
    replace_changed(settings, jobs, report);
    take_results(jobs, report);
    report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return report;
}

void print_report(const RunReport& report) {
    if (core::log::is_terminal()) {
        std::cout << "\n";
        for (const auto& r : report.certificates) {
            std::cout << fmt::format("  {:<10} {:<32} {}", to_string(r.outcome), r.id, r.reason);
            if (!r.serial.empty() && r.outcome != Outcome::failed) {
                std::cout << fmt::format(" (serial {}, until {})", r.serial, r.not_after);
            }
            std::cout << "\n";
        }
        for (const auto& r : report.replacements) {
            std::cout << "  replace    " << r.summary << "\n";
        }
        for (const auto& e : report.replacement_errors) {
            std::cout << "  replace    failed: " << e << "\n";
        }
        std::cout << fmt::format("\n{} certificate(s) in {:.1f} s\n", report.certificates.size(),
                                 static_cast<double>(report.duration.count()) / 1000.0);
        return;
    }
    print_report_json(report);
}

nlohmann::json report_to_json(const RunReport& report) {
    nlohmann::json certificates = nlohmann::json::array();
    for (const auto& r : report.certificates) {
        certificates.push_back({{"id", r.id},
                                {"domains", r.domains},
                                {"store", r.store},
                                {"outcome", to_string(r.outcome)},
                                {"reason", r.reason},
                                {"serial", r.serial},
                                {"not_after", r.not_after},
                                {"duration_ms", r.duration.count()}});
    }
    nlohmann::json replacements = nlohmann::json::array();
    for (const auto& r : report.replacements) {
        replacements.push_back({{"replace", to_string(r.type)}, {"summary", r.summary}});
    }
    for (const auto& e : report.replacement_errors) {
        replacements.push_back({{"replace", "failed"}, {"error", e}});
    }
    return {{"exit_code", report.exit_code()},
            {"changed", report.any_changed()},
            {"duration_ms", report.duration.count()},
            {"certificates", std::move(certificates)},
            {"replacements", std::move(replacements)}};
}

void print_report_json(const RunReport& report) {
    const auto dump = [](const nlohmann::json& line) {
        std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    };
    const nlohmann::json json = report_to_json(report);
    // One line per certificate ("certificate" names it, as log lines do),
    // one per replacement, then the summary.
    for (const auto& certificate : json["certificates"]) {
        nlohmann::json line = certificate;
        line["certificate"] = certificate["id"];
        dump(line);
    }
    for (const auto& replacement : json["replacements"]) {
        dump(replacement);
    }
    dump({{"summary", true},
          {"certificates", json["certificates"].size()},
          {"changed", json["changed"]},
          {"exit_code", json["exit_code"]},
          {"duration_ms", json["duration_ms"]}});
    std::cout.flush();
}

}  // namespace renewer
