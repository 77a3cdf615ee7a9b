// secrets::make_secretsmanager_store against tests/fakeaws (label e2e):
// create/put/get with stage rotation, the size limit checked before any call,
// ResourceNotFound as "nothing", the account secret and the lease.
#include <atomic>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "aws/client.hpp"
#include "secrets/store.hpp"
#include "tests/aws/fakeaws_fixture.hpp"
#include "tests/secrets/bundle_fixtures.hpp"

namespace {

using std::chrono::seconds;

class SecretsManagerStoreE2e : public ::testing::Test {
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

    // The fake's call log, optionally for one action.
    static nlohmann::json calls(const std::string& action = "") {
        return fake_->control("GET", action.empty() ? "/_fake/calls" : "/_fake/calls?action=" + action)["calls"];
    }
    static nlohmann::json secrets_list() { return fake_->control("GET", "/_fake/secrets")["secrets"]; }

    // `config` with the fake's credentials and short retries, unless it has its own client settings.
    static secrets::StoreConfig with_client(secrets::StoreConfig config) {
        if (!config.aws) {
            auto settings = std::make_shared<aws::ClientSettings>();
            settings->credentials = aws::static_credentials(
                aws::Credentials{aws_test::FakeAws::k_access_key, aws_test::FakeAws::k_secret_key, "", {}, "test"});
            settings->retry.base_delay = std::chrono::milliseconds(5);
            settings->retry.max_delay = std::chrono::milliseconds(50);
            config.aws = settings;
        }
        return config;
    }

    static std::unique_ptr<secrets::Store> store(const std::string& id, secrets::StoreConfig config = {}) {
        auto made = secrets::make_store("aws-sm:" + id, with_client(std::move(config)));
        if (!made) {
            throw std::runtime_error(made.error().message);
        }
        return std::move(made).value();
    }

    // The lease guarding the store for `id`.
    static std::unique_ptr<secrets::Locker> locker(const std::string& id) {
        auto made = secrets::make_store_with_locker("aws-sm:" + id, with_client({}));
        if (!made) {
            throw std::runtime_error(made.error().message);
        }
        return std::move(made->locker);
    }

    // The next `action` is carried out but its answer lost; its retry is refused as "exists".
    static void lose_answer_then_refuse(const std::string& action) {
        fake_->control("POST", "/_fake/faults", {{"action", action}, {"kind", "drop_after"}, {"count", 1}});
        fake_->control("POST", "/_fake/faults",
                       {{"action", action},
                        {"kind", "custom"},
                        {"code", "ResourceExistsException"},
                        {"status", 400},
                        {"count", 1}});
    }

    static nlohmann::json secret_named(const std::string& name) {
        for (const auto& s : secrets_list()) {
            if (s.value("name", "") == name) {
                return s;
            }
        }
        return nullptr;
    }

