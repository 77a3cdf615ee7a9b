#include "acme/transport.hpp"

#include <algorithm>
#include <utility>

#include "acme/problem.hpp"
#include "core/log.hpp"

namespace acme {
namespace {

using std::chrono::milliseconds;

std::string json_string(const Json& object, const char* name) {
    if (object.is_object()) {
        auto it = object.find(name);
        if (it != object.end() && it->is_string()) {
            return it->get<std::string>();
        }
    }
    return {};
}

core::Status check_time(const core::Deadline& deadline, std::string_view name, std::string_view what) {
    if (core::cancelled()) {
        return core::make_error(core::ErrorKind::cancelled, std::string(what) + ": cancelled");
    }
    if (deadline.expired()) {
        return core::make_error(
            core::ErrorKind::timeout,
            std::string(what) + ": " + (name.empty() ? "deadline" : std::string(name)) + " reached");
    }
    return {};
}

// RFC 9110 §15.6 / §10.2.3, RFC 8555 §6.6: every 5xx (a 503 without
// Retry-After too) is worth another try; a 429 or rateLimited only when the
// CA said when (without it the limit is usually hours away).
bool transient_answer(long status, const core::Error& error) {
    if (status >= 500) {
        return true;
    }
    return (status == 429 || error.code == "rateLimited") && error.retry_after.count() > 0;
}

}  // namespace

core::Result<Directory> Directory::parse(std::string_view json_text, std::string url) {
    Json doc = Json::parse(json_text, nullptr, false);
    if (!doc.is_object()) {
        return core::make_error(core::ErrorKind::protocol, "ACME directory at " + url + " is not a JSON object");
    }
    Directory dir;
    dir.url = std::move(url);
    dir.new_nonce = json_string(doc, "newNonce");
    dir.new_account = json_string(doc, "newAccount");
    dir.new_order = json_string(doc, "newOrder");
    dir.new_authz = json_string(doc, "newAuthz");
    dir.revoke_cert = json_string(doc, "revokeCert");
    dir.key_change = json_string(doc, "keyChange");
    dir.renewal_info = json_string(doc, "renewalInfo");
    if (dir.new_nonce.empty() || dir.new_account.empty() || dir.new_order.empty()) {
        return core::make_error(core::ErrorKind::protocol,
                                "ACME directory at " + dir.url + " lacks newNonce/newAccount/newOrder");
    }
    auto meta = doc.find("meta");
    if (meta != doc.end() && meta->is_object()) {
        dir.terms_of_service = json_string(*meta, "termsOfService");
        dir.website = json_string(*meta, "website");
        auto ear = meta->find("externalAccountRequired");
        dir.external_account_required = ear != meta->end() && ear->is_boolean() && ear->get<bool>();
        auto profiles = meta->find("profiles");
        if (profiles != meta->end() && profiles->is_object()) {
            for (const auto& [name, description] : profiles->items()) {
                dir.profiles[name] = description.is_string() ? description.get<std::string>() : std::string{};
            }
        }
    }
    return dir;
}

void NoncePool::put(std::string nonce) {
    if (nonce.empty()) {
        return;
    }
    std::lock_guard lock(mutex_);
    nonces_.push_back(std::move(nonce));
    while (nonces_.size() > capacity_) {
        nonces_.pop_front();
    }
}

std::optional<std::string> NoncePool::take() {
    std::lock_guard lock(mutex_);
    if (nonces_.empty()) {
        return std::nullopt;
    }
    std::string nonce = std::move(nonces_.back());
    nonces_.pop_back();
    return nonce;
}

std::size_t NoncePool::size() const {
    std::lock_guard lock(mutex_);
    return nonces_.size();
}

Transport::Transport(TransportOptions options) : options_(std::move(options)) {}
Transport::~Transport() = default;

core::Result<std::unique_ptr<Transport>> Transport::connect(TransportOptions options, const core::Deadline& deadline) {
    std::unique_ptr<Transport> transport(new Transport(std::move(options)));
    const std::string url = transport->options_.directory_url;
    auto response = transport->get(url, deadline);
    if (!response.ok()) {
        return response.error().wrap("ACME directory " + url);
    }
    TRY_ASSIGN(transport->directory_, Directory::parse(response->body, url));
    return transport;
}

Transport::Bound Transport::bound(const core::Deadline& deadline) const {
    Bound out{deadline, ""};
    // Ties go to the named setting: the caller's deadline is often derived from it.
    if (options_.call_limit.count() > 0) {
        const auto limit = core::Deadline::after(options_.call_limit);
        if (limit.at() <= out.at.at()) {
            out = Bound{limit, options_.call_limit_name};
        }
    }
    if (options_.run_deadline.at() <= out.at.at()) {
        out = Bound{options_.run_deadline, options_.run_deadline_name};
    }
    return out;
}

core::Result<core::http::Response> Transport::send(core::http::Request request, const Bound& bound, PoolNonce pool) {
    TRY(check_time(bound.at, bound.name, request.method + " " + request.url));
    const milliseconds remaining = bound.at.remaining();
    const milliseconds client_total = options_.http.total_timeout;
    request.timeout = std::min(remaining, client_total);
    if (remaining <= client_total) {
        request.timeout_name = bound.name;  // a timeout then says which setting ended the wait
    }

    std::unique_ptr<core::http::Client> client;
    {
        std::lock_guard lock(clients_mutex_);
        if (!idle_clients_.empty()) {
            client = std::move(idle_clients_.back());
            idle_clients_.pop_back();
        }
    }
    if (!client) {
        client = std::make_unique<core::http::Client>(options_.http);
    }
    auto response = client->send(request);
    {
        std::lock_guard lock(clients_mutex_);
        idle_clients_.push_back(std::move(client));
    }
    if (!response.ok()) {
        return response.error();
    }
    // RFC 8555 §6.5.1: every response may carry a fresh nonce, errors included.
    if (pool == PoolNonce::yes) {
        nonces_.put(response->header("replay-nonce"));
    }
    core::log::trace("acme: http",
                     {{"method", request.method}, {"url", request.url}, {"status", std::to_string(response->status)}});
    return response;
}

core::Result<core::http::Response> Transport::get(std::string_view url, const core::Deadline& deadline) {
    return get_within(url, bound(deadline));
}

core::Result<core::http::Response> Transport::get_within(std::string_view url, const Bound& bound) {
    int transient = 0;
    for (;;) {
        core::http::Request request;
        request.method = "GET";
        request.url = std::string(url);
        auto response = send(request, bound);
        core::Error error;
        if (!response.ok()) {
            error = response.error();
            if (!error.retryable) {  // e.g. TLS verification: retrying cannot help
                return error;
            }
        } else if (is_success(response->status)) {
            return response;
        } else {
            error = response_to_error(*response);
            if (response->status < 500 && response->status != 429) {
                return error;
            }
        }
        TRY(wait_to_retry(error, transient, bound, "GET " + std::string(url)));
    }
}

core::Status Transport::wait_to_retry(const core::Error& error, int& attempts, const Bound& bound,
                                      std::string_view what) const {
    if (++attempts > options_.max_transient_retries) {
        return error;
    }
    const bool asked = error.retry_after.count() > 0;
    const milliseconds wait = asked ? error.retry_after : core::backoff_delay(core::RetryPolicy{}, attempts - 1);
    if (asked && (wait > options_.max_retry_after || wait >= bound.at.remaining())) {
        // Waiting cannot help within this run: say when the CA will listen again.
        core::Error out = error;
        const bool past_bound = wait <= options_.max_retry_after && !bound.name.empty();
        out.message += " (Retry-After " + std::to_string(wait.count() / 1000) +
                       " s: " + (past_bound ? "beyond " + bound.name : std::string("longer than this run may wait")) +
                       ")";
        return out;
    }
    if (wait >= bound.at.remaining()) {
        return error;  // the bound would cut the backoff short: the last error says more
    }
    if (asked) {
        core::log::info("acme: server asked to retry later, waiting", {{"request", std::string(what)},
                                                                       {"retry_after_ms", std::to_string(wait.count())},
                                                                       {"error", error.message}});
    } else {
        core::log::debug("acme: retrying", {{"request", std::string(what)}, {"error", error.message}});
    }
    return core::sleep_for(wait, bound.at);
}

core::Result<std::string> Transport::nonce(const core::Deadline& deadline) { return nonce_within(bound(deadline)); }

core::Result<std::string> Transport::nonce_within(const Bound& bound) {
    if (auto pooled = nonces_.take()) {
        return std::move(*pooled);
    }
    // RFC 8555 §7.2: GET (or HEAD) newNonce answers with a Replay-Nonce.
    core::http::Request request;
    request.method = "GET";
    request.url = directory_.new_nonce;
    int transient = 0;
    for (;;) {
        // This response's own nonce: through the shared pool another thread
        // could take it first.
        auto response = send(request, bound, PoolNonce::no);
        if (response.ok() && is_success(response->status)) {
            std::string fresh = response->header("replay-nonce");
            if (!fresh.empty()) {
                return fresh;
            }
            return core::make_error(core::ErrorKind::protocol, "newNonce answered without a Replay-Nonce header");
        }
        core::Error error = response.ok() ? response_to_error(*response) : response.error();
        if (response.ok()) {
            nonces_.put(response->header("replay-nonce"));
        }
        const bool transient_error = !response.ok() ? error.retryable : response->status >= 500;
        if (!transient_error) {
            return error.wrap("newNonce");
        }
        auto again = wait_to_retry(error, transient, bound, "newNonce");
        if (!again.ok()) {
            return again.error().wrap("newNonce");
        }
    }
}

core::Result<core::http::Response> Transport::post(const Signer& signer, std::string_view url, std::string_view payload,
                                                   const core::Deadline& deadline, const core::http::Headers& extra) {
    const Bound within = bound(deadline);
    int bad_nonces = 0;
    int transient = 0;
    for (;;) {
        TRY(check_time(within.at, within.name, "POST " + std::string(url)));
        TRY_ASSIGN(const std::string fresh, nonce_within(within));
        TRY_ASSIGN(const Json jws, sign_jws(signer, fresh, url, payload));
        core::http::Request request;
        request.method = "POST";
        request.url = std::string(url);
        request.headers = {{"Content-Type", "application/jose+json"}};
        request.headers.insert(request.headers.end(), extra.begin(), extra.end());
        request.body = jws.dump();
        auto response = send(std::move(request), within);
        if (!response.ok()) {
            if (!response.error().retryable) {
                return response.error();
            }
            TRY(wait_to_retry(response.error(), transient, within, "POST " + std::string(url)));
            continue;
        }
        if (is_success(response->status)) {
            return response;
        }
        core::Error error = response_to_error(*response);
        // RFC 8555 §6.5: retry badNonce with the nonce of the error response
        // (already in the pool), transparently and boundedly.
        if (error.code == "badNonce") {
            if (++bad_nonces > options_.max_bad_nonce_retries) {
                return error;
            }
            core::log::debug("acme: badNonce, retrying", {{"url", std::string(url)}});
            continue;
        }
        if (!transient_answer(response->status, error)) {
            return error;
        }
        TRY(wait_to_retry(error, transient, within, "POST " + std::string(url)));
    }
}

}  // namespace acme
