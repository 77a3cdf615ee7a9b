// acme::ResourceStatus (RFC 8555 §7.1.6): every wire name round-trips, and an
// order, authorization or challenge with a status the RFC does not define is
// an error naming the value.
#include <string>

#include <gtest/gtest.h>

#include "acme/order.hpp"
#include "acme/status.hpp"

namespace {

using acme::ResourceStatus;

TEST(ResourceStatus, EveryWireNameRoundTrips) {
    for (const char* name :
         {"pending", "ready", "processing", "valid", "invalid", "deactivated", "expired", "revoked"}) {
        auto status = acme::parse_status(name, "order");
        ASSERT_TRUE(status.ok()) << name;
        EXPECT_STREQ(acme::to_string(*status), name);
    }
}

TEST(ResourceStatus, UnknownOrMissingIsAnErrorNamingIt) {
    auto unknown = acme::parse_status("finished", "order https://ca.test/order/1");
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().kind, core::ErrorKind::protocol);
    EXPECT_NE(unknown.error().message.find("\"finished\""), std::string::npos) << unknown.error().message;
    EXPECT_NE(unknown.error().message.find("order https://ca.test/order/1"), std::string::npos);
    EXPECT_FALSE(acme::parse_status("", "order").ok());
    EXPECT_FALSE(acme::parse_status("Valid", "order").ok());  // the RFC's names are lower case
}

TEST(ResourceStatus, ParsedFromOrdersAuthorizationsAndChallenges) {
    auto order = acme::parse_order(R"({"status":"ready","finalize":"https://ca.test/finalize/1"})", "u");
    ASSERT_TRUE(order.ok()) << order.error().message;
    EXPECT_EQ(order->status, ResourceStatus::ready);
    auto authz = acme::parse_authorization(
        R"({"status":"pending","identifier":{"type":"dns","value":"example.test"},
            "challenges":[{"type":"dns-01","url":"c","token":"t","status":"processing"}]})",
        "a");
    ASSERT_TRUE(authz.ok()) << authz.error().message;
    EXPECT_EQ(authz->status, ResourceStatus::pending);
    ASSERT_EQ(authz->challenges.size(), 1u);
    EXPECT_EQ(authz->challenges[0].status, ResourceStatus::processing);
}

TEST(ResourceStatus, AnUnknownStatusFromTheServerIsRejected) {
    auto order = acme::parse_order(R"({"status":"done"})", "https://ca.test/order/1");
    ASSERT_FALSE(order.ok());
    EXPECT_NE(order.error().message.find("\"done\""), std::string::npos) << order.error().message;
    auto authz = acme::parse_authorization(
        R"({"status":"pending","challenges":[{"type":"dns-01","url":"c","token":"t","status":"waiting"}]})", "a");
    ASSERT_FALSE(authz.ok());
    EXPECT_NE(authz.error().message.find("\"waiting\""), std::string::npos) << authz.error().message;
}

}  // namespace
