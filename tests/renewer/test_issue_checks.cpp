// The checks an issued certificate passes before it is stored
// (renewer::verify_issued): a notBefore a little ahead of a slow local clock
// is accepted (secrets::k_clock_skew_tolerance), one far ahead is not.
#include <chrono>

#include <gtest/gtest.h>

#include "renewer/issue.hpp"
#include "renewer/run.hpp"
#include "tests/secrets/bundle_fixtures.hpp"

namespace {

using std::chrono::minutes;

struct Issued {
    secrets::Bundle bundle;
    renewer::RunSettings settings;
    renewer::CertificateConfig config;
};

// A bundle for example.com whose leaf becomes valid `ahead` from now,
// checked against its own root as --trust-root.
Issued issued_ahead(minutes ahead) {
    // make_chain() starts the leaf one hour before the time it is given.
    const auto chain = test_ca::make_chain({"example.com"}, std::chrono::system_clock::now() + minutes(60) + ahead);
    Issued out{test_bundles::from_chain(chain), {}, {}};
    auto root = core::Certificate::from_der(chain.root.cert.to_der());
    EXPECT_TRUE(root.ok());
    out.settings.trust_roots.push_back(std::move(*root));
    out.config.domains = {"example.com"};
    return out;
}

TEST(IssueChecks, ACertificateAFewMinutesAheadOfTheClockIsAccepted) {
    const auto issued = issued_ahead(minutes(4));
    const auto verified = renewer::verify_issued(issued.bundle, issued.config, issued.settings);
    EXPECT_TRUE(verified.ok()) << verified.error().message;
}

TEST(IssueChecks, ACertificateFarAheadOfTheClockIsRejected) {
    const auto issued = issued_ahead(minutes(10));
    const auto verified = renewer::verify_issued(issued.bundle, issued.config, issued.settings);
    ASSERT_FALSE(verified.ok());
    EXPECT_NE(verified.error().message.find("not valid yet"), std::string::npos) << verified.error().message;
}

TEST(IssueChecks, AMissingNameIsRejected) {
    auto issued = issued_ahead(minutes(0));
    issued.config.domains.push_back("www.example.com");
    const auto verified = renewer::verify_issued(issued.bundle, issued.config, issued.settings);
    ASSERT_FALSE(verified.ok());
    EXPECT_NE(verified.error().message.find("www.example.com"), std::string::npos) << verified.error().message;
}

}  // namespace