    static std::unique_ptr<aws_test::FakeAws> fake_;
    static std::unique_ptr<aws_test::AwsEnv> env_;
    static std::string start_error_;
};

std::unique_ptr<aws_test::FakeAws> SecretsManagerStoreE2e::fake_;
std::unique_ptr<aws_test::AwsEnv> SecretsManagerStoreE2e::env_;
std::string SecretsManagerStoreE2e::start_error_;

TEST_F(SecretsManagerStoreE2e, AbsentSecretIsNothing) {
    auto s = store("prod/absent");
    auto got = s->get();
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_FALSE(got->has_value());
    EXPECT_FALSE(s->get(secrets::Stage::previous)->has_value());
    EXPECT_FALSE(s->get_account()->has_value());
}

TEST_F(SecretsManagerStoreE2e, PutCreatesThenRotatesStages) {
    secrets::StoreConfig config;
    config.kms_key_id = "alias/certs";
    config.description = "certificate for example.com";
    config.tags = {{"team", "web"}};
    auto s = store("prod/example", config);
    const auto first = test_bundles::make();
    const auto second = test_bundles::make();
    const auto third = test_bundles::make();

    ASSERT_TRUE(s->put(first).ok());
    auto created = calls("CreateSecret");
    ASSERT_EQ(created.size(), 1U);
    const auto secret = secret_named("prod/example");
    ASSERT_FALSE(secret.is_null());
    EXPECT_EQ(secret.value("kms_key_id", ""), "alias/certs");
    EXPECT_EQ(secret.value("description", ""), "certificate for example.com");
    EXPECT_EQ(secret["tags"], (nlohmann::json::array({{{"Key", "team"}, {"Value", "web"}}})));
    EXPECT_EQ(**s->get(), first);
    EXPECT_FALSE(s->get(secrets::Stage::previous)->has_value());

    ASSERT_TRUE(s->put(second).ok());
    EXPECT_EQ(**s->get(), second);
    EXPECT_EQ(**s->get(secrets::Stage::previous), first);
    ASSERT_TRUE(s->put(third).ok());
    EXPECT_EQ(**s->get(), third);
    EXPECT_EQ(**s->get(secrets::Stage::previous), second);
    EXPECT_EQ(calls("CreateSecret").size(), 1U);

    // Every write carried a UUID v4 ClientRequestToken (the version id).
    const std::regex uuid4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    const auto puts = calls("PutSecretValue");
    ASSERT_FALSE(puts.empty());
    for (const auto& call : puts) {
        const auto token = call["params"].value("ClientRequestToken", "");
        EXPECT_TRUE(std::regex_match(token, uuid4)) << call.dump();
    }
}

TEST_F(SecretsManagerStoreE2e, RetriedPutMakesOneVersion) {
    auto s = store("prod/retry");
    ASSERT_TRUE(s->put(test_bundles::make()).ok());
    fake_->control("POST", "/_fake/faults", {{"action", "PutSecretValue"}, {"kind", "error500"}, {"count", 2}});
    const auto next = test_bundles::make();
    ASSERT_TRUE(s->put(next).ok());
    EXPECT_EQ(**s->get(), next);
    const auto secret = secret_named("prod/retry");
    EXPECT_EQ(secret["versions"].size(), 2U) << secret.dump();
}

TEST_F(SecretsManagerStoreE2e, SizeLimitIsCheckedBeforeAnyCall) {
    auto s = store("prod/huge");
    auto bundle = test_bundles::make();
    while (secrets::to_json(bundle).size() <= secrets::k_secret_string_limit) {
        bundle.chain += bundle.certificate;
    }
    fake_->control("DELETE", "/_fake/calls");
    auto put = s->put(bundle);
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(put.error().message.find("65536"), std::string::npos) << put.error().message;
    EXPECT_TRUE(calls().empty()) << calls().dump();
}

TEST_F(SecretsManagerStoreE2e, ReadsByArnAndRefusesToCreateOne) {
    auto s = store("prod/arn");
    const auto bundle = test_bundles::make();
    ASSERT_TRUE(s->put(bundle).ok());
    const auto arn = secret_named("prod/arn")["arn"].get<std::string>();
    auto by_arn = store(arn);
    EXPECT_EQ(**by_arn->get(), bundle);
    auto missing = store("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf");
    auto put = missing->put(bundle);
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().kind, core::ErrorKind::not_found);
}

TEST_F(SecretsManagerStoreE2e, UnparsableSecretIsAnError) {
    fake_->control("POST", "/_fake/secrets", {{"name", "prod/garbage"}, {"string", "this is not a bundle"}});
    auto got = store("prod/garbage")->get();
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(got.error().message.find("aws-sm:prod/garbage AWSCURRENT"), std::string::npos) << got.error().message;
}

