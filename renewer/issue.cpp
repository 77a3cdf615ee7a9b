#include "renewer/issue.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "acme/account.hpp"
#include "acme/obtain.hpp"
#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/log.hpp"
#include "renewer/account_store.hpp"
#include "renewer/dns_bridge.hpp"
#include "renewer/dns_solvers.hpp"
#include "renewer/plan_budget.hpp"
#include "renewer/prepare.hpp"
#include "renewer/run.hpp"

namespace renewer {
namespace {

using ObtainResults = std::vector<core::Result<acme::ObtainedCertificate>>;

// The orders of one run: a request per certificate whose DNS solver could be
// made, and the bridge that routes each name's records to its solver.
struct Orders {
    DnsBridge bridge;
    std::map<std::string, std::shared_ptr<dns::Solver>> solvers;  // one per distinct DNS setting
    std::vector<acme::ObtainRequest> requests;
    std::vector<Job*> jobs;  // requests[i] orders for jobs[i]
    std::vector<std::chrono::milliseconds> durations;
    // Set once the CA answers rateLimited: no more orders in this run.
    std::shared_ptr<std::atomic<bool>> hold_new_orders = std::make_shared<std::atomic<bool>>(false);
};

std::string strip_wildcard(const std::string& name) { return name.rfind("*.", 0) == 0 ? name.substr(2) : name; }

void fail(Job& job, std::string reason) {
    job.result.outcome = Outcome::failed;
    job.result.reason = std::move(reason);
}

// Left to a later run by the CA's budget (renewer/plan_budget.hpp).
void defer(Job& job, std::string reason, bool rate_limited) {
    core::log::warn("deferred", {{"certificate", job.config->id}, {"reason", reason}});
    job.result.outcome = Outcome::deferred;
    job.result.reason = std::move(reason);
    job.result.rate_limited = rate_limited;
}

// What the budget looks at: the stored certificate's notAfter (read from the
// leaf when the bundle lacks it), and whether the order is an ARI renewal
// the CA exempts from its limits (RFC 9773 §5: it carries `replaces`, which
// is sent only for a certificate this account ordered; the account is
// loaded later, so "an account is recorded" stands in for it here).
Candidate candidate_of(const Job& job) {
    Candidate candidate;
    if (job.current) {
        auto not_after = core::parse_time(job.current->not_after);
        if (!not_after) {
            auto leaf = core::Certificate::from_pem(job.current->certificate);
            not_after = leaf ? core::Result<core::SystemTime>(leaf->info().not_after) : not_after;
        }
        if (not_after) {
            candidate.not_after = *not_after;
        }
        candidate.ari_renewal = job.ari_window && !job.replaces.empty() && !job.current->account.empty();
    }
    return candidate;
}

// Lease, most urgent first (renewer/plan_budget.hpp): each due job is claimed
// while the run's --max-new-orders lasts; one leased by another run is
// skipped at once (try_acquire never waits) and the next taken; the rest are
// deferred without taking their lease, so a run beside this one may order
// them. Returns the jobs to order, most urgent first.
std::vector<Job*> lease_due(const RunSettings& settings, std::vector<Job>& jobs) {
    std::vector<Job*> wanted;
    std::vector<Candidate> candidates;
    for (auto& job : jobs) {
        if (!finished(job) && job.due) {
            wanted.push_back(&job);
            candidates.push_back(candidate_of(job));
        }
    }
    OrderBudget budget(settings.config.max_new_orders);
    std::vector<Job*> due;
    for (const auto i : most_urgent_first(candidates)) {
        Job& job = *wanted[i];
        const bool ari = candidates[i].ari_renewal;
        if (!budget.allows(ari)) {
            defer(job, budget_deferred_reason(budget.max()), false);
            continue;
        }
        if ((!job.lease && !claim(settings, job)) || !job.due) {
            continue;  // leased by another run, or stored by one meanwhile
        }
        budget.spend(ari);
        due.push_back(&job);
    }
    return due;
}

// --reuse-key: the current key, only when it is of the configured type (a
// changed key type wants a new key, or every run would order again).
std::string reusable_key(const RunSettings& settings, const Job& job) {
    if (settings.reuse_key == KeyReuse::no || !job.current) {
        return {};
    }
    auto key = core::PrivateKey::from_pem(job.current->private_key);
    if (!key || key->type() != job.config->key_type) {
        core::log::info("not reusing the current key: it is not of the configured key type",
                        {{"certificate", job.config->id}, {"key_type", core::to_string(job.config->key_type)}});
        return {};
    }
    return job.current->private_key;
}

acme::ObtainRequest order_request(const RunSettings& settings, const Job& job, const std::string& account_url,
                                  const core::Deadline& start_by) {
    const auto& config = *job.config;
    acme::ObtainRequest request;
    request.names = config.domains;
    request.key_type = config.key_type;
    request.key_pem = reusable_key(settings, job);
    request.profile = config.profile;
    // RFC 9773 §5: a CA refuses `replaces` naming another account's
    // certificate (Boulder: 403 unauthorized), so it is sent only for a
    // certificate this account ordered, and only when renewalInfo answered.
    if (job.current && !job.current->account.empty() && job.current->account == account_url) {
        request.replaces = job.replaces;
    }
    request.preferred_chain = settings.preferred_chain;
    request.timeout = settings.order_timeout;
    request.start_by = start_by;
    return request;
}

// The solver for the job's DNS settings, shared with every job with equal
// ones; null (job failed) when it cannot be made.
std::shared_ptr<dns::Solver> shared_solver(const RunSettings& settings, Job& job, Orders& orders,
                                           const std::shared_ptr<dns::Journal>& journal,
                                           const core::Deadline& run_deadline) {
    const std::string key = job.config->dns.identity();
    if (const auto it = orders.solvers.find(key); it != orders.solvers.end()) {
        return it->second;
    }
    // No DNS wait (INSYNC, propagation) may outlast the run's deadline.
    std::optional<std::chrono::seconds> max_wait;
    if (settings.deadline) {
        max_wait = std::chrono::duration_cast<std::chrono::seconds>(run_deadline.remaining());
    }
    auto made = solver_for(settings, *job.config, max_wait);
    if (!made) {
        fail(job, made.error().wrap("DNS provider " + job.config->dns.provider_name()).message);
        return nullptr;
    }
    (*made)->set_journal(journal, key);
    orders.solvers[key] = *made;
    return *made;
}

// One request per due job, each name routed to its certificate's solver.
void prepare_orders(const RunSettings& settings, const std::vector<Job*>& due, Orders& orders,
                    const std::string& account_url, const std::shared_ptr<dns::Journal>& journal,
                    const core::Deadline& run_deadline, const core::Deadline& start_by) {
    for (auto* job : due) {
        auto solver = shared_solver(settings, *job, orders, journal, run_deadline);
        if (!solver) {
            continue;
        }
        for (const auto& name : job->config->domains) {
            orders.bridge.route(strip_wildcard(name), solver);
        }
        orders.requests.push_back(order_request(settings, *job, account_url, start_by));
        orders.requests.back().hold_new_orders = orders.hold_new_orders;
        orders.jobs.push_back(job);
    }
}

bool account_gone(const core::Result<acme::ObtainedCertificate>& result) {
    return !result && result.error().code == "accountDoesNotExist";
}

// Forgets the cached URL of `account` in `home`, so the next lookup asks the CA.
void forget_account_url(acme::AccountStore& home, const acme::Account& account) {
    auto records = home.load();
    if (!records) {
        return;
    }
    for (auto& record : *records) {
        if (record.url == account.url()) {
            record.url.clear();
        }
    }
    (void)home.save(*records);
}

// A CA that no longer knows the cached account URL (a CA reset, an account
// it deactivated) refuses newOrder with accountDoesNotExist, and would refuse
// every later run the same way: forget the URL, look the key up again or
// register it anew, and retry those orders once (nothing was presented for
// them), without `replaces` unless the account is still the same.
void retry_forgotten_account(const RunSettings& settings, acme::Transport& transport, const acme::Account& account,
                             acme::AccountStore& home, Orders& orders, ObtainResults& results,
                             std::vector<std::string>& issued_by, const core::Deadline& run_deadline) {
    if (std::none_of(results.begin(), results.end(), account_gone)) {
        return;
    }
    core::log::warn("the CA does not know the stored ACME account; registering it again", {{"account", account.url()}});
    forget_account_url(home, account);
    auto again = acme::load_or_register(transport, home, account_options(settings), settings.account_key_type,
                                        core::Deadline::after(std::chrono::seconds(120)).min(run_deadline));
    if (!again) {
        return;
    }
    std::vector<std::size_t> redo;
    std::vector<acme::ObtainRequest> retry;
    for (std::size_t i = 0; i < results.size(); ++i) {
        if (account_gone(results[i])) {
            redo.push_back(i);
            retry.push_back(orders.requests[i]);
            if (again->url() != account.url()) {
                retry.back().replaces.clear();
            }
        }
    }
    auto second = acme::obtain_many(transport, *again, orders.bridge, retry, settings.config.concurrency, run_deadline);
    for (std::size_t k = 0; k < redo.size() && k < second.size(); ++k) {
        results[redo[k]] = std::move(second[k]);
        issued_by[redo[k]] = again->url();
    }
}

// A lease that failed to renew for another reason than "lost" (a network
// error) still covers a store when this much of it is left.
constexpr std::chrono::seconds k_lease_margin{60};

// Extends the job's lease by another lease_ttl right before it writes
// (docs/stores.md, "Leases"): a run slower than its lease (a long DNS wait, a
// slow store) may have been taken over by another run, and must then not
// store over what that run stores. Returns why the job may not store, or
// nothing when the lease is ours.
std::optional<std::string> renew_lease(const RunSettings& settings, Job& job) {
    if (!job.locker || !job.lease) {
        return std::nullopt;
    }
    auto renewed = job.locker->renew(*job.lease, settings.lease_ttl);
    if (renewed) {
        job.lease = std::move(*renewed);
        return std::nullopt;
    }
    if (renewed.error().kind != core::ErrorKind::conflict &&
        job.lease->expires_at > std::chrono::system_clock::now() + k_lease_margin) {
        core::log::warn("cannot renew the lease; storing while it is still valid",
                        {{"certificate", job.config->id},
                         {"expires", core::format_time(job.lease->expires_at)},
                         {"error", renewed.error().message}});
        return std::nullopt;
    }
    if (renewed.error().kind == core::ErrorKind::conflict) {
        job.lease.reset();  // not ours any more: nothing to release
    }
    return "lease lost: " + renewed.error().message;
}

// Keeps the leases of the jobs being ordered while the pipelined run works
// (docs/stores.md#leases): renewed between its phases and, during a long
// phase (the DNS wait of a slow provider), from a thread of its own, so a
// live run's lease never expires and another run never takes the
// certificate over. A lease is renewed once a quarter of its TTL has passed:
// a fast run writes no lease more than needed. A lease found lost is left
// alone: the renewal before storing reports it (renew_lease).
class LeaseKeeper {
public:
    LeaseKeeper(const RunSettings& settings, std::vector<Job*> jobs) : settings_(settings), jobs_(std::move(jobs)) {
        // Wake often enough that a quarter of the TTL is never overrun by much.
        period_ = std::max<std::chrono::milliseconds>(std::chrono::seconds(1), settings_.lease_ttl / 8);
        thread_ = std::thread([this] { loop(); });
    }
    ~LeaseKeeper() {
        {
            const std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    LeaseKeeper(const LeaseKeeper&) = delete;
    LeaseKeeper& operator=(const LeaseKeeper&) = delete;

    // renew_lease() right before storing, never at the same time as the
    // keeper's own renewal of that lease.
    std::optional<std::string> renew_before_store(Job& job) {
        const std::lock_guard lock(mutex_);
        return renew_lease(settings_, job);
    }

    // The job has its outcome: its lease is left to the run's release.
    void done(Job& job) {
        const std::lock_guard lock(mutex_);
        done_.insert(&job);
    }

    void between_phases(std::string_view phase) {
        const std::lock_guard lock(mutex_);
        core::log::debug("renewing leases between phases", {{"phase", std::string(phase)}});
        renew_aged();
    }

private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (!stop_) {
            wake_.wait_for(lock, period_, [this] { return stop_; });
            if (!stop_) {
                renew_aged();
            }
        }
    }

    // Under mutex_: every held lease a quarter of whose TTL has passed.
    void renew_aged() {
        const auto now = std::chrono::system_clock::now();
        for (Job* job : jobs_) {
            if (!job->locker || !job->lease || lost_.contains(job) || done_.contains(job)) {
                continue;
            }
            if (job->lease->expires_at - now > settings_.lease_ttl * 3 / 4) {
                continue;
            }
            auto renewed = job->locker->renew(*job->lease, settings_.lease_ttl);
            if (renewed) {
                job->lease = std::move(*renewed);
                continue;
            }
            if (renewed.error().kind == core::ErrorKind::conflict) {
                lost_.insert(job);  // the renewal before storing says so, and does not store
            }
            core::log::warn("cannot renew the lease while ordering",
                            {{"certificate", job->config->id}, {"error", renewed.error().message}});
        }
    }

    const RunSettings& settings_;
    std::vector<Job*> jobs_;
    std::chrono::milliseconds period_{1000};
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::set<Job*> lost_;
    std::set<Job*> done_;
    std::thread thread_;
};

// Why the job must not store now (its lease is lost, the run's deadline has
// passed), or nothing.
std::optional<std::string> may_not_store(Job& job, const core::Deadline& run_deadline, LeaseKeeper& leases) {
    if (run_deadline.expired()) {
        return std::string("the run's deadline passed before storing");
    }
    return leases.renew_before_store(job);
}

// Spool, then store: a run that fails or is killed while storing leaves the
// certificate to the next run instead of a second order.
void spool_and_store(Job& job, const secrets::Bundle& bundle, secrets::Spool& spool, const core::Deadline& run_deadline,
                     LeaseKeeper& leases) {
    const auto& id = job.config->id;
    auto spooled = spool.put(id, bundle);
    if (!spooled) {
        core::log::warn("cannot spool the issued certificate",
                        {{"certificate", id}, {"error", spooled.error().message}});
    }
    const auto not_stored = [&](const std::string& why) {
        fail(job, fmt::format("{}: issued (serial {}) but not stored: {}; {}", id, bundle.serial, why,
                              spooled ? "kept in the spool for the next run"
                                      : "could not spool it either: " + spooled.error().message));
    };
    if (auto why = may_not_store(job, run_deadline, leases)) {
        not_stored(*why);
        return;
    }
    core::log::debug("storing", {{"certificate", id}, {"store", job.store->describe()}, {"serial", bundle.serial}});
    if (auto put = job.store->put(bundle); !put) {
        not_stored(put.error().message);
        return;
    }
    (void)spool.remove(id);
    job.result.outcome = Outcome::renewed;
    fill_current(job.result, bundle);
}

// The steps after the order, for one certificate: spool -> verify -> store.
// The certificate reaches the spool before anything may reject it: one that
// fails verification stays there marked failed (not ordered again until its
// configuration changes or --force), so a cause fixed later (a trust root,
// a clock) costs no new order.
void finish_job(const RunSettings& settings, Job& job, const core::Result<acme::ObtainedCertificate>& issued,
                const std::string& account_url, secrets::Spool& spool, const core::Deadline& run_deadline,
                LeaseKeeper& leases) {
    if (!issued) {
        // RFC 8555 §6.7: a limit of the CA, not a fault of this certificate.
        if (issued.error().code == "rateLimited") {
            if (issued.error().kind != core::ErrorKind::cancelled) {  // the CA's answer, not k_not_started_rate_limited
                core::log::error("the CA refused a new order (rateLimited): no more orders in this run",
                                 {{"certificate", job.config->id}, {"error", issued.error().message}});
            }
            defer(job, rate_limited_deferred_reason(issued.error().message), true);
            return;
        }
        fail(job, issued.error().message);
        return;
    }
    const auto& id = job.config->id;
    auto bundle = secrets::build_bundle(issued->fullchain_pem, issued->key_pem, core::to_string(issued->key_type),
                                        std::chrono::system_clock::now());
    if (!bundle) {
        fail(job, fmt::format("{}: {}", id, bundle.error().wrap("issued certificate rejected").message));
        return;
    }
    bundle->account = account_url;
    if (auto verified = verify_issued(*bundle, *job.config, settings); !verified) {
        const secrets::SpoolFailure failure{verified.error().message, config_fingerprint(*job.config)};
        auto spooled = spool.put(id, *bundle, failure);
        fail(job,
             fmt::format("{}: issued (serial {}) but rejected: {}; {}", id, bundle->serial, verified.error().message,
                         spooled ? "kept in the spool marked failed; " + std::string(k_held_hint)
                                 : "could not spool it: " + spooled.error().message));
        return;
    }
    spool_and_store(job, *bundle, spool, run_deadline, leases);
}

// Verify, spool and store every issued certificate, several at once (each job
// has its own store and lease; the spool writes one file per certificate):
// with hundreds of certificates, the stores' fsyncs and API calls would
// otherwise add up one after another (docs/deployment.md#sizing).
// False for an order never begun (acme/obtain.hpp k_not_started_*): the
// OrdersPlaced metric counts only what the CA saw (docs/operations.md).
bool reached_the_ca(const core::Result<acme::ObtainedCertificate>& result) {
    if (result.ok()) {
        return true;
    }
    const auto& message = result.error().message;
    return message != acme::k_not_started_deadline && message != acme::k_not_started_cancelled &&
           message != acme::k_not_started_rate_limited;
}

void finish_all(const RunSettings& settings, Orders& orders, const ObtainResults& results,
                const std::vector<std::string>& issued_by, secrets::Spool& spool, const core::Deadline& run_deadline,
                LeaseKeeper& leases) {
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (std::size_t i = next.fetch_add(1); i < results.size(); i = next.fetch_add(1)) {
            Job& job = *orders.jobs[i];
            job.result.ordered = reached_the_ca(results[i]);
            if (i < orders.durations.size()) {
                job.result.duration += orders.durations[i];
            }
            finish_job(settings, job, results[i], issued_by[i], spool, run_deadline, leases);
            leases.done(job);
        }
    };
    const auto threads = std::min<std::size_t>(results.size(), std::max(1, settings.config.concurrency));
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < threads; ++t) {
        pool.emplace_back(worker);
    }
    worker();
}

}  // namespace

