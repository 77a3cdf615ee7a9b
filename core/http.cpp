#include "core/http.hpp"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>

#include "core/c_handle.hpp"
#include "core/retry.hpp"
#include "core/text.hpp"
#include "version.hpp"

namespace core::http {

namespace {

// Guards against a peer streaming an endless body into memory.
constexpr std::size_t k_max_body = std::size_t{64} * 1024 * 1024;

using CurlHandle = CHandle<CURL, curl_easy_cleanup>;
using Slist = CHandle<curl_slist, curl_slist_free_all>;

CURLcode global_init() {
    static std::once_flag once;
    static CURLcode result = CURLE_OK;
    std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
    return result;
}

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool has_crlf(std::string_view text) { return text.find_first_of("\r\n") != std::string_view::npos; }

// What the callbacks fill during one transfer.
struct Transfer {
    Response response;
    bool body_too_large = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t n = size * count;
    if (transfer->response.body.size() + n > k_max_body) {
        transfer->body_too_large = true;
        return 0;  // makes curl fail with CURLE_WRITE_ERROR
    }
    transfer->response.body.append(data, n);
    return n;
}

// Called once per header line of every response, interim (1xx) ones included:
// a status line starts a new header block, so only the final one remains.
size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t n = size * count;
    const std::string_view line(data, n);
    Headers& headers = transfer->response.headers;
    if (line.starts_with("HTTP/")) {
        headers.clear();
        return n;
    }
    const std::string_view content = trim(line);
    if (content.empty()) {
        return n;  // end of a header block
    }
    if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {
        // obs-fold continuation (RFC 9112 §5.2): joined with one space.
        headers.back().second += ' ';
        headers.back().second += content;
        return n;
    }
    const auto colon = content.find(':');
    if (colon == std::string_view::npos) {
        return n;  // not a header; ignore rather than fail the transfer
    }
    headers.emplace_back(ascii_lower(trim(content.substr(0, colon))), std::string(trim(content.substr(colon + 1))));
    return n;
}

// Aborts a transfer in progress when the run is cancelled (SIGTERM).
int on_progress(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) { return core::cancelled() ? 1 : 0; }

// The URL without its query (which may carry signatures) for messages.
std::string describe(const Request& request) {
    const auto url = parse_url(request.url);
    if (!url.ok()) {
        return request.method + " " + request.url.substr(0, request.url.find('?'));
    }
    const bool v6 = url->host.find(':') != std::string::npos;
    const bool default_port =
        (url->scheme == "http" && url->port == 80) || (url->scheme == "https" && url->port == 443);
    return request.method + " " + url->scheme + "://" + (v6 ? "[" + url->host + "]" : url->host) +
           (default_port ? "" : ":" + std::to_string(url->port)) + url->path;
}

// The time limits of one transfer (0 = none) and how long it ran.
struct Limits {
    std::chrono::milliseconds total{0};
    std::chrono::milliseconds connect{0};
    std::chrono::milliseconds elapsed{0};
};

// "5 s", "2.5 s", "250 ms": limits as an operator sets them. Seconds are
// rounded to a tenth: a limit derived from a deadline is a few ms short.
std::string duration_text(std::chrono::milliseconds limit) {
    auto ms = limit.count();
    if (ms < 1000) {
        return std::to_string(ms) + " ms";
    }
    ms = (ms + 50) / 100 * 100;
    return std::to_string(ms / 1000) + (ms % 1000 == 0 ? "" : "." + std::to_string(ms % 1000 / 100)) + " s";
}

// Which limit a timed-out transfer hit: the connect timeout (curl's connect
// phase includes the TLS handshake) when the transfer ended before its total
// timeout, else the total timeout, named as the caller named it.
std::string timeout_message(const Request& request, const Limits& limits) {
    const bool connect_hit =
        limits.connect.count() > 0 &&
        (limits.total.count() == 0 || (limits.connect < limits.total && limits.elapsed < limits.total));
    if (connect_hit) {
        return "no connection within " + duration_text(limits.connect) + " (connect timeout)";
    }
    std::string text = "no answer within " + duration_text(limits.total);
    return request.timeout_name.empty() ? text : text + " (" + request.timeout_name + ")";
}

Error transfer_error(CURLcode code, const Request& request, const char* error_buffer, const Limits& limits) {
    std::string detail = error_buffer[0] != '\0' ? std::string(error_buffer) : std::string(curl_easy_strerror(code));
    const std::string where = describe(request);
    Error error;
    switch (code) {
        case CURLE_OPERATION_TIMEDOUT:
            error.kind = ErrorKind::timeout;
            error.retryable = true;
            error.message = where + ": " + timeout_message(request, limits);
            return error;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_HTTP3:
        case CURLE_QUIC_CONNECT_ERROR:
        case CURLE_PROXY:
            error.kind = ErrorKind::network;
            error.retryable = true;
            error.message = where + ": " + detail;
            return error;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_USE_SSL_FAILED:
            // A certificate the peer cannot fix by itself on a retry.
            error.kind = ErrorKind::network;
            error.retryable = false;
            error.message = where + ": TLS failure: " + detail;
            return error;
        case CURLE_SSL_CACERT_BADFILE:
            error.kind = ErrorKind::invalid_input;
            error.message = where + ": CA bundle unusable: " + detail;
            return error;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            error.kind = ErrorKind::invalid_input;
            error.message = where + ": " + detail;
            return error;
        case CURLE_ABORTED_BY_CALLBACK:
            error.kind = ErrorKind::cancelled;
            error.message = where + ": cancelled";
            return error;
        case CURLE_OUT_OF_MEMORY:
            error.kind = ErrorKind::internal;
            error.message = where + ": " + detail;
            return error;
        default:
            error.kind = ErrorKind::network;
            error.message = where + ": " + detail;
            return error;
    }
}

// CURLOPT_SSL_CTX_FUNCTION: curl has set the system roots up in the
// context's store (a file loaded, or a folder to look in); the extra roots of
// ClientOptions::ca_bundle join them.
CURLcode add_extra_roots(CURL* /*curl*/, void* ssl_ctx, void* path) {
    X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
    if (store == nullptr || X509_STORE_load_file(store, static_cast<const std::string*>(path)->c_str()) != 1) {
        ERR_clear_error();
        return CURLE_SSL_CACERT_BADFILE;
    }
    return CURLE_OK;
}

// The file curl loads the system roots from: SSL_CERT_FILE, else curl's
// built-in default (/etc/ssl/certs/ca-certificates.crt on Debian).
bool system_ca_file_exists() {
    const char* file = std::getenv("SSL_CERT_FILE");
    if (file == nullptr || *file == '\0') {
        file = curl_version_info(CURLVERSION_NOW)->cainfo;
    }
    return file == nullptr || std::filesystem::exists(file);
}

// A name openssl rehash gives a root's link: 8 hex digits of the subject
// hash, '.', a number.
bool is_hash_link(const std::string& name) {
    const auto dot = name.find('.');
    return dot == 8 && name.size() > 9 &&
           std::all_of(name.begin(), name.begin() + 8,
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }) &&
           std::all_of(name.begin() + 9, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// curl's default folder of the system roots (/etc/ssl/certs on Debian) when
// it holds rehashed links; empty otherwise. Looked at once per process.
const std::string& system_ca_dir() {
    static const std::string dir = [] {
        const char* path = curl_version_info(CURLVERSION_NOW)->capath;
        if (path == nullptr) {
            return std::string();
        }
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
            if (is_hash_link(entry.path().filename().string())) {
                return std::string(path);
            }
        }
        return std::string();
    }();
    return dir;
}

// An environment variable, or `fallback` when it is unset or empty.
std::string env_or_default(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? std::string(value) : std::string(fallback == nullptr ? "" : fallback);
}

// Where the system roots come from: the file and folder SSL_CERT_FILE /
// SSL_CERT_DIR name (OpenSSL's variables), else curl's defaults. When that is
// curl's default bundle and its rehashed default folder (the same roots:
// update-ca-certificates writes both), the folder alone, in which OpenSSL
// opens only the root a chain names (by subject hash): parsing the whole
// bundle (about 140 PEM roots) cost 25-45 ms of CPU per connection
// (bench/analysis.md). True when the roots come from that folder alone.
bool system_roots(CURL* curl) {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    const std::string file = env_or_default("SSL_CERT_FILE", info->cainfo);
    const std::string dir = env_or_default("SSL_CERT_DIR", info->capath);
    if (!system_ca_dir().empty() && dir == system_ca_dir() &&
        (file.empty() || (info->cainfo != nullptr && file == info->cainfo))) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, static_cast<const char*>(nullptr));
        curl_easy_setopt(curl, CURLOPT_CAPATH, dir.c_str());
        return true;
    }
    if (!file.empty()) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, file.c_str());
    }
    if (!dir.empty()) {
        curl_easy_setopt(curl, CURLOPT_CAPATH, dir.c_str());
    }
    return false;
}

