// The pure parts of Lambda mode: the invocation event, the runtime API's error
// document, the failure summary, the report JSON both the Lambda response and
// the JSON lines come from, and the deadline margin.
#include "renewer/lambda_runtime.hpp"

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "renewer/run.hpp"

namespace renewer {
namespace {

LambdaEvent parsed(std::string_view body) {
    auto event = parse_lambda_event(body);
    EXPECT_TRUE(event.ok()) << body << ": " << (event.ok() ? "" : event.error().message);
    return event.ok() ? *event : LambdaEvent{};
}

TEST(LambdaEvent, ReadsForceAndDryRun) {
    const auto event = parsed(R"({"force": true, "dry_run": false})");
    ASSERT_TRUE(event.force.has_value());
    EXPECT_TRUE(*event.force);
    ASSERT_TRUE(event.dry_run.has_value());
    EXPECT_FALSE(*event.dry_run);
    EXPECT_TRUE(event.warnings.empty());
}

TEST(LambdaEvent, EmptyBodyAndEmptyObjectAskForNothing) {
    for (const char* body : {"", "  \n", "{}"}) {
        const auto event = parsed(body);
        EXPECT_FALSE(event.force.has_value()) << body;
        EXPECT_FALSE(event.dry_run.has_value()) << body;
        EXPECT_TRUE(event.warnings.empty()) << body;
    }
}

TEST(LambdaEvent, NonObjectIsIgnoredWithAWarning) {
    for (const char* body : {"[]", "\"daily\"", "42", "null", "true"}) {
        const auto event = parsed(body);
        EXPECT_FALSE(event.force.has_value()) << body;
        EXPECT_FALSE(event.dry_run.has_value()) << body;
        ASSERT_EQ(event.warnings.size(), 1U) << body;
        EXPECT_NE(event.warnings[0].find("not an object"), std::string::npos) << event.warnings[0];
    }
}

TEST(LambdaEvent, UnknownKeysAreIgnoredWithAWarningEach) {
    // What an EventBridge rule (not Scheduler) sends, plus a known key.
    const auto event = parsed(R"({"version": "0", "detail-type": "Scheduled Event", "dry_run": true})");
    ASSERT_TRUE(event.dry_run.has_value());
    EXPECT_TRUE(*event.dry_run);
    EXPECT_FALSE(event.force.has_value());
    ASSERT_EQ(event.warnings.size(), 2U);
    EXPECT_NE(event.warnings[0].find("\"detail-type\""), std::string::npos) << event.warnings[0];
    EXPECT_NE(event.warnings[1].find("\"version\""), std::string::npos) << event.warnings[1];
}

TEST(LambdaEvent, WrongTypeOfAKnownKeyIsAnError) {
    for (const char* body : {R"({"force": "true"})", R"({"dry_run": 1})", R"({"force": null})"}) {
        auto event = parse_lambda_event(body);
        ASSERT_FALSE(event.ok()) << body;
        EXPECT_EQ(event.error().kind, core::ErrorKind::invalid_input);
        EXPECT_NE(event.error().message.find("must be true or false"), std::string::npos) << event.error().message;
    }
}

TEST(LambdaEvent, InvalidJsonIsAnError) {
    auto event = parse_lambda_event("{force: true");
    ASSERT_FALSE(event.ok());
    EXPECT_NE(event.error().message.find("not valid JSON"), std::string::npos) << event.error().message;
}

TEST(LambdaErrorBody, IsTheRuntimeApiShape) {
    const auto body = nlohmann::json::parse(lambda_error_body("Renewer.CertificateFailed", "a \"quoted\"\nline"));
    EXPECT_EQ(body,
              (nlohmann::json{{"errorMessage", "a \"quoted\"\nline"}, {"errorType", "Renewer.CertificateFailed"}}));
}

RunReport sample_report() {
    RunReport report;
    CertificateResult ok;
    ok.id = "a.example.test";
    ok.domains = {"a.example.test", "*.a.example.test"};
    ok.store = "dir:/x";
    ok.outcome = Outcome::renewed;
    ok.reason = "no certificate stored";
    ok.serial = "0a1b";
    ok.not_after = "2027-01-01T00:00:00Z";
    ok.duration = std::chrono::milliseconds(1234);
    CertificateResult late;
    late.id = "b.example.test";
    late.domains = {"b.example.test"};
    late.outcome = Outcome::failed;
    late.reason = "deadline: not started";
    CertificateResult named;
    named.id = "c.example.test";
    named.domains = {"c.example.test"};
    named.outcome = Outcome::failed;
    named.reason = "c.example.test: newOrder: rejectedIdentifier";
    report.certificates = {ok, late, named};
    report.replacement_errors = {"autoscaling web: AccessDenied"};
    report.duration = std::chrono::milliseconds(4321);
    return report;
}

TEST(ReportJson, HasTheDocumentedShape) {
    const auto body = report_to_json(sample_report());
    EXPECT_EQ(body["exit_code"], 1);
    EXPECT_EQ(body["changed"], true);
    EXPECT_EQ(body["duration_ms"], 4321);
    ASSERT_EQ(body["certificates"].size(), 3U);
    const auto& first = body["certificates"][0];
    EXPECT_EQ(first, (nlohmann::json{{"id", "a.example.test"},
                                     {"domains", {"a.example.test", "*.a.example.test"}},
                                     {"store", "dir:/x"},
                                     {"outcome", "renewed"},
                                     {"reason", "no certificate stored"},
                                     {"serial", "0a1b"},
                                     {"not_after", "2027-01-01T00:00:00Z"},
                                     {"duration_ms", 1234},
                                     {"replacement_owed", nullptr}}));
    EXPECT_EQ(body["certificates"][1]["outcome"], "failed");
    EXPECT_EQ(body["certificates"][1]["reason"], "deadline: not started");
    ASSERT_EQ(body["replacements"].size(), 1U);
    EXPECT_EQ(body["replacements"][0],
              (nlohmann::json{{"replace", "failed"}, {"error", "autoscaling web: AccessDenied"}}));
}

TEST(ReportJson, ShowsAReplacementOwed) {
    auto report = sample_report();
    report.certificates[0].replacement_owed =
        OwedReplacement{"0a1b", "autoscaling", "2027-01-01T00:00:00Z", "autoscaling web: AccessDenied"};
    const auto body = report_to_json(report);
    EXPECT_EQ(body["certificates"][0]["replacement_owed"],
              (nlohmann::json{{"serial", "0a1b"},
                              {"target", "autoscaling"},
                              {"since", "2027-01-01T00:00:00Z"},
                              {"error", "autoscaling web: AccessDenied"}}));
}

TEST(OwedNote, RoundTripsAndClears) {
    const OwedReplacement owed{"0a1b", "ecs", "2027-01-01T00:00:00Z", ""};
    std::string problem;
    EXPECT_EQ(owed_from_json(owed_to_json(owed), problem), owed);
    EXPECT_EQ(problem, "");
    EXPECT_EQ(owed_from_json(owed_to_json(OwedReplacement{}), problem), std::nullopt);
    EXPECT_EQ(problem, "");
    EXPECT_EQ(owed_from_json("[1]", problem), std::nullopt);
    EXPECT_NE(problem, "");
}

TEST(FailureSummary, NamesEachFailedCertificateOnce) {
    const std::string text = failure_summary(sample_report());
    EXPECT_EQ(text,
              "2 of 3 certificate(s) failed: b.example.test: deadline: not started; "
              "c.example.test: newOrder: rejectedIdentifier; replacement failed: autoscaling web: AccessDenied");
    const std::string cut = failure_summary(sample_report(), 40);
    EXPECT_EQ(cut.size(), 40U);
    EXPECT_EQ(cut.substr(37), "...");
}

TEST(DeadlineBefore, KeepsTheMarginFree) {
    const auto end = core::Clock::now() + std::chrono::minutes(5);
    EXPECT_EQ(deadline_before(end).at(), end - k_deadline_margin);
    EXPECT_GE(k_deadline_margin, std::chrono::seconds(10));
}

}  // namespace
}  // namespace renewer