TEST_F(SecretsManagerStoreE2e, AccountSecret) {
    auto s = store("prod/acct");
    ASSERT_TRUE(s->put_account(R"({"url":"https://ca/acct/7"})").ok());
    EXPECT_FALSE(secret_named("prod/acct-account").is_null());
    EXPECT_EQ(**s->get_account(), R"({"url":"https://ca/acct/7"})");
    secrets::StoreConfig config;
    config.account = "shared/acme-account";
    auto other = store("prod/other", config);
    ASSERT_TRUE(other->put_account("{}").ok());
    EXPECT_FALSE(secret_named("shared/acme-account").is_null());
}

TEST_F(SecretsManagerStoreE2e, LeaseIsExclusiveUntilReleasedOrExpired) {
    auto a = locker("prod/locked");
    auto b = locker("prod/locked");
    auto lease = a->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    auto other = b->try_acquire("run-b", seconds(600));
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.error().kind, core::ErrorKind::conflict);
    EXPECT_NE(other.error().message.find("run-a"), std::string::npos) << other.error().message;
    ASSERT_TRUE(a->release(*lease).ok());
    auto short_lease = b->try_acquire("run-b", seconds(0));  // expires at once
    ASSERT_TRUE(short_lease.ok()) << short_lease.error().message;
    auto taken = a->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(taken.ok()) << taken.error().message;
    ASSERT_TRUE(b->release(*short_lease).ok());  // not b's any more: no effect
    EXPECT_FALSE(b->try_acquire("run-b", seconds(600)).ok());
}

TEST_F(SecretsManagerStoreE2e, RenewExtendsOnlyOurLease) {
    auto a = locker("prod/renew");
    auto lease = a->try_acquire("run-a", seconds(0));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    auto renewed = a->renew(*lease, seconds(600));
    ASSERT_TRUE(renewed.ok()) << renewed.error().message;
    EXPECT_GT(renewed->expires_at, lease->expires_at);
    EXPECT_FALSE(locker("prod/renew")->try_acquire("run-b", seconds(600)).ok());
    ASSERT_TRUE(a->renew(*lease, seconds(0)).ok());
    ASSERT_TRUE(locker("prod/renew")->try_acquire("run-b", seconds(600)).ok());
    auto lost = a->renew(*lease, seconds(600));
    ASSERT_FALSE(lost.ok());
    EXPECT_EQ(lost.error().kind, core::ErrorKind::conflict);
}

// Secrets Manager carries out CreateSecret but the answer is lost (the
// connection drops), and the client's retry is refused as "exists" (what
// Secrets Manager answers for a secret that exists unless it recognises the
// retry by its ClientRequestToken). The record holds our token: the lease is
// ours, not "locked by" ourselves, and the release frees it.
TEST_F(SecretsManagerStoreE2e, LostCreateSecretAnswerIsOurLease) {
    lose_answer_then_refuse("CreateSecret");
    auto a = locker("prod/lost-answer");
    auto lease = a->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    EXPECT_EQ(calls("CreateSecret").size(), 2U);  // the dropped one and the refused retry
    auto other = locker("prod/lost-answer")->try_acquire("run-b", seconds(600));
    ASSERT_FALSE(other.ok());
    ASSERT_TRUE(a->release(*lease).ok());
    EXPECT_TRUE(locker("prod/lost-answer")->try_acquire("run-b", seconds(600)).ok());
}

// The same for the compare-and-swap over a released lease.
TEST_F(SecretsManagerStoreE2e, LostPutSecretValueAnswerIsOurLease) {
    auto setup = locker("prod/lost-put");
    ASSERT_TRUE(setup->release(*setup->try_acquire("setup", seconds(600))).ok());
    lose_answer_then_refuse("PutSecretValue");
    auto a = locker("prod/lost-put");
    auto lease = a->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    ASSERT_TRUE(a->release(*lease).ok());
    EXPECT_TRUE(locker("prod/lost-put")->try_acquire("run-b", seconds(600)).ok());
}

TEST_F(SecretsManagerStoreE2e, ConcurrentAcquireHasOneWinner) {
    constexpr int k_threads = 6;
    // Create the lock secret first, so the race is on the compare-and-swap.
    auto first = locker("prod/race");
    ASSERT_TRUE(first->release(*first->try_acquire("setup", seconds(600))).ok());
    std::atomic<int> winners{0};
    std::atomic<int> conflicts{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < k_threads; ++i) {
        threads.emplace_back([&, i] {
            auto s = locker("prod/race");
            auto lease = s->try_acquire("t" + std::to_string(i), seconds(600));
            if (lease.ok()) {
                ++winners;
            } else if (lease.error().kind == core::ErrorKind::conflict) {
                ++conflicts;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(winners.load(), 1);
    EXPECT_EQ(conflicts.load(), k_threads - 1);
}

}  // namespace
