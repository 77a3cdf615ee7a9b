// The report of one run: what happened to each certificate and to each
// replacement, as aligned text on a terminal or as JSON (lines on stdout,
// one object for the Lambda response).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "renewer/owed.hpp"
#include "replace/replacer.hpp"

namespace renewer {

// deferred: due, but left to a later run by the CA's budget (renewer/plan_budget.hpp).
// waiting_customer_dns: due, but a customer's CNAME is not there yet
// (docs/customer-domains.md); not a failure.
// left_in_place: a certificate of the domain list's store that no item names
// any more; not renewed, not deleted (renewer/domain_list.hpp).
enum class Outcome {
    renewed,
    stored_from_spool,
    not_due,
    would_renew,
    locked,
    failed,
    deferred,
    waiting_customer_dns,
    left_in_place
};
const char* to_string(Outcome outcome);

struct CertificateResult {
    std::string id;
    std::vector<std::string> domains;
    std::string store;
    Outcome outcome = Outcome::failed;
    std::string reason;     // why (due reason, error line, lock holder)
    std::string serial;     // of the certificate now current, when known
    std::string not_after;  // of the certificate now current, when known
    std::chrono::milliseconds duration{0};
    bool ordered = false;  // this run sent it to the CA for an order (the OrdersPlaced metric)
    // Deferred because the CA answered rateLimited (not by --max-new-orders).
    bool rate_limited = false;
    // Set while the web tier has not been told of the certificate now
    // current: the replacement failed, or a run was killed during it.
    std::optional<OwedReplacement> replacement_owed;
};

struct RunReport {
    std::vector<CertificateResult> certificates;
    std::vector<replace::ReplaceOutcome> replacements;
    std::vector<std::string> replacement_errors;
    std::chrono::milliseconds duration{0};

    bool any_changed() const;
    std::size_t deferred() const;
    // 0 nothing to do, all renewed, or some deferred by --max-new-orders; 1
    // some certificate (or replacement) failed; else 3 when some certificate
    // was deferred because the CA answered rateLimited (renewer/exit_codes.hpp).
    int exit_code() const;
};

// The report as one JSON object, the one serializer of a report (print_report's
// JSON lines and the Lambda response are cut from it):
//   {"exit_code": N, "changed": bool, "duration_ms": N, "deferred": N,
//    "certificates": [{"id", "domains", "store", "outcome", "reason",
//                      "serial", "not_after", "duration_ms",
//                      "replacement_owed": null | {"serial", "target", "since", "error"}}],
//    "replacements": [{"replace": TYPE, "summary"} | {"replace": "failed", "error"}]}
nlohmann::json report_to_json(const RunReport& report);

// Prints the report: aligned text on a terminal, JSON lines otherwise.
// `metrics_namespace` not empty: the JSON lines carry CloudWatch metrics in
// that namespace (renewer/metrics.hpp, docs/operations.md#metrics).
void print_report(const RunReport& report, std::string_view metrics_namespace = {});
// The same, always as JSON lines (Lambda: CloudWatch reads stdout).
void print_report_json(const RunReport& report, std::string_view metrics_namespace = {});

}  // namespace renewer
