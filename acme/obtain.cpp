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

// Runs the solver's cleanup exactly once: in the background once every
// authorization is valid (so a slow DNS API, e.g. Route53 behind its rate
// limiter, overlaps finalize and download instead of delaying them), or on
// any early return, exception or cancellation. Either way it has finished
// before obtain() returns: the destructor joins (docs/dns-providers.md#batches-and-clean-up).
class CleanupGuard {
public:
    CleanupGuard(Dns01Solver& solver, std::vector<Dns01Record> records)
        : solver_(solver), records_(std::move(records)) {}
    ~CleanupGuard() {
        if (worker_.joinable()) {
            worker_.join();
        } else {
            run();
        }
    }
    CleanupGuard(const CleanupGuard&) = delete;
    CleanupGuard& operator=(const CleanupGuard&) = delete;

    // Starts the cleanup on its own thread (synchronously when no thread can be made).
    void start() noexcept {
        if (done_ || worker_.joinable()) {
            return;
        }
        try {
            worker_ = std::thread([this] { run(); });
        } catch (...) {
            run();
        }
    }

    void run() noexcept {
        if (done_ || records_.empty()) {
            done_ = true;
            return;
        }
        done_ = true;
        try {
            solver_.cleanup(records_);
        } catch (const std::exception& e) {
            core::log::warn("acme: DNS cleanup failed", {{"error", e.what()}});
        } catch (...) {
            core::log::warn("acme: DNS cleanup failed");
        }
    }

private:
    Dns01Solver& solver_;
    std::vector<Dns01Record> records_;
    bool done_ = false;
    std::thread worker_;
};

// RFC 8555 §7.1.6: an order that may be finalized, or already was.
bool ready_or_valid(ResourceStatus status) {
    return status == ResourceStatus::ready || status == ResourceStatus::valid;
}

struct Pending {
    Authorization authz;
    Challenge challenge;
};

