#include "renewer/plan.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace renewer {
namespace {

std::vector<std::string> sorted(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::string day_text(core::SystemTime t) { return core::format_time(t); }

}  // namespace

Decision decide(const std::optional<secrets::Bundle>& current, const PlanInput& input, core::SystemTime now,
                const std::optional<acme::RenewalInfo>& ari, double ari_fraction) {
    if (!current) {
        if (!input.unreadable.empty()) {
            return {true, "unreadable: " + input.unreadable, std::nullopt};
        }
        return {true, "no certificate stored", std::nullopt};
    }
    if (input.force == Force::yes) {
        return {true, "forced", std::nullopt};
    }
    if (!current->revoked_at.empty()) {
        // RFC 8555 §7.6: a revoked certificate no longer serves; replace it now.
        return {true, fmt::format("revoked on {} ({})", current->revoked_at, current->revocation_reason), std::nullopt};
    }
    if (sorted(current->domains) != sorted(input.names)) {
        return {true, "names changed", std::nullopt};
    }
    if (!input.key_type.empty() && !current->key_type.empty() && current->key_type != input.key_type) {
        return {true, fmt::format("key type changed ({} -> {})", current->key_type, input.key_type), std::nullopt};
    }
    auto not_before = core::parse_time(current->not_before);
    auto not_after = core::parse_time(current->not_after);
    if (!not_before || !not_after) {
        // A bundle written by another tool without metadata: read the leaf.
        auto leaf = core::Certificate::from_pem(current->certificate);
        if (!leaf) {
            return {true, "stored certificate does not parse", std::nullopt};
        }
        const auto info = leaf->info();
        not_before = info.not_before;
        not_after = info.not_after;
    }
    if (*not_after <= now) {
        return {true, "expired on " + day_text(*not_after), std::nullopt};
    }
    // RFC 9773 §4.2: the CA's window wins over our own rule when it offers one.
    if (ari) {
        const auto at = acme::pick_renewal_time(*ari, ari_fraction);
        // RFC 9773 §4.2: a client SHOULD show the operator the explanation.
        const std::string why = ari->explanation_url.empty() ? "" : " (the CA explains: " + ari->explanation_url + ")";
        if (now >= at) {
            return {true, "inside the CA's renewal window" + why, at, true};
        }
        return {false, "not due: the CA's renewal window starts " + day_text(ari->window_start), at};
    }
    const auto lifetime = *not_after - *not_before;
    const double share = lifetime <= std::chrono::hours(24 * input.policy.short_lifetime_days)
                             ? input.policy.short_lifetime_fraction
                             : input.policy.fraction;
    const auto renew_at = *not_after - std::chrono::duration_cast<core::SystemTime::duration>(lifetime * share);
    if (now >= renew_at) {
        return {true,
                fmt::format("less than {:.0f}% of its lifetime left (expires {})", share * 100, day_text(*not_after)),
                renew_at};
    }
    return {false, "not due until " + day_text(renew_at), renew_at};
}

}  // namespace renewer
