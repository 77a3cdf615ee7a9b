// The report of a run that left certificates to a later run (the CA's
// budget, renewer/plan_budget.hpp): the outcome, the summary's count and the
// exit status (renewer/exit_codes.hpp).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "renewer/exit_codes.hpp"
#include "renewer/lambda_runtime.hpp"
#include "renewer/report.hpp"

namespace {

using renewer::CertificateResult;
using renewer::Outcome;
using renewer::RunReport;

CertificateResult result(const char* id, Outcome outcome, bool rate_limited = false) {
    CertificateResult r;
    r.id = id;
    r.outcome = outcome;
    r.reason = rate_limited ? "deferred: the CA refused new orders for now" : "deferred: --max-new-orders";
    r.rate_limited = rate_limited;
    return r;
}

TEST(ReportDeferred, BudgetDeferralsAreTheConfiguredPaceAndExitZero) {
    RunReport report;
    report.certificates = {result("a", Outcome::renewed), result("b", Outcome::deferred)};
    EXPECT_EQ(report.exit_code(), renewer::k_exit_ok);
    const auto json = renewer::report_to_json(report);
    EXPECT_EQ(json["deferred"], 1);
    EXPECT_EQ(json["certificates"][1]["outcome"], "deferred");
}

TEST(ReportDeferred, ARateLimitedAnswerExitsThree) {
    RunReport report;
    report.certificates = {result("a", Outcome::renewed), result("b", Outcome::deferred, true),
                           result("c", Outcome::deferred)};
    EXPECT_EQ(report.exit_code(), renewer::k_exit_deferred);
    EXPECT_EQ(report.deferred(), 2U);
    EXPECT_EQ(renewer::failure_summary(report, 1000),
              "0 of 3 certificate(s) failed, 1 deferred (the CA answered rateLimited): b: deferred: the CA refused "
              "new orders for now");
}

TEST(ReportDeferred, AFailureStillExitsOne) {
    RunReport report;
    report.certificates = {result("a", Outcome::failed), result("b", Outcome::deferred, true)};
    EXPECT_EQ(report.exit_code(), renewer::k_exit_failed);
}

}  // namespace
