// AWS Signature Version 4, header and query (presigned) forms.
// Reference: IAM User Guide, "Create a signed AWS API request"; behaviour
// matched against aws-c-auth's test suite and botocore.auth.SigV4Auth.
#include "aws/sigv4.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <map>
#include <utility>
#include <vector>

#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/http.hpp"
#include "core/text.hpp"

namespace aws::sigv4 {
namespace {

constexpr std::array<std::string_view, 4> k_never_signed = {"authorization", "expect", "user-agent", "x-amzn-trace-id"};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::tm utc(std::chrono::system_clock::time_point time) {
    const std::time_t t = std::chrono::system_clock::to_time_t(time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return tm;
}

std::string payload_hash_of(const Request& request, const SigningParams& params) {
    if (params.payload_hash) {
        return *params.payload_hash;
    }
    // A request that declares its payload hash (S3's UNSIGNED-PAYLOAD,
    // streaming) is signed with that declaration, as botocore does.
    if (params.content_hash_header == ContentHashHeader::omit) {
        for (const auto& [name, value] : request.headers) {
            if (core::ascii_lower(name) == "x-amz-content-sha256") {
                return value;
            }
        }
    }
    if (request.body.empty()) {
        return std::string(k_empty_payload_hash);
    }
    return core::hex_encode(core::sha256(request.body));
}

// Lower-cased name -> trimmed values in request order; std::map sorts by name,
// which is the canonical order (names are ASCII).
using HeaderMap = std::map<std::string, std::vector<std::string>>;

HeaderMap headers_to_sign(const core::http::Headers& headers, const std::vector<std::string>& drop) {
    HeaderMap map;
    for (const auto& [name, value] : headers) {
        std::string key = core::ascii_lower(trim_all(name));
        if (std::find(k_never_signed.begin(), k_never_signed.end(), key) != k_never_signed.end()) {
            continue;
        }
        if (std::find(drop.begin(), drop.end(), key) != drop.end()) {
            continue;
        }
        map[key].push_back(trim_all(value));
    }
    return map;
}

void build_header_block(const HeaderMap& map, std::string& canonical_headers, std::string& signed_headers) {
    for (const auto& [name, values] : map) {
        canonical_headers += name;
        canonical_headers += ':';
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i > 0) {
                canonical_headers += ',';
            }
            canonical_headers += values[i];
        }
        canonical_headers += '\n';
        if (!signed_headers.empty()) {
            signed_headers += ';';
        }
        signed_headers += name;
    }
}

std::string join_canonical_request(const Request& request, const SigningParams& params, std::string_view query,
                                   const std::string& canonical_headers, const std::string& signed_headers,
                                   const std::string& payload_hash) {
    std::string out = request.method;
    out += '\n';
    out += canonical_uri(request.path, params.normalization, params.path_encoding);
    out += '\n';
    out += canonical_query(query);
    out += '\n';
    out += canonical_headers;
    out += '\n';
    out += signed_headers;
    out += '\n';
    out += payload_hash;
    return out;
}

std::string hmac_hex(std::string_view key, std::string_view data) {
    return core::hex_encode(core::hmac(core::DigestAlg::sha256, key, data));
}

}  // namespace

std::string amz_date(std::chrono::system_clock::time_point time) {
    const std::tm tm = utc(time);
    std::array<char, 32> buf{};
    std::strftime(buf.data(), buf.size(), "%Y%m%dT%H%M%SZ", &tm);
    return buf.data();
}

std::string scope_date(std::chrono::system_clock::time_point time) { return amz_date(time).substr(0, 8); }

std::string uri_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            const int hi = hex_value(text[i + 1]);
            const int lo = hex_value(text[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out += static_cast<char>(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out += text[i];
    }
    return out;
}

std::string remove_dot_segments(std::string_view path) {
    if (path.empty()) {
        return "/";
    }
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) {
            end = path.size();
        }
        const std::string_view segment = path.substr(start, end - start);
        if (segment == "..") {
            if (!segments.empty()) {
                segments.pop_back();
            }
        } else if (!segment.empty() && segment != ".") {
            segments.push_back(segment);
        }
        start = end + 1;
    }
    std::string out;
    if (path.front() == '/') {
        out += '/';
    }
    for (std::size_t i = 0; i < segments.size(); ++i) {
        if (i > 0) {
            out += '/';
        }
        out += segments[i];
    }
    if (path.back() == '/' && !segments.empty()) {
        out += '/';
    }
    return out;
}

std::string canonical_uri(std::string_view path, PathNormalization normalization, PathEncoding encoding) {
    std::string result(path.empty() ? std::string_view("/") : path);
    if (normalization == PathNormalization::normalize) {
        result = remove_dot_segments(result);
    }
    if (encoding == PathEncoding::encode) {
        result = core::http::url_encode(result, true);
    }
    return result.empty() ? "/" : result;
}

std::string canonical_query(std::string_view query) {
    if (query.empty()) {
        return {};
    }
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t start = 0;
    while (start <= query.size()) {
        std::size_t end = query.find('&', start);
        if (end == std::string_view::npos) {
            end = query.size();
        }
        const std::string_view pair = query.substr(start, end - start);
        const std::size_t eq = pair.find('=');
        const std::string_view key = pair.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        pairs.emplace_back(core::http::url_encode(uri_decode(key)), core::http::url_encode(uri_decode(value)));
        start = end + 1;
    }
    std::sort(pairs.begin(), pairs.end());
    std::string out;
    for (const auto& [key, value] : pairs) {
        if (!out.empty()) {
            out += '&';
        }
        out += key;
        out += '=';
        out += value;
    }
    return out;
}

