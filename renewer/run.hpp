// One run of the job (docs/architecture.md, "Data flow of one run"): for each
// certificate read the stored bundle, store a spooled one, decide
// (prepare.hpp, plan.hpp); for what is due take its lease, order
// (concurrently, bounded), verify, spool, store (issue.hpp); then replace once
// per target when something changed or a replacement is still owed
// (replacement.hpp), and report (report.hpp).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/retry.hpp"
#include "core/x509.hpp"
#include "renewer/config.hpp"
#include "renewer/plan.hpp"
#include "renewer/report.hpp"
#include "replace/replacer.hpp"

namespace renewer {

// --reuse-key: a renewal keeps the current certificate's private key.
enum class KeyReuse { no, yes };

// What a run needs beyond the configuration file's contents.
struct RunSettings {
    Config config;
    Force force = Force::no;
    DryRun dry_run = DryRun::no;  // plan and report; order, store and replace nothing
    core::KeyType account_key_type = core::KeyType::ec256;
    std::string account_file;  // when set, the ACME account lives in this file
    std::string preferred_chain;
    std::vector<core::Certificate> trust_roots;  // issued chains must verify to one of these
    KeyReuse reuse_key = KeyReuse::no;           // yes: order with the current certificate's key
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
    // The setting `deadline` comes from, named when it ends a CA call
    // (docs/configuration.md#time-limits): "--deadline 40 s", or Lambda's.
    std::string deadline_name;
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

// The hard end of a run with a deadline (RunSettings::deadline plus
// k_deadline_margin), never without one. The DNS provider's AWS calls end by
// it, the clean-up's included.
core::Deadline hard_end_of(const RunSettings& settings);

// The stores' and leases' AWS calls end by this, retries included: half the
// margin past the run's deadline, so a store call in flight at the deadline
// may finish and the DNS clean-up still has the rest. Never without a deadline.
core::Deadline store_end_of(const RunSettings& settings);

// Plans only: reads every store and decides, changing nothing.
RunReport plan_run(const RunSettings& settings);

// The whole run.
RunReport execute_run(const RunSettings& settings);

}  // namespace renewer
