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

core::Status check_time(const core::Deadline& deadline, std::string_view what) {
    if (core::cancelled()) {
        return core::make_error(core::ErrorKind::cancelled, std::string(what) + ": cancelled");
    }
    if (deadline.expired()) {
        return core::make_error(core::ErrorKind::timeout, std::string(what) + ": deadline reached");
    }
    return {};
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

core::Result<core::http::Response> Transport::send(core::http::Request request, const core::Deadline& deadline) {
    TRY(check_time(deadline, request.method + " " + request.url));
    const milliseconds remaining = deadline.remaining();
    const milliseconds client_total = options_.http.total_timeout;
    request.timeout = std::min(remaining, client_total);

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
    nonces_.put(response->header("replay-nonce"));
    core::log::trace("acme: http",
                     {{"method", request.method}, {"url", request.url}, {"status", std::to_string(response->status)}});
    return response;
}

core::Result<core::http::Response> Transport::get(std::string_view url, const core::Deadline& deadline) {
    int transient = 0;
    for (;;) {
        core::http::Request request;
        request.method = "GET";
        request.url = std::string(url);
        auto response = send(request, deadline);
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
        if (++transient > options_.max_transient_retries) {
            return error;
        }
        milliseconds wait =
            error.retry_after.count() > 0 ? error.retry_after : core::backoff_delay(core::RetryPolicy{}, transient - 1);
        if (wait > options_.max_retry_after || wait >= deadline.remaining()) {
            return error;
        }
        core::log::debug("acme: retrying GET", {{"url", std::string(url)}, {"error", error.message}});
        TRY(core::sleep_for(wait, deadline));
    }
}

core::Result<std::string> Transport::nonce(const core::Deadline& deadline) {
    if (auto pooled = nonces_.take()) {
        return std::move(*pooled);
    }
    // RFC 8555 §7.2: GET (or HEAD) newNonce answers with a Replay-Nonce.
    core::http::Request request;
    request.method = "GET";
    request.url = directory_.new_nonce;
    int transient = 0;
    for (;;) {
        auto response = send(request, deadline);
        if (response.ok() && is_success(response->status)) {
            if (auto fresh = nonces_.take()) {
                return std::move(*fresh);
            }
            return core::make_error(core::ErrorKind::protocol, "newNonce answered without a Replay-Nonce header");
        }
        core::Error error = response.ok() ? response_to_error(*response) : response.error();
        const bool transient_error = !response.ok() ? error.retryable : response->status >= 500;
        if (!transient_error || ++transient > options_.max_transient_retries) {
            return error.wrap("newNonce");
        }
        TRY(core::sleep_for(core::backoff_delay(core::RetryPolicy{}, transient - 1), deadline));
    }
}

core::Result<core::http::Response> Transport::post(const Signer& signer, std::string_view url, std::string_view payload,
                                                   const core::Deadline& deadline, const core::http::Headers& extra) {
    int bad_nonces = 0;
    int transient = 0;
    for (;;) {
        TRY(check_time(deadline, "POST " + std::string(url)));
        TRY_ASSIGN(const std::string fresh, nonce(deadline));
        TRY_ASSIGN(const Json jws, sign_jws(signer, fresh, url, payload));
        core::http::Request request;
        request.method = "POST";
        request.url = std::string(url);
        request.headers = {{"Content-Type", "application/jose+json"}};
        request.headers.insert(request.headers.end(), extra.begin(), extra.end());
        request.body = jws.dump();
        auto response = send(std::move(request), deadline);
        if (!response.ok()) {
            const core::Error& error = response.error();
            if (!error.retryable || ++transient > options_.max_transient_retries) {
                return error;
            }
            TRY(core::sleep_for(core::backoff_delay(core::RetryPolicy{}, transient - 1), deadline));
            continue;
        }
        if (is_success(response->status)) {
            return response;
        }
        core::Error error = response_to_error(*response);
        // RFC 8555 §6.5: retry badNonce with the nonce of the error response
        // (already in the pool), transparently and boundedly.
        if (error.code == "badNonce" && ++bad_nonces <= options_.max_bad_nonce_retries) {
            core::log::debug("acme: badNonce, retrying", {{"url", std::string(url)}});
            continue;
        }
        // RFC 8555 §6.6 / RFC 9110 §10.2.3: 503 and 429 may say when to come back.
        const bool may_wait = response->status == 503 || response->status == 429 || error.code == "rateLimited";
        if (may_wait && error.retry_after.count() > 0 && error.retry_after <= options_.max_retry_after &&
            error.retry_after < deadline.remaining() && ++transient <= options_.max_transient_retries) {
            core::log::info("acme: server asked to retry later, waiting",
                            {{"url", std::string(url)},
                             {"retry_after_ms", std::to_string(error.retry_after.count())},
                             {"error", error.message}});
            TRY(core::sleep_for(error.retry_after, deadline));
            continue;
        }
        if (response->status >= 500 && response->status != 503 && error.code != "badNonce" &&
            ++transient <= options_.max_transient_retries) {
            TRY(core::sleep_for(core::backoff_delay(core::RetryPolicy{}, transient - 1), deadline));
            continue;
        }
        return error;
    }
}

}  // namespace acme
