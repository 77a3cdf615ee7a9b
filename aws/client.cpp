// The three AWS call shapes over one signed, retried request path.
#include "aws/client.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include "aws/errors.hpp"
#include "aws/sigv4.hpp"
#include "core/http.hpp"
#include "core/log.hpp"

namespace aws {
namespace {

// Region every global service (Route53) is signed for (its credentialScope
// in the SDKs' endpoint rules).
constexpr const char* k_global_signing_region = "us-east-1";

std::string encode(std::string_view text) { return core::http::url_encode(text); }

std::string form_encode(const Params& params) {
    std::string out;
    for (const auto& [key, value] : params) {
        if (!out.empty()) {
            out += '&';
        }
        out += encode(key);
        out += '=';
        out += encode(value);
    }
    return out;
}

// Secrets Manager bodies hold private keys; STS bodies hold secret keys.
bool may_log_bodies(const Service& service) {
    const std::string_view name = service.signing_name;
    // DynamoDB items hold the certificate bundle with its private key.
    return name != "secretsmanager" && name != "sts" && name != "dynamodb";
}

// Route53's REST paths -> API names, for messages (the 5-argument rest_xml).
std::string rest_action_name(const Service& service, std::string_view method, std::string_view path) {
    std::string_view rest = path;
    if (std::string_view(service.signing_name) == "route53") {
        const std::string version_prefix = "/" + std::string(service.api_version) + "/";
        if (rest.starts_with(version_prefix)) {
            rest.remove_prefix(version_prefix.size());
            while (!rest.empty() && rest.back() == '/') {
                rest.remove_suffix(1);
            }
            const std::size_t slashes = static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '/'));
            if (rest == "hostedzonesbyname") {
                return "ListHostedZonesByName";
            }
            if (rest == "hostedzone") {
                return method == "POST" ? "CreateHostedZone" : "ListHostedZones";
            }
            if (rest.starts_with("hostedzone/") && slashes == 1) {
                return method == "DELETE" ? "DeleteHostedZone" : "GetHostedZone";
            }
            if (rest.starts_with("hostedzone/") && rest.ends_with("/rrset")) {
                return method == "POST" ? "ChangeResourceRecordSets" : "ListResourceRecordSets";
            }
            if (rest.starts_with("change/")) {
                return "GetChange";
            }
        }
    }
    return std::string(method) + " " + std::string(path);
}

std::string host_header(const core::http::Url& url) {
    std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    const bool default_port = (url.scheme == "https" && url.port == 443) || (url.scheme == "http" && url.port == 80);
    if (!default_port && url.port != 0) {
        host += ":" + std::to_string(url.port);
    }
    return host;
}

struct Call {
    Protocol protocol = Protocol::query;
    std::string action;
    std::string method = "POST";
    std::string path = "/";  // relative to the endpoint's own path
    std::string query;       // encoded
    std::string content_type;
    std::string target;  // X-Amz-Target
    std::string body;
};

}  // namespace

struct Client::Impl {
    ClientSettings settings;
    std::string region;
    core::http::Client http;
    std::map<std::string, std::string> endpoints;  // signing name -> URL

    explicit Impl(ClientSettings s) : settings(std::move(s)), http(settings.http) {
        region = settings.region.empty() ? resolve_region() : settings.region;
        if (!settings.credentials) {
            settings.credentials = default_credentials_chain();
        }
    }

    const std::string& endpoint(const Service& service) {
        auto it = endpoints.find(service.signing_name);
        if (it == endpoints.end()) {
            it = endpoints.emplace(service.signing_name, resolve_endpoint(service, region)).first;
        }
        return it->second;
    }

    core::Result<std::string> execute(const Service& service, const Call& call);

    std::string deadline_text() const {
        return settings.deadline_name.empty() ? std::string("the deadline")
                                              : "the deadline (" + settings.deadline_name + ")";
    }
    // The error of a call that may not start: settings.deadline has passed.
    std::optional<core::Error> past_deadline(const std::string& service_name, const std::string& action) const {
        if (!settings.deadline.expired()) {
            return std::nullopt;
        }
        return core::make_error(core::ErrorKind::timeout,
                                service_name + " " + action + ": not sent: " + deadline_text() + " has passed");
    }
    core::Result<core::http::Response> attempt(const Service& service, const Call& call, const core::http::Url& base,
                                               const Credentials& credentials);
};

