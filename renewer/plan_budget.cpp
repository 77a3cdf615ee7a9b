#include "renewer/plan_budget.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

namespace renewer {

std::vector<std::size_t> most_urgent_first(const std::vector<Candidate>& candidates) {
    std::vector<std::size_t> order(candidates.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    // nullopt (nothing usable stored) sorts before every time: std::optional's <.
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return candidates[a].not_after < candidates[b].not_after; });
    return order;
}

std::string budget_deferred_reason(int max_new_orders) {
    return fmt::format(
        "deferred: this run's --max-new-orders ({}) is used up by more urgent certificates; "
        "a later run (or one running beside this one) orders it",
        max_new_orders);
}

std::string rate_limited_deferred_reason(const std::string& ca_said) {
    return "deferred: the CA refused new orders for now, none more in this run (" + ca_said + ")";
}

}  // namespace renewer
