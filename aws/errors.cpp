#include "aws/errors.hpp"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "core/retry.hpp"

namespace aws {
namespace {

// botocore retryhandler / SDK standard mode throttling codes, without
// LimitExceededException: botocore's standard mode lists it because Kinesis
// uses it for throttling, but for the services we call (Secrets Manager, ECS)
// the models define it as a quota ("would exceed one of the Secrets Manager
// quotas"): retrying cannot succeed, it only delays the error.
constexpr std::array<std::string_view, 14> k_throttling_codes = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",  // Route53: a change to the same zone is still running
    "EC2ThrottledException",
    "ThrottlingError",
};

constexpr std::array<std::string_view, 8> k_transient_codes = {
    "RequestTimeout",       "RequestTimeoutException", "InternalError",         "InternalFailure",
    "InternalServiceError", "ServiceUnavailable",      "IDPCommunicationError", "InternalServerError",
};

constexpr std::array<std::string_view, 3> k_expired_codes = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"};

constexpr std::array<std::string_view, 18> k_auth_codes = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "NotAuthorized",
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "InvalidIdentityToken",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view code) {
    return std::find(list.begin(), list.end(), code) != list.end();
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string child_text(const pugi::xml_node& node, const char* name) { return node.child(name).text().as_string(); }

// JSON 1.1 codes may come as "com.amazonaws.ns#Code" or "Code:http://...".
std::string bare_code(std::string_view raw) {
    const std::size_t hash = raw.rfind('#');
    if (hash != std::string_view::npos) {
        raw = raw.substr(hash + 1);
    }
    const std::size_t colon = raw.find(':');
    if (colon != std::string_view::npos) {
        raw = raw.substr(0, colon);
    }
    while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) {
        raw.remove_suffix(1);
    }
    return std::string(raw);
}

std::string status_code_name(long status) {
    switch (status) {
        case 400: return "BadRequest";
        case 403: return "Forbidden";
        case 404: return "NotFound";
        case 409: return "Conflict";
        case 429: return "TooManyRequests";
        case 500: return "InternalError";
        case 502: return "BadGateway";
        case 503: return "ServiceUnavailable";
        case 504: return "GatewayTimeout";
        default: return "HTTP" + std::to_string(status);
    }
}

}  // namespace

ErrorBody parse_xml_error(std::string_view body) {
    ErrorBody out;
    pugi::xml_document doc;
    if (!doc.load_buffer(body.data(), body.size())) {
        return out;
    }
    const pugi::xml_node root = doc.document_element();
    // <ErrorResponse><Error>..</Error><RequestId/></ErrorResponse> (Query, Route53)
    // <Response><Errors><Error>..</Error></Errors><RequestID/></Response> (EC2)
    // <Error><Code/>..</Error> (S3 style)
    pugi::xml_node error = root.child("Error");
    if (!error) {
        error = root.child("Errors").child("Error");
    }
    if (!error && std::string_view(root.name()) == "Error") {
        error = root;
    }
    if (error) {
        out.code = child_text(error, "Code");
        out.message = child_text(error, "Message");
    } else {
        // Route53: <InvalidChangeBatch><Messages><Message>..</Message></Messages>
        out.code = root.name();
        std::string joined;
        for (const pugi::xml_node& message : root.child("Messages").children("Message")) {
            if (!joined.empty()) {
                joined += "; ";
            }
            joined += message.text().as_string();
        }
        if (joined.empty()) {
            joined = child_text(root, "Message");
        }
        out.message = joined;
    }
    out.request_id = child_text(root, "RequestId");
    if (out.request_id.empty()) {
        out.request_id = child_text(root, "RequestID");
    }
    return out;
}

