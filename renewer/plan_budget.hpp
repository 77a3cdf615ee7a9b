// Which due certificates one run orders, and in what order: the CA's budget
// (docs/configuration.md, "Many certificates: order and budget").
//
// Let's Encrypt allows 300 new orders per account per 3 hours (refilled one
// every 36 s); renewals made through ARI inside the CA's suggested window are
// exempt (RFC 9773 §4.2 and Let's Encrypt's rate-limit documentation). So a
// run orders the most urgent certificates first and places at most
// --max-new-orders orders that are not such renewals; the rest are deferred
// to a later run, which takes them before the CA would refuse them.
// Pure, so every rule is unit-tested (tests/renewer/test_plan_budget.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/x509.hpp"

namespace renewer {

// What ordering and the budget look at in one due certificate.
struct Candidate {
    // notAfter of the certificate stored now; nullopt: none, or unreadable.
    std::optional<core::SystemTime> not_after;
    // Due because the CA's ARI window has begun and the order will carry
    // `replaces` (RFC 9773 §5): exempt from the CA's order limits.
    bool ari_renewal = false;
};

// Indices into `candidates`, most urgent first: no usable certificate first,
// then least time left; ties keep the configuration's order.
std::vector<std::size_t> most_urgent_first(const std::vector<Candidate>& candidates);

// The run's allowance of new orders that are not ARI renewals.
class OrderBudget {
public:
    explicit OrderBudget(int max_new_orders) : max_(max_new_orders) {}
    // Whether one more order of this kind fits.
    bool allows(bool ari_renewal) const { return ari_renewal || used_ < max_; }
    // Counts an order placed (ARI renewals are free).
    void spend(bool ari_renewal) {
        if (!ari_renewal) {
            ++used_;
        }
    }
    int used() const { return used_; }
    int max() const { return max_; }

private:
    int max_;
    int used_ = 0;
};

// The report's reason for a certificate the budget left to a later run.
std::string budget_deferred_reason(int max_new_orders);

// The report's reason for a certificate not ordered because the CA answered
// rateLimited (RFC 8555 §6.7) in this run; `ca_said` is the CA's problem.
std::string rate_limited_deferred_reason(const std::string& ca_said);

}  // namespace renewer