core::Result<core::http::Response> Client::Impl::attempt(const Service& service, const Call& call,
                                                         const core::http::Url& base, const Credentials& credentials) {
    std::string path = base.path == "/" ? std::string() : base.path;
    while (!path.empty() && path.back() == '/') {
        path.pop_back();
    }
    path += call.path;

    sigv4::Request request;
    request.method = call.method;
    request.path = path;
    request.query = call.query;
    request.body = call.body;
    request.headers.emplace_back("Host", host_header(base));
    if (!call.content_type.empty()) {
        request.headers.emplace_back("Content-Type", call.content_type);
    }
    if (!call.target.empty()) {
        request.headers.emplace_back("X-Amz-Target", call.target);
    }

    core::http::Request http_request;
    http_request.method = call.method;
    http_request.url = base.scheme + "://" + host_header(base) + path + (call.query.empty() ? "" : "?" + call.query);
    http_request.headers = request.headers;
    http_request.body = call.body;
    if (settings.deadline.remaining() < settings.http.total_timeout) {
        http_request.timeout = std::max(core::milliseconds(1), settings.deadline.remaining());
        http_request.timeout_name = settings.deadline_name.empty() ? "the deadline" : settings.deadline_name;
    }

    if (!credentials.access_key_id.empty()) {
        sigv4::SigningParams params;
        params.access_key_id = credentials.access_key_id;
        params.secret_access_key = credentials.secret_access_key;
        params.session_token = credentials.session_token;
        params.region = service.global ? k_global_signing_region : region;
        params.service = service.signing_name;
        params.time = std::chrono::system_clock::now();
        const sigv4::Signature signature = sigv4::sign(request, params);
        for (const auto& header : signature.added_headers) {
            http_request.headers.push_back(header);
        }
    }
    return http.send(http_request);
}

core::Result<std::string> Client::Impl::execute(const Service& service, const Call& call) {
    const std::string service_name = service.signing_name;
    auto parsed_endpoint = core::http::parse_url(endpoint(service));
    if (!parsed_endpoint) {
        core::Error error =
            parsed_endpoint.error().wrap(service_name + " " + call.action + ": endpoint " + endpoint(service));
        error.kind = core::ErrorKind::invalid_input;
        return error;
    }
    const core::http::Url base = std::move(parsed_endpoint).value();

    const core::RetryPolicy& policy = settings.retry;
    const int max_attempts = policy.max_attempts < 1 ? 1 : policy.max_attempts;
    bool refreshed_credentials = false;
    int retries = 0;
    for (int attempt_number = 1;; ++attempt_number) {
        if (auto late = past_deadline(service_name, call.action)) {
            return *late;
        }
        if (settings.rate_limiter) {
            if (auto acquired = settings.rate_limiter->acquire(settings.deadline); !acquired) {
                return acquired.error().wrap(service_name + " " + call.action);
            }
        }
        auto credentials = settings.credentials->get();
        if (!credentials) {
            return credentials.error().wrap(service_name + " " + call.action + ": credentials");
        }
        const auto started = core::Clock::now();
        auto response = attempt(service, call, base, *credentials);
        const auto elapsed = std::chrono::duration_cast<core::milliseconds>(core::Clock::now() - started);

        core::Error error;
        if (!response) {
            error = transport_error(response.error(), service_name, call.action);
            core::log::debug("aws call failed", {{"service", service_name},
                                                 {"action", call.action},
                                                 {"attempt", std::to_string(attempt_number)},
                                                 {"duration_ms", std::to_string(elapsed.count())},
                                                 {"error", error.message}});
        } else {
            core::log::debug("aws call", {{"service", service_name},
                                          {"action", call.action},
                                          {"status", std::to_string(response->status)},
                                          {"attempt", std::to_string(attempt_number)},
                                          {"duration_ms", std::to_string(elapsed.count())}});
            if (may_log_bodies(service) && core::log::enabled(core::log::Level::trace)) {
                core::log::trace(
                    "aws response body",
                    {{"service", service_name}, {"action", call.action}, {"body", core::log::redact(response->body)}});
            }
            if (response->status >= 200 && response->status < 300) {
                return std::move(response->body);
            }
            error = parse_error(call.protocol, *response, service_name, call.action);
        }

        // ExpiredToken & co: the cached credentials went stale; refresh once.
        if (is_expired_credentials_code(error.code) && !refreshed_credentials) {
            refreshed_credentials = true;
            settings.credentials->invalidate();
            --attempt_number;  // the refresh retry is on top of the budget
            continue;
        }
        if (!error.retryable || attempt_number >= max_attempts) {
            if (attempt_number > 1 && error.retryable) {
                error.message += " (gave up after " + std::to_string(attempt_number) + " attempts)";
            }
            return error;
        }
        core::milliseconds delay = core::backoff_delay(policy, retries++);
        if (error.retry_after.count() > 0) {
            if (error.retry_after > policy.max_retry_after) {
                return error;
            }
            delay = std::max(delay, error.retry_after);
        }
        if (settings.deadline.remaining() <= delay) {
            error.message += " (no retry: " + deadline_text() + " comes first)";
            return error;
        }
        core::log::debug("aws call retry", {{"service", service_name},
                                            {"action", call.action},
                                            {"code", error.code},
                                            {"delay_ms", std::to_string(delay.count())}});
        if (auto slept = core::sleep_for(delay); !slept) {
            return slept.error().wrap(service_name + " " + call.action);
        }
    }
}

