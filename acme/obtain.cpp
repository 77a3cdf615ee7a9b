#include "acme/obtain.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>
#include <thread>
#include <utility>

#include "acme/jws.hpp"
#include "core/log.hpp"

namespace acme {
namespace {

using std::chrono::milliseconds;

// RFC 8555 §7.1.6: an order that may be finalized, or already was.
bool ready_or_valid(ResourceStatus status) {
    return status == ResourceStatus::ready || status == ResourceStatus::valid;
}

struct Pending {
    Authorization authz;
    Challenge challenge;
};

// One certificate on its way through the pipeline. `error` ends it: the
// later phases skip it (its DNS values are still removed with everyone's).
struct Flight {
    const ObtainRequest* request = nullptr;
    core::Deadline deadline = core::Deadline::never();
    std::optional<core::PrivateKey> key;
    std::optional<Order> order;
    std::vector<Pending> pending;
    std::vector<Dns01Record> records;
    std::optional<Order> ready;
    std::optional<core::Error> error;
    bool error_is_whole = false;  // not prefixed with the first name (k_not_started_*)
    std::optional<ObtainedCertificate> out;
    milliseconds took{0};
};

// Runs fn(i) for every i < count on at most `concurrency` threads.
template <typename Fn>
void bounded_for(std::size_t count, int concurrency, Fn fn) {
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (std::size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
            fn(i);
        }
    };
    const std::size_t threads = std::min<std::size_t>(count, static_cast<std::size_t>(std::max(1, concurrency)));
    if (threads <= 1) {
        worker();
        return;
    }
    std::vector<std::jthread> pool;
    pool.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back(worker);
    }
}

// One phase's step for one flight: errors and exceptions end the flight.
template <typename Step>
void guarded(Flight& f, Step step) {
    if (f.error) {
        return;
    }
    try {
        if (auto status = step(f); !status) {
            f.error = status.error();
        }
    } catch (const std::exception& e) {
        f.error = core::make_error(core::ErrorKind::internal, e.what());
    }
}

core::Status make_key(Flight& f) {
    const ObtainRequest& request = *f.request;
    if (!request.key_pem.empty()) {
        auto parsed = core::PrivateKey::from_pem(request.key_pem);
        if (!parsed.ok()) {
            return parsed.error().wrap("reused certificate key");
        }
        f.key.emplace(std::move(*parsed));
        return {};
    }
    auto fresh = core::PrivateKey::generate(request.key_type);
    if (!fresh.ok()) {
        return fresh.error().wrap("certificate key");
    }
    f.key.emplace(std::move(*fresh));
    return {};
}

// RFC 8555 §7.5: one authorization; valid ones need nothing, pending ones
// give a dns-01 record to present.
core::Status collect_authorization(Transport& transport, const Account& account, Flight& f, const std::string& url) {
    auto authz = fetch_authorization(transport, account, url, f.deadline);
    if (!authz.ok()) {
        return authz.error().wrap("fetching authorization " + url);
    }
    if (authz->status == ResourceStatus::valid) {
        return {};
    }
    if (authz->status != ResourceStatus::pending) {
        auto error = authz->error();
        std::string why = error ? error->message : "status \"" + std::string(to_string(authz->status)) + "\"";
        return core::make_error(core::ErrorKind::protocol, "authorization for " + authz->name() + " failed: " + why);
    }
    const Challenge* challenge = authz->challenge("dns-01");
    if (challenge == nullptr) {
        return core::make_error(core::ErrorKind::protocol,
                                "authorization for " + authz->name() + ": the CA offers no dns-01 challenge");
    }
    f.records.push_back(Dns01Record{authz->identifier.value,
                                    core::dns01_txt_value(key_authorization(challenge->token, account.thumbprint()))});
    f.pending.push_back(Pending{*authz, *challenge});
    return {};
}

// Phase A: the key, the order (RFC 8555 §7.4, RFC 9773 §5 replaces,
// profiles) and its authorizations.
core::Status create_order(Transport& transport, const Account& account, Flight& f) {
    const ObtainRequest& request = *f.request;
    TRY(make_key(f));
    auto order =
        new_order(transport, account, NewOrderRequest{request.names, request.replaces, request.profile}, f.deadline);
    if (!order.ok()) {
        // RFC 8555 §6.7 rateLimited: every further newOrder of this run would be
        // refused too (and might lengthen the CA's penalty): hold the rest.
        if (order.error().code == "rateLimited" && request.hold_new_orders) {
            request.hold_new_orders->store(true);
        }
        return order.error().wrap("newOrder");
    }
    f.order = std::move(*order);
    core::log::debug("acme: order created", {{"certificate", request.names.front()}, {"order", f.order->url}});
    for (const std::string& url : f.order->authorizations) {
        TRY(collect_authorization(transport, account, f, url));
    }
    return {};
}

