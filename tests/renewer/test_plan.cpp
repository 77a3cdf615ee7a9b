// renewer::decide(): one case per rule that makes a certificate due (or not),
// and what renew_at says. Bundles come from tests/secrets/bundle_fixtures.hpp
// (real certificates from the test CA), with validity given to the second.
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "renewer/plan.hpp"
#include "tests/secrets/bundle_fixtures.hpp"

namespace {

using std::chrono::hours;
using std::chrono::seconds;

constexpr auto k_day = hours(24);

// Certificates carry whole seconds; so do the times the tests compare with.
core::SystemTime base_time() { return std::chrono::floor<seconds>(std::chrono::system_clock::now()); }

renewer::PlanInput input_for(const std::vector<std::string>& names) {
    renewer::PlanInput input;
    input.names = names;
    input.key_type = "ec256";  // what the test CA's leaves have
    return input;
}

// A bundle for example.com valid over [not_before, not_after].
secrets::Bundle bundle_between(core::SystemTime not_before, core::SystemTime not_after,
                               const std::vector<std::string>& names = {"example.com"}) {
    return test_bundles::make_valid_between(not_before, not_after, names);
}

acme::RenewalInfo window(core::SystemTime start, core::SystemTime end) {
    acme::RenewalInfo info;
    info.window_start = start;
    info.window_end = end;
    return info;
}

// The lifetime rule's threshold for a certificate over [not_before, not_after]
// when `share` of its lifetime must be left.
core::SystemTime threshold(core::SystemTime not_before, core::SystemTime not_after, double share) {
    return not_after - std::chrono::duration_cast<core::SystemTime::duration>((not_after - not_before) * share);
}

// The lifetime rule: not due a second before `at`, due a second after, with
// "less than <percent>% of its lifetime left"; renew_at is `at` either way.
void expect_due_from(const secrets::Bundle& current, core::SystemTime at, const std::string& percent,
                     core::SystemTime not_after) {
    const auto before = renewer::decide(current, input_for({"example.com"}), at - seconds(1));
    EXPECT_FALSE(before.due);
    EXPECT_EQ(before.reason, "not due until " + core::format_time(at));
    ASSERT_TRUE(before.renew_at);
    EXPECT_EQ(*before.renew_at, at);

    const auto after = renewer::decide(current, input_for({"example.com"}), at + seconds(1));
    EXPECT_TRUE(after.due);
    EXPECT_EQ(after.reason,
              "less than " + percent + "% of its lifetime left (expires " + core::format_time(not_after) + ")");
    ASSERT_TRUE(after.renew_at);
    EXPECT_EQ(*after.renew_at, at);
}

TEST(PlanDecide, DueWhenNoCertificateIsStored) {
    const auto decision = renewer::decide(std::nullopt, input_for({"example.com"}), base_time());
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "no certificate stored");
    EXPECT_FALSE(decision.renew_at);
}

TEST(PlanDecide, DueWhenANameWasAdded) {
    const auto now = base_time();
    const auto current = bundle_between(now - k_day, now + 89 * k_day, {"example.com"});
    const auto decision = renewer::decide(current, input_for({"example.com", "www.example.com"}), now);
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "names changed");
}

TEST(PlanDecide, DueWhenANameWasRemoved) {
    const auto now = base_time();
    const auto current = bundle_between(now - k_day, now + 89 * k_day, {"example.com", "www.example.com"});
    const auto decision = renewer::decide(current, input_for({"example.com"}), now);
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "names changed");
}

TEST(PlanDecide, NamesInAnotherOrderAreNotAChange) {
    const auto now = base_time();
    const auto current = bundle_between(now - k_day, now + 89 * k_day, {"example.com", "www.example.com"});
    const auto decision = renewer::decide(current, input_for({"www.example.com", "example.com"}), now);
    EXPECT_FALSE(decision.due);
}

TEST(PlanDecide, DueWhenTheKeyTypeChanged) {
    const auto now = base_time();
    const auto current = bundle_between(now - k_day, now + 89 * k_day);
    ASSERT_EQ(current.key_type, "ec256");
    auto input = input_for({"example.com"});
    input.key_type = "rsa2048";
    const auto decision = renewer::decide(current, input, now);
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "key type changed (ec256 -> rsa2048)");
}

TEST(PlanDecide, DueWhenExpired) {
    const auto now = base_time();
    const auto current = bundle_between(now - 90 * k_day, now - k_day);
    const auto decision = renewer::decide(current, input_for({"example.com"}), now);
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "expired on " + core::format_time(now - k_day));
    EXPECT_FALSE(decision.ari_window);  // the lifetime rule: an order the CA counts
}

TEST(PlanDecide, DueInsideTheAriWindowEvenWhenTheLifetimeRuleSaysNo) {
    const auto now = base_time();
    const auto current = bundle_between(now - k_day, now + 89 * k_day);  // fresh by the lifetime rule
    const auto ari = window(now - hours(2), now + hours(2));
    const auto decision = renewer::decide(current, input_for({"example.com"}), now, ari, 0.25);
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "inside the CA's renewal window");
    EXPECT_TRUE(decision.ari_window);  // exempt from the CA's order limits (renewer/plan_budget.hpp)
    ASSERT_TRUE(decision.renew_at);
    EXPECT_EQ(*decision.renew_at, now - hours(1));  // a quarter into the window
}