core::Status verify_issued(const secrets::Bundle& bundle, const CertificateConfig& config,
                           const RunSettings& settings) {
    secrets::VerifyOptions verify;
    verify.not_before_tolerance = secrets::k_clock_skew_tolerance;
    for (const auto& root : settings.trust_roots) {
        auto copy = core::Certificate::from_der(root.to_der());
        if (copy) {
            verify.roots.push_back(std::move(*copy));
        }
    }
    if (auto ok = secrets::verify_bundle(bundle, verify); !ok) {
        return ok.error().wrap("issued certificate rejected");
    }
    for (const auto& name : config.domains) {
        const bool covered = std::any_of(bundle.domains.begin(), bundle.domains.end(),
                                         [&](const std::string& have) { return secrets::name_matches(have, name); });
        if (!covered) {
            return core::make_error(core::ErrorKind::protocol,
                                    fmt::format("issued certificate rejected: it does not cover {}", name));
        }
    }
    return {};
}

std::string config_fingerprint(const CertificateConfig& config) {
    auto names = config.domains;
    std::sort(names.begin(), names.end());
    std::string text = std::string(core::to_string(config.key_type)) + "\n" + config.profile;
    for (const auto& name : names) {
        text += "\n" + name;
    }
    return core::hex_encode(core::sha256(text)).substr(0, 32);
}