// Why an order left "pending" for "invalid": the first failed
// authorization's problem, naming the record the CA looked at.
core::Status explain_failure(Transport& transport, const Account& account, const Flight& f) {
    for (const Pending& p : f.pending) {
        auto final_authz = fetch_authorization(transport, account, p.authz.url, f.deadline);
        if (!final_authz.ok()) {
            return final_authz.error().wrap("authorization for " + p.authz.name());
        }
        if (final_authz->status == ResourceStatus::valid) {
            continue;
        }
        auto error = final_authz->error();
        if (error) {
            const std::string record = "_acme-challenge." + p.authz.identifier.value;
            if (error->message.find(record) == std::string::npos) {
                error->message += " [TXT " + record + "]";
            }
            return error->wrap("authorization for " + p.authz.name() + " failed");
        }
        return core::make_error(
            core::ErrorKind::protocol,
            "authorization for " + p.authz.name() + " failed: status \"" + to_string(final_authz->status) + "\"");
    }
    return {};
}

// Phase C1: RFC 8555 §7.5.1, answer every challenge (the records are live),
// then one order poll for all of them (§7.1.6: the order leaves "pending"
// once every authorization is decided; they are read again only to explain
// a failure).
core::Status answer_challenges(Transport& transport, const Account& account, Flight& f) {
    const ObtainRequest& request = *f.request;
    if (f.pending.empty()) {
        if (ready_or_valid(f.order->status)) {
            f.ready = *f.order;  // every authorization was valid already
            return {};
        }
    }
    for (const Pending& p : f.pending) {
        auto answered = respond_to_challenge(transport, account, p.challenge, f.deadline);
        if (!answered.ok()) {
            return answered.error().wrap("answering the challenge for " + p.authz.name());
        }
    }
    if (!f.pending.empty()) {
        core::log::debug("acme: challenges answered",
                         {{"certificate", request.names.front()}, {"challenges", std::to_string(f.pending.size())}});
    }
    auto decided = poll_order(transport, account, f.order->url, f.deadline, request.poll);
    if (!decided.ok()) {
        return decided.error().wrap("order");
    }
    if (!ready_or_valid(decided->status) && !f.pending.empty()) {
        TRY(explain_failure(transport, account, f));
    }
    if (!ready_or_valid(decided->status)) {
        const std::string status = to_string(decided->status);
        if (decided->error) {
            return decided->error->wrap("order " + status);
        }
        return core::make_error(core::ErrorKind::protocol, "order is \"" + status + "\", not ready");
    }
    f.ready = std::move(*decided);
    return {};
}

// The chosen chain into `f.out`, checked against the CSR key.
core::Status take_chain(Flight& f, const std::vector<CertificateChain>& chains) {
    const ObtainRequest& request = *f.request;
    const std::size_t chosen = select_chain(chains, request.preferred_chain);
    if (!request.preferred_chain.empty() && chains.size() > 1 && chosen == 0) {
        core::log::info("acme: no chain matches the preferred chain; using the default",
                        {{"certificate", request.names.front()}, {"preferred_chain", request.preferred_chain}});
    }
    const CertificateChain& chain = chains[chosen];
    auto certs = core::parse_pem_chain(chain.pem);
    if (!certs.ok()) {
        return certs.error().wrap("certificate download " + chain.url);
    }
    if (!certs->front().matches_key(*f.key)) {
        return core::make_error(core::ErrorKind::protocol, "the issued certificate does not match the CSR key");
    }
    ObtainedCertificate& out = *f.out;
    for (std::size_t i = 0; i < certs->size(); ++i) {
        const std::string pem = (*certs)[i].to_pem();
        out.fullchain_pem += pem;
        (i == 0 ? out.leaf_pem : out.chain_pem) += pem;
    }
    out.leaf = certs->front().info();
    out.key_pem = f.key->to_pem();
    out.key_type = f.key->type();
    out.certificate_url = chain.url;
    return {};
}