core::Result<ObtainedCertificate> obtain_inner(Transport& transport, const Account& account, Dns01Solver& solver,
                                               const ObtainRequest& request, const core::Deadline& deadline) {
    ObtainedCertificate out;

    // The certificate key: reused or fresh.
    std::optional<core::PrivateKey> key;
    if (!request.key_pem.empty()) {
        auto parsed = core::PrivateKey::from_pem(request.key_pem);
        if (!parsed.ok()) {
            return parsed.error().wrap("reused certificate key");
        }
        key.emplace(std::move(*parsed));
    } else {
        auto fresh = core::PrivateKey::generate(request.key_type);
        if (!fresh.ok()) {
            return fresh.error().wrap("certificate key");
        }
        key.emplace(std::move(*fresh));
    }

    // RFC 8555 §7.4 (+ RFC 9773 §5 replaces, profiles).
    auto order =
        new_order(transport, account, NewOrderRequest{request.names, request.replaces, request.profile}, deadline);
    if (!order.ok()) {
        return order.error().wrap("newOrder");
    }
    out.order_url = order->url;
    out.replaced = order->replaces;
    core::log::debug("acme: order created", {{"certificate", request.names.front()}, {"order", order->url}});

    // RFC 8555 §7.5: fetch every authorization; valid ones need nothing.
    std::vector<Pending> pending;
    std::vector<Dns01Record> records;
    for (const std::string& url : order->authorizations) {
        auto authz = fetch_authorization(transport, account, url, deadline);
        if (!authz.ok()) {
            return authz.error().wrap("fetching authorization " + url);
        }
        if (authz->status == ResourceStatus::valid) {
            continue;
        }
        if (authz->status != ResourceStatus::pending) {
            auto error = authz->error();
            std::string why = error ? error->message : "status \"" + std::string(to_string(authz->status)) + "\"";
            return core::make_error(core::ErrorKind::protocol,
                                    "authorization for " + authz->name() + " failed: " + why);
        }
        const Challenge* challenge = authz->challenge("dns-01");
        if (challenge == nullptr) {
            return core::make_error(core::ErrorKind::protocol,
                                    "authorization for " + authz->name() + ": the CA offers no dns-01 challenge");
        }
        records.push_back(Dns01Record{
            authz->identifier.value, core::dns01_txt_value(key_authorization(challenge->token, account.thumbprint()))});
        pending.push_back(Pending{*authz, *challenge});
    }

    std::optional<CleanupGuard> guard;  // declared before the flow below: joined after download
    std::optional<Order> ready_order;
    if (!pending.empty()) {
        guard.emplace(solver, records);
        core::log::info("acme: presenting DNS-01 records",
                        {{"certificate", request.names.front()}, {"records", std::to_string(records.size())}});
        auto presented = solver.present(records);
        if (!presented.ok()) {
            return presented.error().wrap("presenting DNS records");
        }
        // RFC 8555 §7.5.1: answer every challenge only once all records are live.
        for (const Pending& p : pending) {
            auto answered = respond_to_challenge(transport, account, p.challenge, deadline);
            if (!answered.ok()) {
                return answered.error().wrap("answering the challenge for " + p.authz.name());
            }
        }
        core::log::debug("acme: challenges answered",
                         {{"certificate", request.names.front()}, {"challenges", std::to_string(pending.size())}});
        // RFC 8555 §7.1.6: the order leaves "pending" once every authorization
        // is decided, so one order poll stands for a poll per authorization;
        // the authorizations are read again only to explain a failure.
        auto decided = poll_order(transport, account, order->url, deadline, request.poll);
        if (!decided.ok()) {
            return decided.error().wrap("order");
        }
        if (!ready_or_valid(decided->status)) {
            for (const Pending& p : pending) {
                auto final_authz = fetch_authorization(transport, account, p.authz.url, deadline);
                if (!final_authz.ok()) {
                    return final_authz.error().wrap("authorization for " + p.authz.name());
                }
                if (final_authz->status == ResourceStatus::valid) {
                    continue;
                }
                auto error = final_authz->error();
                if (error) {
                    // Name the record the CA looked at when its detail does not.
                    const std::string record = "_acme-challenge." + p.authz.identifier.value;
                    if (error->message.find(record) == std::string::npos) {
                        error->message += " [TXT " + record + "]";
                    }
                    return error->wrap("authorization for " + p.authz.name() + " failed");
                }
                return core::make_error(core::ErrorKind::protocol, "authorization for " + p.authz.name() +
                                                                       " failed: status \"" +
                                                                       to_string(final_authz->status) + "\"");
            }
        }
        guard->start();  // RFC 8555 §8.4: the records are no longer needed
        ready_order = std::move(*decided);
    }

    // RFC 8555 §7.1.6: the order becomes ready once every authorization is valid.
    if (!ready_order && ready_or_valid(order->status)) {
        ready_order = *order;  // every authorization was valid already
    }
    if (!ready_order) {
        auto polled = poll_order(transport, account, order->url, deadline, request.poll);
        if (!polled.ok()) {
            return polled.error().wrap("order");
        }
        ready_order = std::move(*polled);
    }
    const Order* ready = &*ready_order;
    if (!ready_or_valid(ready->status)) {
        const std::string status = to_string(ready->status);
        if (ready->error) {
            return ready->error->wrap("order " + status);
        }
        return core::make_error(core::ErrorKind::protocol, "order is \"" + status + "\", not ready");
    }

    auto csr = core::make_csr_der(*key, request.names);
    if (!csr.ok()) {
        return csr.error().wrap("CSR");
    }
    Order valid = *ready;
    if (ready->status == ResourceStatus::ready) {
        auto finalized = finalize_order(transport, account, *ready, *csr, deadline, request.poll);
        if (!finalized.ok()) {
            return finalized.error().wrap("finalize");
        }
        valid = std::move(*finalized);
    }
    core::log::debug("acme: order finalized", {{"certificate", request.names.front()}, {"order", valid.url}});

    const Alternates alternates = request.preferred_chain.empty() ? Alternates::exclude : Alternates::include;
    auto chains = download_certificate(transport, account, valid.certificate, deadline, alternates);
    if (!chains.ok()) {
        return chains.error().wrap("certificate download");
    }
    const std::size_t chosen = select_chain(*chains, request.preferred_chain);
    if (!request.preferred_chain.empty() && chains->size() > 1 && chosen == 0) {
        core::log::info("acme: no chain matches the preferred chain; using the default",
                        {{"certificate", request.names.front()}, {"preferred_chain", request.preferred_chain}});
    }
    const CertificateChain& chain = (*chains)[chosen];
    auto certs = core::parse_pem_chain(chain.pem);
    if (!certs.ok()) {
        return certs.error().wrap("certificate download " + chain.url);
    }
    if (!certs->front().matches_key(*key)) {
        return core::make_error(core::ErrorKind::protocol, "the issued certificate does not match the CSR key");
    }
    for (std::size_t i = 0; i < certs->size(); ++i) {
        const std::string pem = (*certs)[i].to_pem();
        out.fullchain_pem += pem;
        if (i == 0) {
            out.leaf_pem = pem;
        } else {
            out.chain_pem += pem;
        }
    }
    out.leaf = certs->front().info();
    out.key_pem = key->to_pem();
    out.key_type = key->type();
    out.certificate_url = chain.url;
    core::log::info("acme: certificate issued", {{"certificate", request.names.front()},
                                                 {"serial", out.leaf.serial_hex},
                                                 {"not_after", core::format_time(out.leaf.not_after)}});
    return out;
}

}  // namespace