// The system roots (above); ca_bundle adds to them (docs/configuration.md).
// Options a curl_easy_reset() cleared are set again.
void trust_roots(CURL* curl, const ClientOptions& options) {
    const bool from_dir = system_roots(curl);
    if (options.ca_bundle.empty()) {
        return;
    }
    if (!from_dir && !system_ca_file_exists()) {
        // A minimal image without ca-certificates: curl would refuse the
        // missing default file, and the extra roots are all there is.
        curl_easy_setopt(curl, CURLOPT_CAINFO, options.ca_bundle.c_str());
        return;
    }
    // curl shares a loaded store between connections for a day; the extra
    // roots are added per connection to a store of this handle's own.
    curl_easy_setopt(curl, CURLOPT_CA_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, add_extra_roots);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &options.ca_bundle);
}

bool is_unreserved(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

}  // namespace

std::string Response::header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) {
            return value;
        }
    }
    return {};
}

std::vector<std::string> Response::headers_named(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [key, value] : headers) {
        if (iequals(key, name)) {
            values.push_back(value);
        }
    }
    return values;
}

struct Client::Impl {
    ClientOptions options;
    CurlHandle handle;
    std::array<char, CURL_ERROR_SIZE> error_buffer{};
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    if (impl_->options.user_agent.empty()) {
        impl_->options.user_agent = std::string("renewer/") + RENEWER_VERSION;
    }
    if (global_init() == CURLE_OK) {
        // The handle owns the connection cache; it lives as long as the Client.
        impl_->handle.reset(curl_easy_init());
    }
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const ClientOptions& Client::options() const { return impl_->options; }

Result<Response> Client::send(const Request& request) {
    if (!impl_ || !impl_->handle) {
        return make_error(ErrorKind::internal, "HTTP client unavailable (libcurl initialisation failed)");
    }
    if (core::cancelled()) {
        return make_error(ErrorKind::cancelled, describe(request) + ": cancelled");
    }
    if (request.method.empty() || has_crlf(request.method) || request.method.find(' ') != std::string::npos) {
        return make_error(ErrorKind::invalid_input, "invalid HTTP method '" + request.method + "'");
    }
    TRY_ASSIGN(const Url url, parse_url(request.url));
    if (url.scheme != "http" && url.scheme != "https") {
        return make_error(ErrorKind::invalid_input,
                          "unsupported URL scheme '" + url.scheme + "' in " + describe(request));
    }

    Slist header_list;
    const auto append = [&header_list](const std::string& line) {
        curl_slist* grown = curl_slist_append(header_list.get(), line.c_str());
        if (grown == nullptr) {
            return false;
        }
        (void)header_list.release();  // now owned by `grown`
        header_list.reset(grown);
        return true;
    };
    bool has_content_type = false;
    for (const auto& [name, value] : request.headers) {
        if (name.empty() || has_crlf(name) || has_crlf(value) || name.find(':') != std::string::npos) {
            return make_error(ErrorKind::invalid_input, "invalid HTTP header '" + name + "'");
        }
        if (iequals(name, "content-length")) {
            continue;  // set by curl from the body
        }
        has_content_type = has_content_type || iequals(name, "content-type");
        // "Name;" is curl's way to send a header with an empty value.
        if (!append(value.empty() ? name + ";" : name + ": " + value)) {
            return make_error(ErrorKind::internal, "out of memory building headers");
        }
    }
    // No 100-continue round trip: servers we talk to answer at once, and the
    // extra wait would only add latency (and confuse some proxies).
    bool ok = append("Expect:");
    // Without this curl labels every POST body as a form.
    if (!has_content_type) {
        ok = ok && append("Content-Type:");
    }
    if (!ok) {
        return make_error(ErrorKind::internal, "out of memory building headers");
    }

    CURL* curl = impl_->handle.get();
    // Reset clears the previous request's options but keeps live connections.
    curl_easy_reset(curl);
    impl_->error_buffer[0] = '\0';
    Transfer transfer;
    const auto& options = impl_->options;
    const std::chrono::milliseconds timeout = request.timeout.value_or(options.total_timeout);

    curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    if (options.direct) {
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts in threads
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    // The connect timeout never outlasts the request's own (0 = no total limit).
    const std::chrono::milliseconds connect_timeout =
        timeout.count() > 0 ? std::min(options.connect_timeout, timeout) : options.connect_timeout;
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    trust_roots(curl, options);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, options.user_agent.c_str());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, impl_->error_buffer.data());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());

    const std::string& method = request.method;
    if (method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (method == "GET" && request.body.empty()) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (!request.body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        // POSTFIELDS sends the body as is, with its Content-Length; the
        // method word is replaced for anything but POST.
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
        if (method != "POST") {
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
        }
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    }

    const CURLcode code = curl_easy_perform(curl);
    // The slist and body are ours; do not leave curl holding dangling pointers.
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
    if (code != CURLE_OK) {
        if (code == CURLE_WRITE_ERROR && transfer.body_too_large) {
            return make_error(ErrorKind::protocol, describe(request) + ": response body larger than " +
                                                       std::to_string(k_max_body) + " bytes");
        }
        curl_off_t elapsed_us = 0;
        curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &elapsed_us);
        const Limits limits{timeout, connect_timeout, std::chrono::milliseconds(elapsed_us / 1000)};
        return transfer_error(code, request, impl_->error_buffer.data(), limits);
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    transfer.response.status = status;
    return std::move(transfer.response);
}

