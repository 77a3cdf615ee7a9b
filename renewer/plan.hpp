// The plan: is a certificate due, and why (docs/architecture.md, "Data flow
// of one run"). Pure, so every rule is unit-tested (tests/renewer/test_plan.cpp);
// the run feeds it the stored bundle and, when the CA offers it, the renewal
// information (RFC 9773). prepare.hpp prepares the jobs it decides for.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "acme/ari.hpp"
#include "core/x509.hpp"
#include "renewer/config.hpp"
#include "secrets/bundle.hpp"

namespace renewer {

enum class Force { no, yes };

struct PlanInput {
    std::vector<std::string> names;  // wanted, normalized
    std::string key_type;            // wanted ("ec256", ...)
    Force force = Force::no;
    RenewPolicy policy;
    // Why the stored value could not be read, when it could not (a corrupted
    // secret version): due, so a good version replaces it.
    std::string unreadable;
};

struct Decision {
    bool due = false;
    std::string reason;  // one phrase: "no certificate stored", "inside the CA's renewal window", ...
    // When the lifetime rule (or ARI) says the certificate becomes due.
    std::optional<core::SystemTime> renew_at;
    // Due because the CA's ARI window (RFC 9773 §4.2) has begun: such a
    // renewal is exempt from the CA's order limits (renewer/plan_budget.hpp).
    bool ari_window = false;
};

// `current`: the stored bundle (nullopt when none). `ari`: the CA's renewal
// window when it offers one; `ari_fraction` in [0, 1) picks the point inside
// it (random per run in production, fixed in tests).
Decision decide(const std::optional<secrets::Bundle>& current, const PlanInput& input, core::SystemTime now,
                const std::optional<acme::RenewalInfo>& ari = std::nullopt, double ari_fraction = 0.5);

}  // namespace renewer
