// One run of the job (DESIGN.md "Data flow of one run"): for each certificate
// take its lease, read the stored bundle, store a spooled one, decide; order
// what is due (concurrently, bounded), verify, store (spool on failure);
// then replace once when something changed, and report.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/retry.hpp"
#include "core/x509.hpp"
#include "renewer/config.hpp"
#include "renewer/plan.hpp"
#include "replace/replacer.hpp"

namespace renewer {

// What a run needs beyond the configuration file's contents.
struct RunSettings {
    Config config;
    Force force = Force::no;
    DryRun dry_run = DryRun::no;  // plan and report; order, store and replace nothing
    core::KeyType account_key_type = core::KeyType::ec256;
    std::string account_file;  // when set, the ACME account lives in this file
    std::string preferred_chain;
    std::vector<core::Certificate> trust_roots;  // issued chains must verify to one of these
    bool reuse_key = false;
    std::chrono::seconds order_timeout{600};
    std::chrono::seconds lease_ttl{1800};
    // When set, the point by which the run's work ends (already short of the
    // hard end by k_deadline_margin, see deadline_before()): no order starts
    // when less than k_order_start_budget is left (those certificates fail
    // with "deadline: not started"), every wait in flight (CA connection,
    // account, DNS propagation, order polling) ends by it, and then DNS
    // cleanup, lease release, replacement and the report still happen.
    // Lambda: the invocation's deadline; `renewer run --deadline SECONDS`.
    std::optional<core::Deadline> deadline;
};

// Kept free between the end of the work and the hard end (Lambda's
// invocation deadline, the end of `--deadline`): after the work stops, DNS
// cleanup (one Route53 change per zone, maybe a throttling retry), releasing
// the leases, the replacement call(s) and reporting (Lambda: POSTing the
// result) still have to happen, each a few bounded HTTP calls. 20 s covers
// them with room for a retry, and is small beside the budgets this is for
// (Lambda allows up to 900 s; an ECS stop timeout is up to 120 s but the
// scheduled run's budget is the task's). A fixed margin, not a percentage:
// cleanup takes the same time whatever the budget.
inline constexpr std::chrono::seconds k_deadline_margin{20};

// A new order starts only with at least this much left before the run's
// deadline (or the order timeout, when that is shorter): a DNS-01 order with
// Route53 typically needs 20-60 s (INSYNC, propagation, validation), and one
// begun with less would most likely be cut off, wasting one of the CA's
// rate-limited orders.
inline constexpr std::chrono::seconds k_order_start_budget{30};

// The run deadline for a hard end: `hard_end` minus k_deadline_margin.
core::Deadline deadline_before(core::Clock::time_point hard_end);

enum class Outcome { renewed, stored_from_spool, not_due, would_renew, locked, failed };
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
};

struct RunReport {
    std::vector<CertificateResult> certificates;
    std::vector<ReplaceOutcome> replacements;
    std::vector<std::string> replacement_errors;
    std::chrono::milliseconds duration{0};

    bool any_changed() const;
    // 0 nothing to do or all renewed; 1 some certificate (or replacement) failed.
    int exit_code() const;
};

// Plans only: reads every store and decides, changing nothing.
RunReport plan_run(const RunSettings& settings);

// The whole run.
RunReport execute_run(const RunSettings& settings);

// The report as one JSON object, the one serializer of a report (print_report's
// JSON lines and the Lambda response are cut from it):
//   {"exit_code": N, "changed": bool, "duration_ms": N,
//    "certificates": [{"id", "domains", "store", "outcome", "reason",
//                      "serial", "not_after", "duration_ms"}],
//    "replacements": [{"replace": TYPE, "summary"} | {"replace": "failed", "error"}]}
nlohmann::json report_to_json(const RunReport& report);

// Prints the report: aligned text on a terminal, JSON lines otherwise.
void print_report(const RunReport& report);
// The same, always as JSON lines (Lambda: CloudWatch reads stdout).
void print_report_json(const RunReport& report);

}  // namespace renewer