std::string url_encode(std::string_view text, bool keep_slash) {
    static constexpr std::string_view k_hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3);
    for (const char c : text) {
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            out += c;
        } else {
            const auto byte = static_cast<unsigned char>(c);
            out += '%';
            out += k_hex[byte >> 4];
            out += k_hex[byte & 0x0F];
        }
    }
    return out;
}

Result<Url> parse_url(std::string_view text) {
    const auto invalid = [&text](const std::string& why) {
        return make_error(ErrorKind::invalid_input, "invalid URL '" + std::string(text) + "': " + why);
    };
    const auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos || scheme_end == 0) {
        return invalid("missing scheme");
    }
    Url url;
    url.scheme = ascii_lower(text.substr(0, scheme_end));
    if (!std::isalpha(static_cast<unsigned char>(url.scheme[0])) ||
        !std::all_of(url.scheme.begin(), url.scheme.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
        })) {
        return invalid("bad scheme");
    }
    std::string_view rest = text.substr(scheme_end + 3);
    const auto fragment = rest.find('#');
    if (fragment != std::string_view::npos) {
        rest = rest.substr(0, fragment);
    }
    const auto authority_end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, authority_end);
    const std::string_view path_and_query =
        authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    // userinfo is dropped; it never belongs in a request line.
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        authority.remove_prefix(at + 1);
    }

    std::string_view port_text;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return invalid("unterminated IPv6 address");
        }
        url.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                return invalid("junk after IPv6 address");
            }
            port_text = after.substr(1);
        }
    } else {
        const auto colon = authority.rfind(':');
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
        }
    }
    if (url.host.empty()) {
        return invalid("missing host");
    }
    if (!port_text.empty()) {
        if (port_text.size() > 5 ||
            !std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return invalid("bad port");
        }
        url.port = std::stoi(std::string(port_text));
        if (url.port < 1 || url.port > 65535) {
            return invalid("port out of range");
        }
    } else if (url.scheme == "http") {
        url.port = 80;
    } else if (url.scheme == "https") {
        url.port = 443;
    } else {
        return invalid("no port and no default port for scheme '" + url.scheme + "'");
    }

    const auto question = path_and_query.find('?');
    url.path = std::string(path_and_query.substr(0, question));
    if (url.path.empty()) {
        url.path = "/";
    }
    if (question != std::string_view::npos) {
        url.query = std::string(path_and_query.substr(question + 1));
    }
    return url;
}

}  // namespace core::http
