// HTTP client over libcurl: one Client per thread, reusing its connection
// (keep-alive) across calls. TLS verification is always on; a custom CA bundle
// may be given (Pebble, the local AWS-compatible service).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace core::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
    std::string method = "GET";
    std::string url;
    Headers headers;  // sent as given; Content-Length is set by the client
    std::string body;
    // Overrides the client's total timeout for this request when set; the
    // connect timeout is never longer than it.
    std::optional<std::chrono::milliseconds> timeout;
    // What `timeout` stands for, named in the timeout error so the operator
    // knows which setting to change (e.g. "--timeout 5 s"); empty: the limit alone.
    std::string timeout_name;
};

struct Response {
    long status = 0;
    Headers headers;  // names lower-cased, in arrival order (final response only)
    std::string body;

    // First header with this name (case-insensitive), or empty.
    std::string header(std::string_view name) const;
    // All headers with this name (e.g. several Link headers).
    std::vector<std::string> headers_named(std::string_view name) const;
};

struct ClientOptions {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds total_timeout{60'000};
    // PEM file of extra trusted roots, added to the system's (curl's default
    // bundle, or SSL_CERT_FILE / SSL_CERT_DIR when set): a private CA such as
    // Pebble's joins the public ones. Empty = the system roots alone.
    std::string ca_bundle;
    std::string user_agent;  // empty = "renewer/<version>"
    // Never through a proxy, whatever http_proxy/https_proxy say: link-local
    // credential endpoints (IMDS, the ECS agent) answer only the host itself,
    // and a proxy would see the credentials (docs/deployment.md, web hosts).
    bool direct = false;
};

// A single HTTP/1.1 connection owner. Not thread-safe: use one per thread.
// Errors: ErrorKind::timeout for connect/total timeouts (the message names the
// limit that was hit: "no answer within 5 s (--timeout 5 s)" or "... (connect
// timeout)"), ErrorKind::network for
// everything else below HTTP (refused, reset, TLS; TLS failures are not
// retryable), ErrorKind::cancelled when core::cancel() interrupts a transfer,
// ErrorKind::invalid_input for bad URLs, headers or an unusable ca_bundle.
// Any HTTP status is a successful Response; callers decide what a status means.
// Redirects are never followed; only http and https are allowed; proxies
// come from the usual environment variables (https_proxy, no_proxy) unless
// ClientOptions::direct.
class Client {
public:
    explicit Client(ClientOptions options = {});
    ~Client();
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    Result<Response> send(const Request& request);

    const ClientOptions& options() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Percent-encodes per RFC 3986 (unreserved characters kept). With
// `keep_slash`, '/' is kept too (URI paths).
std::string url_encode(std::string_view text, bool keep_slash = false);

struct Url {
    std::string scheme;  // lower-case
    std::string host;    // without brackets for IPv6
    int port = 0;        // explicit or scheme default
    std::string path;    // "/" when empty, raw (not decoded)
    std::string query;   // without '?', raw
};
Result<Url> parse_url(std::string_view url);

}  // namespace core::http
