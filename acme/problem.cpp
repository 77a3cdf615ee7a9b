#include "acme/problem.hpp"

#include <array>
#include <utility>

#include "core/retry.hpp"

namespace acme {
namespace {

constexpr std::string_view k_acme_urn = "urn:ietf:params:acme:error:";

struct KindByCode {
    std::string_view code;
    core::ErrorKind kind;
};

// RFC 8555 §6.7 table, plus RFC 9773's alreadyReplaced (§7.4) and the
// draft/LE additions seen in the wild.
constexpr std::array k_kinds{
    KindByCode{"accountDoesNotExist", core::ErrorKind::not_found},
    KindByCode{"alreadyRevoked", core::ErrorKind::conflict},
    KindByCode{"alreadyReplaced", core::ErrorKind::conflict},
    KindByCode{"badCSR", core::ErrorKind::invalid_input},
    KindByCode{"badNonce", core::ErrorKind::protocol},
    KindByCode{"badPublicKey", core::ErrorKind::invalid_input},
    KindByCode{"badRevocationReason", core::ErrorKind::invalid_input},
    KindByCode{"badSignatureAlgorithm", core::ErrorKind::invalid_input},
    KindByCode{"caa", core::ErrorKind::protocol},
    KindByCode{"compound", core::ErrorKind::protocol},
    KindByCode{"connection", core::ErrorKind::protocol},
    KindByCode{"dns", core::ErrorKind::protocol},
    KindByCode{"externalAccountRequired", core::ErrorKind::auth},
    KindByCode{"incorrectResponse", core::ErrorKind::protocol},
    KindByCode{"invalidContact", core::ErrorKind::invalid_input},
    KindByCode{"invalidProfile", core::ErrorKind::invalid_input},
    KindByCode{"malformed", core::ErrorKind::invalid_input},
    KindByCode{"orderNotReady", core::ErrorKind::conflict},
    KindByCode{"rateLimited", core::ErrorKind::http},
    KindByCode{"rejectedIdentifier", core::ErrorKind::invalid_input},
    KindByCode{"serverInternal", core::ErrorKind::protocol},
    KindByCode{"tls", core::ErrorKind::protocol},
    KindByCode{"unauthorized", core::ErrorKind::auth},
    KindByCode{"unsupportedContact", core::ErrorKind::invalid_input},
    KindByCode{"unsupportedIdentifier", core::ErrorKind::invalid_input},
    KindByCode{"userActionRequired", core::ErrorKind::auth},
};

core::ErrorKind kind_for(std::string_view code, long http_status) {
    if (http_status == 404) {
        return core::ErrorKind::not_found;  // whatever the type, the resource is not there
    }
    for (const auto& entry : k_kinds) {
        if (entry.code == code) {
            return entry.kind;
        }
    }
    if (http_status == 401 || http_status == 403) {
        return core::ErrorKind::auth;
    }
    return core::ErrorKind::http;
}

std::string string_member(const nlohmann::json& object, const char* name) {
    if (object.is_object()) {
        auto it = object.find(name);
        if (it != object.end() && it->is_string()) {
            return it->get<std::string>();
        }
    }
    return {};
}

std::string identifier_text(const nlohmann::json& problem) {
    if (!problem.is_object()) {
        return {};
    }
    auto it = problem.find("identifier");
    if (it == problem.end()) {
        return {};
    }
    return string_member(*it, "value");
}

}  // namespace

std::string problem_code(std::string_view type) {
    if (type.starts_with(k_acme_urn)) {
        return std::string(type.substr(k_acme_urn.size()));
    }
    return std::string(type);
}

core::Error problem_to_error(const nlohmann::json& problem, long http_status, std::chrono::milliseconds retry_after) {
    core::Error error;
    error.code = problem_code(string_member(problem, "type"));
    error.http_status = static_cast<int>(http_status);
    error.kind = kind_for(error.code, http_status);
    error.retry_after = retry_after;
    std::string detail = string_member(problem, "detail");
    if (detail.empty()) {
        detail = string_member(problem, "title");
    }
    if (detail.empty()) {
        detail = "HTTP " + std::to_string(http_status);
    }
    std::string message = error.code.empty() ? detail : error.code + ": " + detail;
    // RFC 8555 §6.7.1: subproblems, each about one identifier.
    if (problem.is_object()) {
        auto subs = problem.find("subproblems");
        if (subs != problem.end() && subs->is_array()) {
            for (const auto& sub : *subs) {
                const std::string ident = identifier_text(sub);
                const std::string code = problem_code(string_member(sub, "type"));
                message += "; ";
                if (!ident.empty()) {
                    message += ident + ": ";
                }
                if (!code.empty()) {
                    message += code + ": ";
                }
                message += string_member(sub, "detail");
            }
        }
    }
    error.message = std::move(message);
    error.retryable = error.code == "badNonce" || error.code == "serverInternal" || http_status >= 500 ||
                      (error.code == "rateLimited" && retry_after.count() > 0);
    return error;
}

core::Error response_to_error(const core::http::Response& response) {
    std::chrono::milliseconds retry_after{0};
    const std::string retry_header = response.header("retry-after");
    if (!retry_header.empty()) {
        if (auto parsed = core::parse_retry_after(retry_header)) {
            retry_after = *parsed;
        }
    }
    nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_object() && (body.contains("type") || body.contains("detail"))) {
        return problem_to_error(body, response.status, retry_after);
    }
    core::Error error;
    error.http_status = static_cast<int>(response.status);
    error.kind = kind_for("", response.status);
    error.retry_after = retry_after;
    error.retryable = response.status >= 500 || response.status == 429;
    std::string snippet = response.body.substr(0, 200);
    error.message = "HTTP " + std::to_string(response.status) + (snippet.empty() ? "" : ": " + snippet);
    return error;
}

}  // namespace acme