Client::Client(ClientSettings settings) : impl_(std::make_unique<Impl>(std::move(settings))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const std::string& Client::region() const { return impl_->region; }

// Query protocol: form-encoded POST of Action, Version and the parameters.
core::Result<std::string> Client::query(const Service& service, std::string_view action, const Params& params) {
    Call call;
    call.protocol = Protocol::query;
    call.action = std::string(action);
    Params all;
    all.reserve(params.size() + 2);
    all.emplace_back("Action", std::string(action));
    all.emplace_back("Version", service.api_version);
    all.insert(all.end(), params.begin(), params.end());
    call.body = form_encode(all);
    call.content_type = "application/x-www-form-urlencoded; charset=utf-8";
    return impl_->execute(service, call);
}

// JSON 1.1: POST / with X-Amz-Target "<target prefix>.<Action>".
core::Result<nlohmann::json> Client::json(const Service& service, std::string_view action, const nlohmann::json& body) {
    Call call;
    call.protocol = Protocol::json;
    call.action = std::string(action);
    call.content_type = std::string("application/x-amz-json-") + service.json_version;
    call.target = std::string(service.json_target == nullptr ? "" : service.json_target) + "." + std::string(action);
    call.body = body.is_null() ? std::string("{}") : body.dump();
    TRY_ASSIGN(std::string text, impl_->execute(service, call));
    if (text.empty()) {
        return nlohmann::json::object();
    }
    nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
    if (parsed.is_discarded()) {
        return core::make_error(core::ErrorKind::protocol,
                                std::string(service.signing_name) + " " + call.action + ": response is not JSON");
    }
    return parsed;
}

core::Result<std::string> Client::rest_xml(const Service& service, std::string_view method, std::string_view path,
                                           const Params& query, std::string_view body) {
    return rest_xml(service, rest_action_name(service, method, path), method, path, query, body);
}

core::Result<std::string> Client::rest_xml(const Service& service, std::string_view action, std::string_view method,
                                           std::string_view path, const Params& query, std::string_view body) {
    Call call;
    call.protocol = Protocol::rest_xml;
    call.action = std::string(action);
    call.method = std::string(method);
    call.path = path.empty() ? std::string("/") : std::string(path);
    call.query = form_encode(query);
    call.body = std::string(body);
    if (!call.body.empty()) {
        call.content_type = "text/xml";
    }
    return impl_->execute(service, call);
}

}  // namespace aws