ErrorBody parse_json_error(std::string_view body, std::string_view error_type_header) {
    ErrorBody out;
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    if (doc.is_object()) {
        for (const char* key : {"__type", "code", "Code"}) {
            if (doc.contains(key) && doc[key].is_string()) {
                out.code = bare_code(doc[key].get<std::string>());
                break;
            }
        }
        for (const char* key : {"message", "Message", "errorMessage"}) {
            if (doc.contains(key) && doc[key].is_string()) {
                out.message = doc[key].get<std::string>();
                break;
            }
        }
    }
    if (!error_type_header.empty()) {
        out.code = bare_code(error_type_header);
    }
    return out;
}

bool is_throttling_code(std::string_view code) { return contains(k_throttling_codes, code); }

bool is_transient_code(std::string_view code) { return contains(k_transient_codes, code); }

bool is_expired_credentials_code(std::string_view code) { return contains(k_expired_codes, code); }

bool is_auth_code(std::string_view code) { return contains(k_auth_codes, code); }

bool is_retryable(std::string_view code, long http_status) {
    if (is_auth_code(code)) {
        return false;
    }
    return is_throttling_code(code) || is_transient_code(code) || http_status >= 500 || http_status == 429;
}

core::ErrorKind classify(std::string_view code, long http_status) {
    if (is_auth_code(code) || (code.empty() && (http_status == 401 || http_status == 403))) {
        return core::ErrorKind::auth;
    }
    if (is_throttling_code(code) || is_transient_code(code) || http_status >= 500 || http_status == 429) {
        return core::ErrorKind::http;
    }
    // NoSuchHostedZone, NoSuchChange, ResourceNotFoundException,
    // InvalidInstanceID.NotFound, ...
    if (code.starts_with("NoSuch") || ends_with(code, "NotFound") || ends_with(code, "NotFoundException") ||
        code == "ResourceNotFoundException" || http_status == 404) {
        return core::ErrorKind::not_found;
    }
    // ResourceExistsException, HostedZoneAlreadyExists, ConflictingDomainExists, ...
    if (ends_with(code, "AlreadyExists") || ends_with(code, "ExistsException") || code.starts_with("Conflict") ||
        code == "ConcurrentModification" || http_status == 409) {
        return core::ErrorKind::conflict;
    }
    if (http_status >= 400 && http_status < 500) {
        return core::ErrorKind::invalid_input;
    }
    return core::ErrorKind::http;
}

core::Error parse_error(Protocol protocol, const core::http::Response& response, std::string_view service,
                        std::string_view action) {
    ErrorBody body;
    if (protocol == Protocol::json) {
        body = parse_json_error(response.body, response.header("x-amzn-errortype"));
    } else {
        body = parse_xml_error(response.body);
    }
    // awsQueryCompatible services answer JSON with "x-amzn-query-error: Code;Sender".
    const std::string query_error = response.header("x-amzn-query-error");
    if (!query_error.empty()) {
        body.code = query_error.substr(0, query_error.find(';'));
    }
    if (body.code.empty()) {
        body.code = status_code_name(response.status);
    }
    if (body.message.empty()) {
        body.message = "HTTP " + std::to_string(response.status);
    }

    core::Error error;
    error.code = body.code;
    error.http_status = static_cast<int>(response.status);
    error.kind = classify(body.code, response.status);
    error.retryable = is_retryable(body.code, response.status);
    const std::string retry_after = response.header("retry-after");
    if (!retry_after.empty()) {
        if (auto wait = core::parse_retry_after(retry_after)) {
            error.retry_after = *wait;
        }
    }
    error.message = std::string(service) + " " + std::string(action) + ": " + body.code + ": " + body.message;
    if (!body.request_id.empty()) {
        error.message += " (request id " + body.request_id + ")";
    }
    return error;
}

core::Error transport_error(const core::Error& error, std::string_view service, std::string_view action) {
    core::Error out = error.wrap(std::string(service) + " " + std::string(action));
    // core::http marks what is transient (timeouts, refused, reset; not TLS).
    out.retryable = error.retryable;
    return out;
}

}  // namespace aws
