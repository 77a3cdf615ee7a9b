// ACME problem documents (RFC 7807, RFC 8555 §6.7) turned into core::Error,
// once, in the transport's signed POST (transport.hpp).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/http.hpp"
#include "core/result.hpp"

namespace acme {

// "urn:ietf:params:acme:error:badNonce" -> "badNonce"; other URNs unchanged.
std::string problem_code(std::string_view type);

// A problem document (already parsed JSON) -> Error: code = the ACME error
// type without its URN prefix, message = detail (plus every subproblem with
// its identifier, RFC 8555 §6.7.1), kind by type, `retry_after` from the
// Retry-After header (rateLimited, RFC 8555 §6.6), retryable for badNonce,
// serverInternal and 5xx.
core::Error problem_to_error(const nlohmann::json& problem, long http_status,
                             std::chrono::milliseconds retry_after = std::chrono::milliseconds{0});

// An HTTP response that is not a success -> Error. Uses the body as a problem
// document when it is one (application/problem+json or a JSON object with
// "type"), else a generic HTTP error naming the status.
core::Error response_to_error(const core::http::Response& response);

// True for 2xx.
inline bool is_success(long status) { return status >= 200 && status < 300; }

}  // namespace acme