// Phase C2: finalize (RFC 8555 §7.4) and download (§7.4.2) a ready order.
core::Status finish_order(Transport& transport, const Account& account, Flight& f) {
    const ObtainRequest& request = *f.request;
    auto csr = core::make_csr_der(*f.key, request.names);
    if (!csr.ok()) {
        return csr.error().wrap("CSR");
    }
    Order valid = *f.ready;
    if (f.ready->status == ResourceStatus::ready) {
        auto finalized = finalize_order(transport, account, *f.ready, *csr, f.deadline, request.poll);
        if (!finalized.ok()) {
            return finalized.error().wrap("finalize");
        }
        valid = std::move(*finalized);
    }
    core::log::debug("acme: order finalized", {{"certificate", request.names.front()}, {"order", valid.url}});
    const Alternates alternates = request.preferred_chain.empty() ? Alternates::exclude : Alternates::include;
    auto chains = download_certificate(transport, account, valid.certificate, f.deadline, alternates);
    if (!chains.ok()) {
        return chains.error().wrap("certificate download");
    }
    f.out.emplace();
    f.out->order_url = f.order->url;
    f.out->replaced = f.order->replaces;
    TRY(take_chain(f, *chains));
    // A run holds every certificate until the last one is done: keep only the result.
    f.key.reset();
    f.order.reset();
    f.ready.reset();
    core::log::info("acme: certificate issued", {{"certificate", request.names.front()},
                                                 {"serial", f.out->leaf.serial_hex},
                                                 {"not_after", core::format_time(f.out->leaf.not_after)}});
    return {};
}

// Phase B: every flight's records through ONE present_sets(); a set that
// fails ends its flight only.
void present_all(Dns01Solver& solver, std::vector<Flight>& flights, std::vector<std::vector<Dns01Record>>& sets) {
    std::vector<Flight*> presenting;
    std::size_t count = 0;
    for (auto& f : flights) {
        if (!f.error && !f.records.empty()) {
            presenting.push_back(&f);
            count += f.records.size();
            sets.push_back(std::move(f.records));  // only the cleanup needs them now
        }
    }
    if (sets.empty()) {
        return;
    }
    core::log::info("acme: presenting DNS-01 records",
                    {{"certificates", std::to_string(sets.size())}, {"records", std::to_string(count)}});
    std::vector<core::Status> outcomes;
    try {
        outcomes = solver.present_sets(sets);
    } catch (const std::exception& e) {
        outcomes.assign(sets.size(), core::Status(core::make_error(core::ErrorKind::internal, e.what())));
    }
    for (std::size_t i = 0; i < presenting.size(); ++i) {
        if (i >= outcomes.size() || !outcomes[i]) {
            presenting[i]->error =
                (i < outcomes.size() ? outcomes[i].error() : core::make_error(core::ErrorKind::internal, "no outcome"))
                    .wrap("presenting DNS records");
        }
    }
}

// Runs the solver's cleanup of every presented set exactly once: on its own
// thread once every order is decided (so a slow DNS API, e.g. Route53 behind
// its rate limiter, overlaps finalize and download), joined before the
// pipeline returns, also on an exception (docs/dns-providers.md#batches-and-clean-up).
class CleanupGuard {
public:
    CleanupGuard(Dns01Solver& solver, const std::vector<std::vector<Dns01Record>>& sets)
        : solver_(solver), sets_(sets) {}
    ~CleanupGuard() {
        if (worker_.joinable()) {
            worker_.join();
        } else {
            run();
        }
    }
    CleanupGuard(const CleanupGuard&) = delete;
    CleanupGuard& operator=(const CleanupGuard&) = delete;

    void start() noexcept {
        try {
            worker_ = std::thread([this] { run(); });
        } catch (...) {
            run();
        }
    }

private:
    void run() noexcept {
        if (done_ || sets_.empty()) {
            done_ = true;
            return;
        }
        done_ = true;
        try {
            solver_.cleanup_sets(sets_);
        } catch (const std::exception& e) {
            core::log::warn("acme: DNS cleanup failed", {{"error", e.what()}});
        } catch (...) {
            core::log::warn("acme: DNS cleanup failed");
        }
    }

    Dns01Solver& solver_;
    const std::vector<std::vector<Dns01Record>>& sets_;
    bool done_ = false;
    std::thread worker_;
};

// Nothing begun yet (no key, no order): refuse rather than start what the
// run cannot finish.
std::optional<core::Error> refuse_start(const ObtainRequest& request) {
    if (request.names.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "a certificate needs at least one name");
    }
    if (core::cancelled()) {
        return core::make_error(core::ErrorKind::cancelled, k_not_started_cancelled);
    }
    if (request.start_by.expired()) {
        return core::make_error(core::ErrorKind::cancelled, k_not_started_deadline);
    }
    if (request.hold_new_orders && request.hold_new_orders->load()) {
        auto held = core::make_error(core::ErrorKind::cancelled, k_not_started_rate_limited);
        held.code = "rateLimited";
        return held;
    }
    return std::nullopt;
}