TEST(PlanDecide, NotDueBeforeTheAriWindowEvenWhenTheLifetimeRuleSaysYes) {
    const auto now = base_time();
    const auto current = bundle_between(now - 80 * k_day, now + 10 * k_day);  // due by the lifetime rule
    const auto ari = window(now + 2 * k_day, now + 4 * k_day);
    const auto decision = renewer::decide(current, input_for({"example.com"}), now, ari, 0.5);
    EXPECT_FALSE(decision.due);
    EXPECT_EQ(decision.reason, "not due: the CA's renewal window starts " + core::format_time(now + 2 * k_day));
    ASSERT_TRUE(decision.renew_at);
    EXPECT_EQ(*decision.renew_at, now + 3 * k_day);
}

TEST(PlanDecide, DueWhenTheAriWindowIsAlreadyPast) {
    const auto now = base_time();
    const auto current = bundle_between(now - k_day, now + 89 * k_day);
    const auto ari = window(now - 3 * k_day, now - 2 * k_day);
    const auto decision = renewer::decide(current, input_for({"example.com"}), now, ari, 0.99);
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "inside the CA's renewal window");
    ASSERT_TRUE(decision.renew_at);
    EXPECT_LT(*decision.renew_at, now - 2 * k_day);
}

TEST(PlanDecide, LongLifetimeIsDueWithAThirdLeft) {
    const auto now = base_time();
    const auto not_before = now - 50 * k_day;
    const auto not_after = now + 40 * k_day;  // 90 days: due 30 days before the end
    const auto current = bundle_between(not_before, not_after);
    const auto at = threshold(not_before, not_after, 1.0 / 3.0);
    ASSERT_LT(at - (not_after - 30 * k_day), seconds(1));
    expect_due_from(current, at, "33", not_after);
}

TEST(PlanDecide, ShortLifetimeIsDueWithHalfLeft) {
    const auto now = base_time();
    const auto not_before = now - 2 * k_day;
    const auto not_after = now + 4 * k_day;  // 6 days: due 3 days before the end
    const auto current = bundle_between(not_before, not_after);
    const auto at = not_after - 3 * k_day;
    ASSERT_EQ(threshold(not_before, not_after, 0.5), at);
    expect_due_from(current, at, "50", not_after);
}

TEST(PlanDecide, TenDaysIsStillAShortLifetimeElevenIsNot) {
    const auto now = base_time();
    const auto ten = bundle_between(now - 10 * k_day, now);
    const auto ten_decision = renewer::decide(ten, input_for({"example.com"}), now - 6 * k_day);
    ASSERT_TRUE(ten_decision.renew_at);
    EXPECT_EQ(*ten_decision.renew_at, now - 5 * k_day);

    const auto not_before = now - 11 * k_day;
    const auto eleven = bundle_between(not_before, now);
    const auto eleven_decision = renewer::decide(eleven, input_for({"example.com"}), now - 6 * k_day);
    ASSERT_TRUE(eleven_decision.renew_at);
    EXPECT_EQ(*eleven_decision.renew_at, threshold(not_before, now, 1.0 / 3.0));
}

TEST(PlanDecide, ForceMakesAFreshCertificateDue) {
    const auto now = base_time();
    const auto current = bundle_between(now - k_day, now + 89 * k_day);
    auto input = input_for({"example.com"});
    EXPECT_FALSE(renewer::decide(current, input, now).due);
    input.force = renewer::Force::yes;
    const auto decision = renewer::decide(current, input, now);
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "forced");
    EXPECT_FALSE(decision.renew_at);
}

TEST(PlanDecide, NotDueSaysWhenItWillBe) {
    const auto now = base_time();
    const auto not_before = now - k_day;
    const auto not_after = now + 89 * k_day;
    const auto current = bundle_between(not_before, not_after);
    const auto decision = renewer::decide(current, input_for({"example.com"}), now);
    EXPECT_FALSE(decision.due);
    const auto at = threshold(not_before, not_after, 1.0 / 3.0);
    ASSERT_TRUE(decision.renew_at);
    EXPECT_EQ(*decision.renew_at, at);
    EXPECT_EQ(decision.reason, "not due until " + core::format_time(at));
}

}  // namespace

namespace {

// RFC 9773 §4.2: the operator sees why the CA moved the window (a
// revocation event), in the reason the plan and the report print.
TEST(PlanDecide, TheCasExplanationIsInTheReason) {
    const auto now = base_time();
    const auto current = bundle_between(now - 10 * k_day, now + 80 * k_day);
    auto ari = window(now - hours(2), now + hours(2));
    ari.explanation_url = "https://ca.example/incident-42";
    const auto decision = renewer::decide(current, input_for({"example.com"}), now, ari, 0.25);
    EXPECT_TRUE(decision.due);
    EXPECT_NE(decision.reason.find("https://ca.example/incident-42"), std::string::npos) << decision.reason;
}

// A stored value that cannot be read is due, and says why: not "no
// certificate stored", which would hide the corruption from the operator.
TEST(PlanDecide, AnUnreadableStoredValueIsDueAndSaysSo) {
    auto input = input_for({"example.com"});
    input.unreadable = "aws-sm:example AWSCURRENT: bundle: not valid JSON";
    const auto decision = renewer::decide(std::nullopt, input, base_time());
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "unreadable: aws-sm:example AWSCURRENT: bundle: not valid JSON");
}

}  // namespace
