// Nonce pool, directory parsing, Link headers, preferred-chain selection,
// profile check.
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "acme/order.hpp"
#include "acme/transport.hpp"
#include "pebble_fixture.hpp"

namespace {

TEST(NoncePool, LifoCapacityAndEmpty) {
    acme::NoncePool pool(2);
    EXPECT_FALSE(pool.take());
    pool.put("");
    EXPECT_EQ(pool.size(), 0u);
    pool.put("a");
    pool.put("b");
    pool.put("c");  // drops "a", the oldest
    EXPECT_EQ(pool.size(), 2u);
    EXPECT_EQ(pool.take().value_or(""), "c");
    EXPECT_EQ(pool.take().value_or(""), "b");
    EXPECT_FALSE(pool.take());
}

TEST(NoncePool, ConcurrentUseHandsOutEachNonceOnce) {
    acme::NoncePool pool(100000);
    std::atomic<int> taken{0};
    std::vector<std::vector<std::string>> got(4);
    {
        std::vector<std::jthread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 1000; ++i) {
                    pool.put(std::to_string(t) + ":" + std::to_string(i));
                    if (auto n = pool.take()) {
                        got[static_cast<std::size_t>(t)].push_back(*n);
                        ++taken;
                    }
                }
            });
        }
    }
    std::set<std::string> unique;
    for (const auto& list : got) {
        unique.insert(list.begin(), list.end());
    }
    EXPECT_EQ(unique.size(), static_cast<std::size_t>(taken.load()));
    EXPECT_EQ(static_cast<std::size_t>(taken.load()) + pool.size(), 4000u);
}

TEST(Directory, ParsesMetaProfilesAndRenewalInfo) {
    auto dir = acme::Directory::parse(R"({
        "newNonce":"https://ca/nonce","newAccount":"https://ca/acct","newOrder":"https://ca/order",
        "revokeCert":"https://ca/revoke","keyChange":"https://ca/key","renewalInfo":"https://ca/ari",
        "meta":{"termsOfService":"https://ca/tos","externalAccountRequired":true,
                "profiles":{"classic":"The default","shortlived":"6 days"}}})",
                                      "https://ca/dir");
    ASSERT_TRUE(dir.ok()) << dir.error().message;
    EXPECT_EQ(dir->renewal_info, "https://ca/ari");
    EXPECT_EQ(dir->terms_of_service, "https://ca/tos");
    EXPECT_TRUE(dir->external_account_required);
    EXPECT_EQ(dir->profiles.size(), 2u);
    EXPECT_TRUE(acme::check_profile(*dir, "shortlived").ok());
    EXPECT_TRUE(acme::check_profile(*dir, "").ok());
    auto bad = acme::check_profile(*dir, "tlsserver");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("\"tlsserver\""), std::string::npos);
    EXPECT_NE(bad.error().message.find("classic, shortlived"), std::string::npos);

    EXPECT_FALSE(acme::Directory::parse(R"({"newNonce":"x"})", "u").ok());
    auto plain = acme::Directory::parse(R"({"newNonce":"n","newAccount":"a","newOrder":"o"})", "https://ca/dir");
    ASSERT_TRUE(plain.ok());
    auto none = acme::check_profile(*plain, "classic");
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("offers no profiles"), std::string::npos);
}

TEST(Links, AlternateAndOtherRels) {
    const std::vector<std::string> headers = {
        R"(<https://ca/dir>;rel="index")",
        R"(<https://ca/cert/1/1>;rel="alternate", <https://ca/cert/1/2>; rel=alternate)",
        R"(<https://ca/issuer>; title="a, b"; rel="up alternate")",
    };
    EXPECT_EQ(acme::parse_links(headers, "alternate"),
              (std::vector<std::string>{"https://ca/cert/1/1", "https://ca/cert/1/2", "https://ca/issuer"}));
    EXPECT_EQ(acme::parse_links(headers, "index"), (std::vector<std::string>{"https://ca/dir"}));
    EXPECT_EQ(acme::parse_links(headers, "up"), (std::vector<std::string>{"https://ca/issuer"}));
    EXPECT_TRUE(acme::parse_links({}, "alternate").empty());
}

std::string self_signed(const test::TempDir& dir, const std::string& cn) {
    const std::string out = dir.file(cn + ".pem");
    test::run_checked({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-keyout", dir.file(cn + ".key"), "-out", out, "-days", "1", "-subj", "/CN=" + cn},
                      dir.file("openssl.log"));
    return test::read_text(out);
}

TEST(PreferredChain, ByIssuerCnOfTopmostCertificate) {
    test::TempDir dir;
    const std::string leafish = self_signed(dir, "leaf.example");
    const std::string root_a = self_signed(dir, "Root A");
    const std::string root_b = self_signed(dir, "Root B");
    const std::vector<acme::CertificateChain> chains = {
        {"https://ca/cert/0", leafish + root_a},
        {"https://ca/cert/1", leafish + root_b},
    };
    EXPECT_EQ(acme::select_chain(chains, "Root B"), 1u);
    EXPECT_EQ(acme::select_chain(chains, "Root A"), 0u);
    EXPECT_EQ(acme::select_chain(chains, "leaf.example"), 0u);  // only the topmost certificate counts
    EXPECT_EQ(acme::select_chain(chains, "Unknown"), 0u);
    EXPECT_EQ(acme::select_chain(chains, ""), 0u);
}

}  // namespace
