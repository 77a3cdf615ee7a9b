// renewer/plan_budget.hpp: the order of due certificates (most urgent first)
// and the run's budget of new orders (ARI renewals do not count).
#include <chrono>
#include <vector>

#include <gtest/gtest.h>

#include "renewer/plan_budget.hpp"

namespace {

using renewer::Candidate;
using std::chrono::hours;

const core::SystemTime k_now = std::chrono::system_clock::now();

Candidate expiring_in(hours left, bool ari = false) { return {k_now + left, ari}; }

TEST(PlanBudget, NothingStoredComesFirstThenLeastTimeLeft) {
    const std::vector<Candidate> candidates = {expiring_in(hours(24 * 20)), expiring_in(hours(24 * 3)), Candidate{},
                                               expiring_in(hours(-5)), expiring_in(hours(24 * 9))};
    EXPECT_EQ(renewer::most_urgent_first(candidates), (std::vector<std::size_t>{2, 3, 1, 4, 0}));
}

TEST(PlanBudget, TiesKeepTheConfigurationsOrder) {
    const std::vector<Candidate> candidates = {Candidate{}, expiring_in(hours(48)), Candidate{}, expiring_in(hours(48)),
                                               Candidate{}};
    EXPECT_EQ(renewer::most_urgent_first(candidates), (std::vector<std::size_t>{0, 2, 4, 1, 3}));
}

TEST(PlanBudget, EmptyListOrdersNothing) { EXPECT_TRUE(renewer::most_urgent_first({}).empty()); }

TEST(PlanBudget, BoundsNewOrdersButNotAriRenewals) {
    renewer::OrderBudget budget(2);
    EXPECT_TRUE(budget.allows(false));
    budget.spend(false);
    budget.spend(true);  // an ARI renewal inside the window: the CA does not count it
    EXPECT_TRUE(budget.allows(false));
    budget.spend(false);
    EXPECT_FALSE(budget.allows(false));
    EXPECT_TRUE(budget.allows(true));
    EXPECT_EQ(budget.used(), 2);
}

TEST(PlanBudget, ZeroAllowsOnlyAriRenewals) {
    const renewer::OrderBudget budget(0);
    EXPECT_FALSE(budget.allows(false));
    EXPECT_TRUE(budget.allows(true));
}

TEST(PlanBudget, ReasonsNameTheCauseAndTheFlag) {
    EXPECT_NE(renewer::budget_deferred_reason(7).find("--max-new-orders (7)"), std::string::npos);
    const auto refused = renewer::rate_limited_deferred_reason("newOrder: rateLimited: too many new orders");
    EXPECT_EQ(refused.rfind("deferred: ", 0), 0U);
    EXPECT_NE(refused.find("too many new orders"), std::string::npos);
}

}  // namespace