core::Result<ObtainedCertificate> result_of(Flight& f) {
    if (f.error) {
        if (f.error_is_whole) {
            return *f.error;
        }
        return f.error->wrap(f.request->names.front());
    }
    if (!f.out) {
        return core::make_error(core::ErrorKind::internal, f.request->names.front() + ": no certificate");
    }
    return std::move(*f.out);
}

void stamp(Flight& f, core::Clock::time_point started) {
    if (f.error && f.took.count() == 0) {
        f.took = std::chrono::duration_cast<milliseconds>(core::Clock::now() - started);
    }
}

// The three phases over every flight (see obtain.hpp).
void run_pipeline(Transport& transport, const Account& account, Dns01Solver& solver, std::vector<Flight>& flights,
                  int concurrency, const PhaseHook& between_phases) {
    const auto started = core::Clock::now();
    const auto hook = [&](std::string_view phase) {
        for (auto& f : flights) {
            stamp(f, started);
        }
        if (between_phases) {
            between_phases(phase);
        }
    };
    bounded_for(flights.size(), concurrency, [&](std::size_t i) {
        // A long phase A may outlast `start_by`, or a SIGTERM may arrive: start nothing new then.
        if (auto refused = flights[i].error ? std::nullopt : refuse_start(*flights[i].request)) {
            flights[i].error = std::move(*refused);
            flights[i].error_is_whole = true;
            return;
        }
        guarded(flights[i], [&](Flight& f) { return create_order(transport, account, f); });
    });
    hook("orders");
    std::vector<std::vector<Dns01Record>> sets;
    CleanupGuard cleanup(solver, sets);  // declared before the phases below: joined after download
    present_all(solver, flights, sets);
    hook("dns");
    bounded_for(flights.size(), concurrency, [&](std::size_t i) {
        guarded(flights[i], [&](Flight& f) { return answer_challenges(transport, account, f); });
        std::vector<Pending>().swap(flights[i].pending);  // decided: the authorizations are not needed
    });
    cleanup.start();  // RFC 8555 §8.4: the records are no longer needed
    hook("challenges");
    bounded_for(flights.size(), concurrency, [&](std::size_t i) {
        guarded(flights[i], [&](Flight& f) { return finish_order(transport, account, f); });
        flights[i].took = std::chrono::duration_cast<milliseconds>(core::Clock::now() - started);
    });
    hook("certificates");
}

}  // namespace

Dns01Solver::~Dns01Solver() = default;

std::vector<core::Status> Dns01Solver::present_sets(const std::vector<std::vector<Dns01Record>>& sets) {
    std::vector<core::Status> outcomes;
    outcomes.reserve(sets.size());
    for (const auto& set : sets) {
        outcomes.push_back(present(set));
    }
    return outcomes;
}

void Dns01Solver::cleanup_sets(const std::vector<std::vector<Dns01Record>>& sets) {
    for (const auto& set : sets) {
        cleanup(set);
    }
}

core::Result<ObtainedCertificate> obtain(Transport& transport, const Account& account, Dns01Solver& solver,
                                         const ObtainRequest& request, const core::Deadline& run_deadline) {
    auto results = obtain_many(transport, account, solver, {request}, 1, run_deadline);
    return std::move(results.front());
}

std::vector<core::Result<ObtainedCertificate>> obtain_many(Transport& transport, const Account& account,
                                                           Dns01Solver& solver,
                                                           const std::vector<ObtainRequest>& requests, int concurrency,
                                                           const core::Deadline& run_deadline,
                                                           std::vector<std::chrono::milliseconds>* durations,
                                                           const PhaseHook& between_phases) {
    std::vector<Flight> flights(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
        Flight& f = flights[i];
        f.request = &requests[i];
        f.deadline = core::Deadline::after(requests[i].timeout).min(run_deadline);
        if (auto refused = refuse_start(requests[i])) {
            f.error = std::move(*refused);
            f.error_is_whole = true;
        }
    }
    run_pipeline(transport, account, solver, flights, concurrency, between_phases);
    std::vector<core::Result<ObtainedCertificate>> results;
    results.reserve(flights.size());
    for (auto& f : flights) {
        results.push_back(result_of(f));
    }
    if (durations != nullptr) {
        durations->clear();
        for (const auto& f : flights) {
            durations->push_back(f.took);
        }
    }
    return results;
}

}  // namespace acme
