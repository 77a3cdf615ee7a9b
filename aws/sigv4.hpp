// AWS Signature Version 4 (IAM User Guide, "AWS Signature Version 4 for API
// requests"): canonical request, string to sign, signing key and signature.
// Pure functions of their inputs (no clock, no environment), so the official
// test suite and the botocore differential test drive them directly.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/http.hpp"

namespace aws::sigv4 {

inline constexpr std::string_view k_algorithm = "AWS4-HMAC-SHA256";
// Hex SHA-256 of the empty string: the payload hash of a request without body.
inline constexpr std::string_view k_empty_payload_hash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Remove dot segments and collapse runs of '/' before encoding (what every
// service but S3 expects; botocore's remove_dot_segments).
enum class PathNormalization { normalize, keep };
// `encode`: URI-encode the given path once more ('/' kept). Given the path as
// it appears on the wire this is the "double encoding" every service but S3
// checks. `as_is`: the path is already the canonical URI (S3 style).
enum class PathEncoding { encode, as_is };
// `sign`: the session token is sent as X-Amz-Security-Token and signed.
// `add_after_signing`: it is sent but not signed (a few legacy services).
enum class SessionTokenMode { sign, add_after_signing };
// Whether to send and sign x-amz-content-sha256 (S3; optional elsewhere).
enum class ContentHashHeader { omit, add };

struct Request {
    std::string method;  // upper-case
    std::string path;    // as sent on the wire ("/" when empty)
    std::string query;   // as sent on the wire, without '?'
    // Headers to sign, in order; duplicates allowed. Must include Host (the
    // value sent on the wire: host, plus ":port" when not the scheme default).
    // User-Agent, Expect, X-Amzn-Trace-Id and Authorization are never signed.
    core::http::Headers headers;
    std::string body;
};

struct SigningParams {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  // empty = none
    std::string region;
    std::string service;  // signing name, e.g. "route53", "secretsmanager"
    std::chrono::system_clock::time_point time;
    PathNormalization normalization = PathNormalization::normalize;
    PathEncoding path_encoding = PathEncoding::encode;
    SessionTokenMode token_mode = SessionTokenMode::sign;
    ContentHashHeader content_hash_header = ContentHashHeader::omit;
    // Overrides the hex SHA-256 of the body (e.g. "UNSIGNED-PAYLOAD"). Without
    // it, an x-amz-content-sha256 header in the request is taken as the
    // payload hash (as botocore does), else the body is hashed.
    std::optional<std::string> payload_hash;
};

// The result of header signing: every intermediate value, and the headers to
// add to the request (X-Amz-Date, X-Amz-Security-Token, x-amz-content-sha256,
// Authorization).
struct Signature {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;  // 64 lower-case hex characters
    std::string signed_headers;
    std::string credential_scope;
    std::string authorization;
    core::http::Headers added_headers;
};

// Signs with the Authorization header. Existing Authorization, X-Amz-Date
// (and X-Amz-Security-Token when a token is given) in `request` are replaced.
Signature sign(const Request& request, const SigningParams& params);

// The result of query-parameter signing (presigned URL).
struct Presigned {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;
    std::string query;  // the request's query plus every X-Amz-* parameter and X-Amz-Signature
};
Presigned presign(const Request& request, const SigningParams& params, std::chrono::seconds expires);

// --- The pieces, exposed for tests ---

// "20150830T123600Z" and "20150830".
std::string amz_date(std::chrono::system_clock::time_point time);
std::string scope_date(std::chrono::system_clock::time_point time);
// (URI encoding as SigV4 defines it is core::http::url_encode: everything but
// A-Z a-z 0-9 - . _ ~ becomes %XX, upper-case hex.)
// Decodes %XX sequences (a '+' stays a '+'); malformed escapes are kept as is.
std::string uri_decode(std::string_view text);
// botocore's remove_dot_segments: RFC 3986 §5.2.4 plus collapsing of '//'.
std::string remove_dot_segments(std::string_view path);
std::string canonical_uri(std::string_view path, PathNormalization normalization, PathEncoding encoding);
// Splits at '&' and the first '=', decodes and re-encodes each part, sorts by
// encoded key then value, joins with '&'. "a" becomes "a=".
std::string canonical_query(std::string_view query);
// Trims leading/trailing whitespace and collapses inner runs to one space.
std::string trim_all(std::string_view value);
// "<date>/<region>/<service>/aws4_request"
std::string credential_scope(std::string_view date, std::string_view region, std::string_view service);
std::string string_to_sign(std::string_view amz_date, std::string_view scope, std::string_view canonical_request);
// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"), raw bytes.
std::string signing_key(std::string_view secret, std::string_view date, std::string_view region,
                        std::string_view service);

}  // namespace aws::sigv4
