#include "acme/ari.hpp"

#include <cstdint>
#include <cstring>

#include "acme/problem.hpp"
#include "core/base64.hpp"
#include "core/digest.hpp"

namespace acme {

core::Result<std::string> ari_certificate_id(const core::CertInfo& info) {
    if (info.aki_key_id.empty()) {
        return core::make_error(core::ErrorKind::invalid_input,
                                "certificate has no authorityKeyIdentifier keyIdentifier (RFC 9773 §4.1)");
    }
    if (info.serial_der.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "certificate has no serial number");
    }
    return core::base64url_encode(info.aki_key_id) + "." + core::base64url_encode(info.serial_der);
}

core::Result<std::string> ari_certificate_id(const core::Certificate& certificate) {
    return ari_certificate_id(certificate.info());
}

core::Result<RenewalInfo> parse_renewal_info(std::string_view json_text, std::string_view retry_after_header) {
    Json doc = Json::parse(json_text, nullptr, false);
    if (!doc.is_object() || !doc.contains("suggestedWindow") || !doc["suggestedWindow"].is_object()) {
        return core::make_error(core::ErrorKind::protocol, "renewalInfo without a suggestedWindow");
    }
    const Json& window = doc["suggestedWindow"];
    if (!window.contains("start") || !window["start"].is_string() || !window.contains("end") ||
        !window["end"].is_string()) {
        return core::make_error(core::ErrorKind::protocol, "renewalInfo suggestedWindow lacks start/end");
    }
    RenewalInfo info;
    TRY_ASSIGN(info.window_start, core::parse_time(window["start"].get<std::string>()));
    TRY_ASSIGN(info.window_end, core::parse_time(window["end"].get<std::string>()));
    // RFC 9773 §4.2: a window whose end is not after its start is invalid.
    if (info.window_end <= info.window_start) {
        return core::make_error(core::ErrorKind::protocol, "renewalInfo suggestedWindow ends before it starts");
    }
    if (doc.contains("explanationURL") && doc["explanationURL"].is_string()) {
        info.explanation_url = doc["explanationURL"].get<std::string>();
    }
    if (!retry_after_header.empty()) {
        info.retry_after = core::parse_retry_after(retry_after_header).value_or(std::chrono::milliseconds{0});
    }
    return info;
}

core::Result<RenewalInfo> fetch_renewal_info(Transport& transport, std::string_view certificate_id,
                                             const core::Deadline& deadline) {
    const std::string& base = transport.directory().renewal_info;
    if (base.empty()) {
        return core::make_error(core::ErrorKind::not_found, "the CA does not offer renewalInfo (RFC 9773)");
    }
    std::string url = base;
    if (!url.ends_with('/')) {
        url += '/';
    }
    url += certificate_id;
    auto response = transport.get(url, deadline);
    if (!response.ok()) {
        return response.error().wrap("renewalInfo " + std::string(certificate_id));
    }
    return parse_renewal_info(response->body, response->header("retry-after"));
}

core::SystemTime pick_renewal_time(const RenewalInfo& info, double fraction) {
    if (fraction < 0.0 || fraction >= 1.0) {
        fraction = 0.0;
    }
    const auto span = info.window_end - info.window_start;
    const auto offset = std::chrono::duration_cast<core::SystemTime::duration>(
        std::chrono::duration<double, core::SystemTime::period>(static_cast<double>(span.count()) * fraction));
    return info.window_start + offset;
}

core::SystemTime pick_renewal_time(const RenewalInfo& info) {
    const std::string bytes = core::random_bytes(8);
    std::uint64_t value = 0;
    std::memcpy(&value, bytes.data(), sizeof value);
    // 53 random bits -> a double uniformly in [0, 1).
    const double fraction = static_cast<double>(value >> 11) / 9007199254740992.0;
    return pick_renewal_time(info, fraction);
}

}  // namespace acme