Dns01Solver::~Dns01Solver() = default;

core::Result<ObtainedCertificate> obtain(Transport& transport, const Account& account, Dns01Solver& solver,
                                         const ObtainRequest& request, const core::Deadline& run_deadline) {
    if (request.names.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "a certificate needs at least one name");
    }
    // Nothing begun yet (no key, no order): refuse rather than start what
    // the run cannot finish.
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
    const std::string& first = request.names.front();
    const core::Deadline deadline = core::Deadline::after(request.timeout).min(run_deadline);
    try {
        auto result = obtain_inner(transport, account, solver, request, deadline);
        if (!result.ok()) {
            if (result.error().code == "rateLimited" && request.hold_new_orders) {
                request.hold_new_orders->store(true);
            }
            return result.error().wrap(first);
        }
        return result;
    } catch (const std::exception& e) {
        return core::make_error(core::ErrorKind::internal, first + ": " + e.what());
    }
}

std::vector<core::Result<ObtainedCertificate>> obtain_many(Transport& transport, const Account& account,
                                                           Dns01Solver& solver,
                                                           const std::vector<ObtainRequest>& requests, int concurrency,
                                                           const core::Deadline& run_deadline,
                                                           std::vector<std::chrono::milliseconds>* durations) {
    std::vector<std::optional<core::Result<ObtainedCertificate>>> slots(requests.size());
    std::vector<std::chrono::milliseconds> took(requests.size(), std::chrono::milliseconds{0});
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (;;) {
            const std::size_t i = next.fetch_add(1);
            if (i >= requests.size()) {
                return;
            }
            const auto start = std::chrono::steady_clock::now();
            slots[i].emplace(obtain(transport, account, solver, requests[i], run_deadline));
            took[i] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        }
    };
    const std::size_t threads =
        std::min<std::size_t>(requests.size(), static_cast<std::size_t>(std::max(1, concurrency)));
    {
        std::vector<std::jthread> pool;
        pool.reserve(threads);
        for (std::size_t t = 0; t < threads; ++t) {
            pool.emplace_back(worker);
        }
    }
    std::vector<core::Result<ObtainedCertificate>> results;
    results.reserve(requests.size());
    for (auto& slot : slots) {
        results.push_back(std::move(*slot));
    }
    if (durations != nullptr) {
        *durations = std::move(took);
    }
    return results;
}

}  // namespace acme
