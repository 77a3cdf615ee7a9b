// ACME Renewal Information (RFC 9773): the certificate identifier, the
// renewalInfo resource, and a renewal time picked inside the suggested window.
// (The `replaces` fallback lives in new_order(), order.hpp.)
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "acme/transport.hpp"
#include "core/result.hpp"
#include "core/retry.hpp"
#include "core/x509.hpp"

namespace acme {

// RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial DER
// content bytes). An error when the certificate has no AKI keyIdentifier.
core::Result<std::string> ari_certificate_id(const core::CertInfo& info);
core::Result<std::string> ari_certificate_id(const core::Certificate& certificate);

// RFC 9773 §4.2.
struct RenewalInfo {
    core::SystemTime window_start;
    core::SystemTime window_end;
    std::string explanation_url;               // "" when absent
    std::chrono::milliseconds retry_after{0};  // from Retry-After, 0 = not given
};

// Parses a renewalInfo body; `retry_after_header` may be empty.
core::Result<RenewalInfo> parse_renewal_info(std::string_view json_text, std::string_view retry_after_header = {});

// GET <renewalInfo>/<cert id> (RFC 9773 §4.2, unauthenticated). ErrorKind::not_found
// when the CA does not offer renewalInfo.
core::Result<RenewalInfo> fetch_renewal_info(Transport& transport, std::string_view certificate_id,
                                             const core::Deadline& deadline);

// RFC 9773 §4.2: a uniformly random point in [start, end). `fraction` in
// [0, 1) picks it deterministically (tests); the other overload draws it from
// the CSPRNG.
core::SystemTime pick_renewal_time(const RenewalInfo& info, double fraction);
core::SystemTime pick_renewal_time(const RenewalInfo& info);

}  // namespace acme
