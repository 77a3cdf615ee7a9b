// secrets/bundle: the JSON format of docs/stores.md, build_bundle and every way
// verify_bundle refuses a bundle.
#include <chrono>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "secrets/bundle.hpp"
#include "tests/secrets/bundle_fixtures.hpp"

namespace {

using std::chrono::hours;
using std::chrono::system_clock;

std::string error_of(const core::Status& status) { return status.ok() ? std::string("ok") : status.error().message; }

TEST(Bundle, BuildFillsMetadataFromTheLeaf) {
    auto chain = test_ca::make_chain({"example.com", "*.example.com"});
    const auto renewed = system_clock::now();
    auto bundle = secrets::build_bundle(chain.fullchain_pem(), chain.leaf.key.to_pem(), "", renewed);
    ASSERT_TRUE(bundle.ok()) << bundle.error().message;
    const auto info = chain.leaf.cert.info();
    EXPECT_EQ(bundle->certificate, chain.fullchain_pem());
    EXPECT_EQ(bundle->chain, chain.intermediate.cert.to_pem());
    EXPECT_EQ(bundle->domains, (std::vector<std::string>{"example.com", "*.example.com"}));
    EXPECT_EQ(bundle->serial, info.serial_hex);
    EXPECT_EQ(bundle->issuer, info.issuer);
    EXPECT_EQ(bundle->not_before, core::format_time(info.not_before));
    EXPECT_EQ(bundle->not_after, core::format_time(info.not_after));
    EXPECT_EQ(bundle->key_type, "ec256");
    EXPECT_EQ(bundle->renewed_at, core::format_time(renewed));
    EXPECT_NE(bundle->private_key.find("BEGIN PRIVATE KEY"), std::string::npos);  // PKCS#8
    EXPECT_TRUE(secrets::verify_bundle(*bundle, {}).ok());
}

TEST(Bundle, BuildRefusesAKeyOfAnotherCertificate) {
    const auto good = test_bundles::make();
    auto other = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(other.ok());
    auto bundle = secrets::build_bundle(good.certificate, other->to_pem(), "", system_clock::now());
    ASSERT_FALSE(bundle.ok());
    EXPECT_NE(bundle.error().message.find("private_key does not match"), std::string::npos);
}

TEST(Bundle, JsonRoundTripKeepsEveryField) {
    const auto bundle = test_bundles::make();
    const auto text = secrets::to_json(bundle);
    auto parsed = secrets::parse_bundle(text);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(*parsed, bundle);
    // The keys existing consumers read, in the documented order.
    const auto j = nlohmann::ordered_json::parse(text);
    std::vector<std::string> keys;
    for (const auto& item : j.items()) {
        keys.push_back(item.key());
    }
    EXPECT_EQ(keys, (std::vector<std::string>{"certificate", "private_key", "chain", "domains", "not_before",
                                              "not_after", "serial", "issuer", "key_type", "renewed_at"}));
}

TEST(Bundle, ParseNamesTheBadField) {
    struct Case {
        const char* json;
        const char* expect;
    };
    const Case cases[] = {
        {"not json", "not valid JSON"},
        {"[1,2]", "not a JSON object"},
        {R"({"private_key":"k"})", "\"certificate\" is missing"},
        {R"({"certificate":"c"})", "\"private_key\" is missing"},
        {R"({"certificate":"","private_key":"k"})", "\"certificate\" is empty"},
        {R"({"certificate":5,"private_key":"k"})", "\"certificate\" must be a string"},
        {R"({"certificate":"c","private_key":"k","domains":"example.com"})", "\"domains\" must be an array"},
        {R"({"certificate":"c","private_key":"k","domains":[1]})", "\"domains\" must be an array"},
        {R"({"certificate":"c","private_key":"k","not_after":12})", "\"not_after\" must be a string"},
    };
    for (const auto& c : cases) {
        auto parsed = secrets::parse_bundle(c.json);
        ASSERT_FALSE(parsed.ok()) << c.json;
        EXPECT_EQ(parsed.error().kind, core::ErrorKind::invalid_input);
        EXPECT_NE(parsed.error().message.find(c.expect), std::string::npos)
            << c.json << " -> " << parsed.error().message;
    }
}

TEST(Bundle, ParseAcceptsTheMinimalSeedFormat) {
    const auto full = test_bundles::make();
    nlohmann::json j = {{"certificate", full.certificate}, {"private_key", full.private_key}, {"extra", 1}};
    auto parsed = secrets::parse_bundle(j.dump());
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_TRUE(parsed->serial.empty());
    EXPECT_TRUE(secrets::verify_bundle(*parsed, {"example.com", {}, {}}).ok());
}

TEST(Bundle, ParseErrorsNeverQuoteTheSecret) {
    const auto bundle = test_bundles::make();
    auto text = secrets::to_json(bundle);
    text.pop_back();  // truncated JSON
    auto parsed = secrets::parse_bundle(text);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.error().message.find("PRIVATE KEY"), std::string::npos);
}

TEST(Verify, RefusesAKeyMismatch) {
    auto bundle = test_bundles::make();
    bundle.private_key = test_bundles::make().private_key;
    EXPECT_NE(error_of(secrets::verify_bundle(bundle)).find("private_key does not match"), std::string::npos);
}

TEST(Verify, RefusesUnparsablePem) {
    auto bundle = test_bundles::make();
    bundle.certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    EXPECT_NE(error_of(secrets::verify_bundle(bundle)).find("\"certificate\" does not parse"), std::string::npos);
    bundle = test_bundles::make();
    bundle.private_key = "garbage";
    EXPECT_NE(error_of(secrets::verify_bundle(bundle)).find("\"private_key\" does not parse"), std::string::npos);
    bundle = test_bundles::make();
    bundle.certificate.clear();
    EXPECT_NE(error_of(secrets::verify_bundle(bundle)).find("\"certificate\" is empty"), std::string::npos);
}

