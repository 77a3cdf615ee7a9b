// `renewer revoke`'s pieces that need no CA (docs/commands.md): the RFC 5280
// §5.3.1 reason names, the revocation recorded in the bundle (docs/stores.md
// #the-secret-format) and the plan's answer for a revoked certificate. The
// requests themselves are tested on Pebble (test_revoke_e2e.py).
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "renewer/plan.hpp"
#include "renewer/revoke.hpp"
#include "secrets/bundle.hpp"
#include "tests/secrets/bundle_fixtures.hpp"

namespace {

using acme::RevocationReason;

TEST(RevocationReason, NamesMapToTheirRfc5280Codes) {
    const std::pair<const char*, int> cases[] = {{"unspecified", 0},          {"keyCompromise", 1},
                                                 {"affiliationChanged", 3},   {"superseded", 4},
                                                 {"cessationOfOperation", 5}, {"KEYCOMPROMISE", 1}};
    for (const auto& [name, code] : cases) {
        const auto reason = renewer::parse_revocation_reason(name);
        ASSERT_TRUE(reason.ok()) << name;
        EXPECT_EQ(static_cast<int>(*reason), code) << name;
    }
    EXPECT_STREQ(renewer::to_string(RevocationReason::cessation_of_operation), "cessationOfOperation");
}

TEST(RevocationReason, ReasonsASubscriberMayNotGiveAreRejectedByName) {
    for (const char* name : {"cACompromise", "certificateHold", "removeFromCRL", "privilegeWithdrawn", "1", ""}) {
        const auto reason = renewer::parse_revocation_reason(name);
        ASSERT_FALSE(reason.ok()) << name;
        EXPECT_NE(reason.error().message.find(std::string("--reason ") + name + ":"), std::string::npos)
            << reason.error().message;
        EXPECT_NE(reason.error().message.find("keyCompromise"), std::string::npos);
    }
}

TEST(RevokedBundle, TheRecordSurvivesTheSecretFormatAndMakesTheCertificateDue) {
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    auto bundle = test_bundles::make_valid_between(now - std::chrono::hours(24), now + std::chrono::hours(24 * 89),
                                                   {"example.com"});
    renewer::PlanInput input;
    input.names = {"example.com"};
    input.key_type = "ec256";
    ASSERT_FALSE(renewer::decide(bundle, input, now).due);
    EXPECT_EQ(secrets::to_json(bundle).find("revoked_at"), std::string::npos);

    bundle.revoked_at = "2026-12-05T10:00:00Z";
    bundle.revocation_reason = "keyCompromise";
    const auto parsed = secrets::parse_bundle(secrets::to_json(bundle));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, bundle);
    EXPECT_TRUE(secrets::verify_bundle(*parsed).ok()) << "the record is metadata, not a broken bundle";
    const auto decision = renewer::decide(*parsed, input, now);
    EXPECT_TRUE(decision.due);
    EXPECT_EQ(decision.reason, "revoked on 2026-12-05T10:00:00Z (keyCompromise)");
}

}  // namespace