std::optional<std::unique_ptr<acme::Transport>> connect_ca(const RunSettings& settings, std::string& error,
                                                           const core::Deadline& run_deadline) {
    acme::TransportOptions options;
    options.directory_url = settings.config.server;
    options.http.ca_bundle = settings.config.ca_bundle;
    // Every CA call is bounded by the run's settings, named when they end it
    // (docs/configuration.md#time-limits); without --deadline the run ends
    // 120 s after the order timeout (run.cpp, run_deadlines).
    options.call_limit = settings.order_timeout;
    options.call_limit_name = fmt::format("--timeout {} s", settings.order_timeout.count());
    options.run_deadline = run_deadline;
    options.run_deadline_name = settings.deadline
                                    ? settings.deadline_name
                                    : fmt::format("--timeout {} s + 120 s", settings.order_timeout.count());
    auto transport =
        acme::Transport::connect(options, core::Deadline::after(std::chrono::seconds(60)).min(run_deadline));
    if (!transport) {
        error = transport.error().message;
        return std::nullopt;
    }
    return std::move(*transport);
}

void issue_due(const RunSettings& settings, std::vector<Job>& jobs, acme::Transport& transport, secrets::Spool& spool,
               const std::shared_ptr<dns::Journal>& journal, const core::Deadline& run_deadline,
               const core::Deadline& start_by) {
    const auto due = lease_due(settings, jobs);
    if (due.empty()) {
        return;
    }
    const auto fail_all = [&](const std::string& reason) {
        for (auto* job : due) {
            fail(*job, reason);
        }
    };
    std::vector<secrets::Store*> certificate_stores;
    for (auto& job : jobs) {
        certificate_stores.push_back(job.store.get());
    }
    auto accounts = account_stores_for(settings, certificate_stores);
    auto account = acme::load_or_register(
        transport, *accounts.home, account_options(settings), settings.account_key_type,
        core::Deadline::after(std::chrono::seconds(120)).min(run_deadline), accounts.elsewhere_list());
    if (!account) {
        fail_all(account.error().wrap("ACME account").message);
        return;
    }
    if (start_by.expired()) {
        fail_all(acme::k_not_started_deadline);
        return;
    }
    Orders orders;
    prepare_orders(settings, due, orders, account->url(), journal, run_deadline, start_by);
    // Kept until every certificate is stored: a slow store must not lose the lease either.
    LeaseKeeper keeper(settings, orders.jobs);
    auto results = acme::obtain_many(transport, *account, orders.bridge, orders.requests, settings.config.concurrency,
                                     run_deadline, &orders.durations,
                                     [&](std::string_view phase) { keeper.between_phases(phase); });
    std::vector<std::string> issued_by(results.size(), account->url());
    retry_forgotten_account(settings, transport, *account, *accounts.home, orders, results, issued_by, run_deadline);
    finish_all(settings, orders, results, issued_by, spool, run_deadline, keeper);
}

}  // namespace renewer