TEST(Verify, RefusesExpiredAndNotYetValid) {
    const auto now = system_clock::now();
    const auto expired = test_bundles::make_valid_between(now - hours(48), now - hours(1));
    EXPECT_NE(error_of(secrets::verify_bundle(expired)).find("expired"), std::string::npos);
    const auto future = test_bundles::make_valid_between(now + hours(1), now + hours(48));
    EXPECT_NE(error_of(secrets::verify_bundle(future)).find("not valid yet"), std::string::npos);
    // `now` is an option: the same bundle is fine inside its window.
    secrets::VerifyOptions at;
    at.now = now + hours(2);
    EXPECT_TRUE(secrets::verify_bundle(future, at).ok()) << error_of(secrets::verify_bundle(future, at));
}

TEST(Verify, RequiresTheExpectedName) {
    const auto bundle = test_bundles::make({"example.com", "*.example.com"});
    for (const char* good : {"example.com", "www.example.com", "WWW.Example.COM.", "*.example.com"}) {
        EXPECT_TRUE(secrets::verify_bundle(bundle, {good, {}, {}}).ok()) << good;
    }
    for (const char* bad : {"a.b.example.com", "example.org", "notexample.com", "*.www.example.com"}) {
        const auto error = error_of(secrets::verify_bundle(bundle, {bad, {}, {}}));
        EXPECT_NE(error.find("does not cover"), std::string::npos) << bad << " -> " << error;
    }
}

TEST(Verify, WildcardRulesOfRfc6125) {
    EXPECT_TRUE(secrets::name_matches("*.example.com", "www.example.com"));
    EXPECT_FALSE(secrets::name_matches("*.example.com", "example.com"));
    EXPECT_FALSE(secrets::name_matches("*.example.com", "a.b.example.com"));
    EXPECT_FALSE(secrets::name_matches("*.example.com", ".example.com"));
    EXPECT_FALSE(secrets::name_matches("*.com", "example.com"));
    EXPECT_FALSE(secrets::name_matches("w*.example.com", "www.example.com"));
    EXPECT_FALSE(secrets::name_matches("www.example.com", "*.example.com"));
    EXPECT_TRUE(secrets::name_matches("*.example.com", "*.example.com"));
    EXPECT_TRUE(secrets::name_matches("Example.COM", "example.com."));
    EXPECT_FALSE(secrets::name_matches("", ""));
}

TEST(Verify, ChainMustBeTheIntermediates) {
    auto bundle = test_bundles::make();
    bundle.chain = test_bundles::make().certificate;  // a leaf and the intermediate
    EXPECT_NE(error_of(secrets::verify_bundle(bundle)).find("\"chain\" is not the certificate's intermediates"),
              std::string::npos);
    bundle = test_bundles::make();
    bundle.chain = "nonsense";
    EXPECT_NE(error_of(secrets::verify_bundle(bundle)).find("\"chain\" does not parse"), std::string::npos);
}

TEST(Verify, MetadataMustDescribeTheLeaf) {
    const auto good = test_bundles::make();
    struct Case {
        void (*mutate)(secrets::Bundle&);
        const char* field;
    };
    const Case cases[] = {
        {[](secrets::Bundle& b) { b.serial = "deadbeef"; }, "\"serial\""},
        {[](secrets::Bundle& b) { b.not_after = "2020-01-01T00:00:00Z"; }, "\"not_after\""},
        {[](secrets::Bundle& b) { b.not_before = "yesterday"; }, "\"not_before\""},
        {[](secrets::Bundle& b) { b.domains = {"other.example"}; }, "\"domains\""},
        {[](secrets::Bundle& b) { b.key_type = "rsa2048"; }, "\"key_type\""},
        {[](secrets::Bundle& b) { b.key_type = "dsa"; }, "\"key_type\""},
        {[](secrets::Bundle& b) { b.issuer = "CN=Someone Else"; }, "\"issuer\""},
        {[](secrets::Bundle& b) { b.renewed_at = "soon"; }, "\"renewed_at\""},
    };
    for (const auto& c : cases) {
        auto bundle = good;
        c.mutate(bundle);
        const auto error = error_of(secrets::verify_bundle(bundle));
        EXPECT_NE(error.find(c.field), std::string::npos) << c.field << " -> " << error;
    }
    // Serial spelling differences are not differences.
    auto bundle = good;
    bundle.serial = "00:" + good.serial;
    EXPECT_TRUE(secrets::verify_bundle(bundle).ok()) << error_of(secrets::verify_bundle(bundle));
}

TEST(Verify, ChecksTheChainAgainstRootsWhenGiven) {
    auto chain = test_ca::make_chain({"example.com"});
    const auto bundle = test_bundles::from_chain(chain);
    secrets::VerifyOptions options;
    options.roots.push_back(core::Certificate::from_der(chain.root.cert.to_der()).value());
    EXPECT_TRUE(secrets::verify_bundle(bundle, options).ok()) << error_of(secrets::verify_bundle(bundle, options));
    secrets::VerifyOptions wrong;
    wrong.roots.push_back(
        std::move(test_ca::make_chain({"example.com"}, system_clock::now(), "Another Root").root.cert));
    EXPECT_FALSE(secrets::verify_bundle(bundle, wrong).ok());
}

}  // namespace
