// Error answers of the three AWS protocols turned into core::Error, and the
// retry classification shared by every AWS call (the SDKs' "standard" retry
// mode: throttling codes, transient codes, 5xx, network failures).
#pragma once

#include <string>
#include <string_view>

#include "core/http.hpp"
#include "core/result.hpp"

namespace aws {

enum class Protocol { query, json, rest_xml };

// The code and message an error body carries, before classification.
struct ErrorBody {
    std::string code;
    std::string message;
    std::string request_id;
};

// Query / REST-XML: <ErrorResponse><Error><Code>..</Code><Message>..</Message></Error>
// <RequestId>..</RequestId></ErrorResponse>, EC2's <Response><Errors><Error>..,
// and Route53's <InvalidChangeBatch><Messages><Message>.. (root element = code).
ErrorBody parse_xml_error(std::string_view body);
// JSON 1.0/1.1: {"__type": "ns#Code", "message"|"Message": ".."}; the
// X-Amzn-ErrorType header ("Code:http://...") wins when present.
ErrorBody parse_json_error(std::string_view body, std::string_view error_type_header);

// Throttling codes (SDK standard retry mode), retried with backoff.
bool is_throttling_code(std::string_view code);
// Transient service-side codes (InternalError, ServiceUnavailable, ...), retried.
bool is_transient_code(std::string_view code);
// ExpiredToken, ExpiredTokenException, RequestExpired: refresh credentials, retry once.
bool is_expired_credentials_code(std::string_view code);
// Missing or bad credentials, denied permissions: ErrorKind::auth, never retried.
bool is_auth_code(std::string_view code);

// Classifies an already-parsed error: kind, retryable.
core::ErrorKind classify(std::string_view code, long http_status);
bool is_retryable(std::string_view code, long http_status);

// Parses a non-2xx response into core::Error with code, http_status,
// retry_after, retryable, kind, and the message
// "<service> <action>: <Code>: <message>".
core::Error parse_error(Protocol protocol, const core::http::Response& response, std::string_view service,
                        std::string_view action);

// Wraps a transport failure (no HTTP answer): keeps its kind and core::http's
// retryable verdict (timeouts, resets: yes; TLS: no), prefixes "<service> <action>: ".
core::Error transport_error(const core::Error& error, std::string_view service, std::string_view action);

}  // namespace aws