std::string trim_all(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    bool pending_space = false;
    for (const char c : value) {
        if (is_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) {
            out += ' ';
            pending_space = false;
        }
        out += c;
    }
    return out;
}

std::string credential_scope(std::string_view date, std::string_view region, std::string_view service) {
    std::string out(date);
    out += '/';
    out += region;
    out += '/';
    out += service;
    out += "/aws4_request";
    return out;
}

std::string string_to_sign(std::string_view amz_date_value, std::string_view scope,
                           std::string_view canonical_request) {
    std::string out(k_algorithm);
    out += '\n';
    out += amz_date_value;
    out += '\n';
    out += scope;
    out += '\n';
    out += core::hex_encode(core::sha256(canonical_request));
    return out;
}

std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service) {
    std::string key = "AWS4";
    key += secret;
    const std::string k_date = core::hmac(core::DigestAlg::sha256, key, date);
    const std::string k_region = core::hmac(core::DigestAlg::sha256, k_date, region);
    const std::string k_service = core::hmac(core::DigestAlg::sha256, k_region, service);
    return core::hmac(core::DigestAlg::sha256, k_service, "aws4_request");
}

Signature sign(const Request& request, const SigningParams& params) {
    Signature out;
    const std::string date = amz_date(params.time);
    const std::string day = date.substr(0, 8);
    const std::string payload_hash = payload_hash_of(request, params);
    const bool has_token = !params.session_token.empty();

    std::vector<std::string> drop = {"x-amz-date"};
    if (has_token) {
        drop.emplace_back("x-amz-security-token");
    }
    if (params.content_hash_header == ContentHashHeader::add) {
        drop.emplace_back("x-amz-content-sha256");
    }
    HeaderMap map = headers_to_sign(request.headers, drop);

    out.added_headers.emplace_back("X-Amz-Date", date);
    map["x-amz-date"].push_back(date);
    if (has_token) {
        out.added_headers.emplace_back("X-Amz-Security-Token", params.session_token);
        if (params.token_mode == SessionTokenMode::sign) {
            map["x-amz-security-token"].push_back(trim_all(params.session_token));
        }
    }
    if (params.content_hash_header == ContentHashHeader::add) {
        out.added_headers.emplace_back("x-amz-content-sha256", payload_hash);
        map["x-amz-content-sha256"].push_back(payload_hash);
    }

    std::string canonical_headers;
    build_header_block(map, canonical_headers, out.signed_headers);
    out.canonical_request =
        join_canonical_request(request, params, request.query, canonical_headers, out.signed_headers, payload_hash);
    out.credential_scope = credential_scope(day, params.region, params.service);
    out.string_to_sign = string_to_sign(date, out.credential_scope, out.canonical_request);
    out.signature =
        hmac_hex(signing_key(params.secret_access_key, day, params.region, params.service), out.string_to_sign);
    out.authorization = std::string(k_algorithm) + " Credential=" + params.access_key_id + "/" + out.credential_scope +
                        ", SignedHeaders=" + out.signed_headers + ", Signature=" + out.signature;
    out.added_headers.emplace_back("Authorization", out.authorization);
    return out;
}

Presigned presign(const Request& request, const SigningParams& params, std::chrono::seconds expires) {
    Presigned out;
    const std::string date = amz_date(params.time);
    const std::string day = date.substr(0, 8);
    const std::string payload_hash = payload_hash_of(request, params);
    const bool has_token = !params.session_token.empty();

    HeaderMap map = headers_to_sign(request.headers, {});
    std::string canonical_headers;
    std::string signed_headers;
    build_header_block(map, canonical_headers, signed_headers);

    const std::string scope = credential_scope(day, params.region, params.service);
    std::string query = request.query;
    auto add = [&query](std::string_view key, std::string_view value) {
        if (!query.empty()) {
            query += '&';
        }
        query += key;
        query += '=';
        query += core::http::url_encode(value);
    };
    add("X-Amz-Algorithm", k_algorithm);
    add("X-Amz-Credential", params.access_key_id + "/" + scope);
    add("X-Amz-Date", date);
    add("X-Amz-SignedHeaders", signed_headers);
    add("X-Amz-Expires", std::to_string(expires.count()));
    if (has_token && params.token_mode == SessionTokenMode::sign) {
        add("X-Amz-Security-Token", params.session_token);
    }
    out.canonical_request =
        join_canonical_request(request, params, query, canonical_headers, signed_headers, payload_hash);
    out.string_to_sign = string_to_sign(date, scope, out.canonical_request);
    out.signature =
        hmac_hex(signing_key(params.secret_access_key, day, params.region, params.service), out.string_to_sign);
    if (has_token && params.token_mode == SessionTokenMode::add_after_signing) {
        add("X-Amz-Security-Token", params.session_token);
    }
    add("X-Amz-Signature", out.signature);
    out.query = std::move(query);
    return out;
}

}  // namespace aws::sigv4
