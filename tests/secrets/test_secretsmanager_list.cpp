// secrets::Store::list / open on the Secrets Manager store against
// tests/fakeaws (label e2e): ListSecrets with a name prefix filter over every
// page (at most 100 per page), the side records left out, names relative to
// the store's prefix, and open() reading a listed bundle.
#include <gtest/gtest.h>

#include "aws/client.hpp"
#include "secrets/store.hpp"
#include "tests/aws/fakeaws_fixture.hpp"
#include "tests/secrets/bundle_fixtures.hpp"

namespace {

class SecretsManagerList : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        std::string error;
        fake_ = aws_test::FakeAws::start(error);
        start_error_ = error;
        if (fake_) {
            env_ = std::make_unique<aws_test::AwsEnv>(fake_->endpoint);  // never real AWS
        }
    }
    static void TearDownTestSuite() {
        env_.reset();
        fake_.reset();
    }
    void SetUp() override {
        ASSERT_TRUE(fake_) << start_error_;
        fake_->control("POST", "/_fake/reset", nlohmann::json::object());
    }

    static void seed(const std::string& name, const std::string& text) {
        fake_->control("POST", "/_fake/secrets", {{"name", name}, {"string", text}});
    }
    static std::size_t calls(const std::string& action) {
        return fake_->control("GET", "/_fake/calls?action=" + action)["calls"].size();
    }

    static std::unique_ptr<secrets::Store> store(const std::string& id) {
        auto settings = std::make_shared<aws::ClientSettings>();
        settings->credentials = aws::static_credentials(
            aws::Credentials{aws_test::FakeAws::k_access_key, aws_test::FakeAws::k_secret_key, "", {}, "test"});
        secrets::StoreConfig config;
        config.aws = settings;
        auto made = secrets::make_store("aws-sm:" + id, config);
        if (!made) {
            throw std::runtime_error(made.error().message);
        }
        return std::move(made).value();
    }

    static inline std::unique_ptr<aws_test::FakeAws> fake_;
    static inline std::unique_ptr<aws_test::AwsEnv> env_;
    static inline std::string start_error_;
};

TEST_F(SecretsManagerList, EveryPageSideRecordsLeftOut) {
    constexpr int k_count = 230;  // three pages of at most 100
    for (int i = 0; i < k_count; ++i) {
        seed("fleet/c" + std::to_string(1000 + i) + ".example.com", "{}");
    }
    for (const char* side : {"-lock", "-account", "-replace-owed"}) {
        seed(std::string("fleet/c1000.example.com") + side, "{}");
    }
    seed("other/c1.example.com", "{}");
    seed("fleetwood.example.com", "{}");

    auto listed = store("fleet/")->list("");
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed->size(), static_cast<std::size_t>(k_count));
    EXPECT_EQ(listed->front().name, "c1000.example.com");
    EXPECT_EQ(listed->front().spec, "aws-sm:fleet/c1000.example.com");
    EXPECT_EQ(listed->back().name, "c1229.example.com");
    EXPECT_EQ(calls("ListSecrets"), 3U);

    auto narrowed = store("fleet/")->list("c11");
    ASSERT_TRUE(narrowed);
    EXPECT_EQ(narrowed->size(), 100U);  // c1100 .. c1199
}

TEST_F(SecretsManagerList, OpenReadsTheListedBundle) {
    const auto bundle = test_bundles::make({"shop.example.com"});
    seed("customers/shop.example.com", secrets::to_json(bundle));
    auto location = store("customers/");
    auto listed = location->list("");
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 1U);
    auto opened = location->open(listed->front().name);
    ASSERT_TRUE(opened);
    EXPECT_EQ((*opened)->describe(), "aws-sm:customers/shop.example.com");
    auto got = (*opened)->get();
    ASSERT_TRUE(got && *got) << (got ? "no value" : got.error().message);
    EXPECT_EQ((*got)->serial, bundle.serial);
}

TEST_F(SecretsManagerList, AnArnCannotBeListed) {
    auto listed = store("arn:aws:secretsmanager:us-east-1:123456789012:secret:customers-AbCdEf")->list("");
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(listed.error().message.find("list by a name prefix"), std::string::npos) << listed.error().message;
}

}  // namespace
