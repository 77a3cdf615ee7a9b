// A gtest fixture for suites that talk to DynamoDB (label e2e): one
// tests/fakeaws per suite, started before its first test and stopped after
// its last, each test starting from an empty fake; plus the calls tests make
// to the table directly (create, put, get) and the fake's call log and
// faults.
//
//   class MyE2e : public aws_test::DynamoDbE2e<MyE2e> {};
//   TEST_F(MyE2e, X) { create_table("t", {"pk", "sk"}); put_item("t", {...}); ... }
//
// A suite that sets `static constexpr bool k_accepts_endpoint = true;` runs
// against $DYNAMODB_TEST_ENDPOINT instead where it is set (moto_server as a
// second opinion, tests/secrets/moto_dynamodb.py); FAKE_ONLY() skips a test
// that needs the fake's faults or call log there.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aws/client.hpp"
#include "aws/credentials.hpp"
#include "tests/aws/fakeaws_fixture.hpp"

namespace aws_test {

template <class Suite>
class DynamoDbE2e : public ::testing::Test {
public:
    static constexpr bool k_accepts_endpoint = false;

protected:
    using json = nlohmann::json;

    static void SetUpTestSuite() {
        endpoint_ = Suite::k_accepts_endpoint ? core::env_or("DYNAMODB_TEST_ENDPOINT") : std::string();
        if (endpoint_.empty()) {
            std::string error;
            fake_ = FakeAws::start(error);
            start_error_ = error;
            if (fake_) {
                endpoint_ = fake_->endpoint;
            }
        }
        if (!endpoint_.empty()) {
            env_ = std::make_unique<AwsEnv>(endpoint_);  // never real AWS
            env_->unset("AWS_ENDPOINT_URL_DYNAMODB");
        }
    }
    static void TearDownTestSuite() {
        env_.reset();
        fake_.reset();
    }
    void SetUp() override {
        ASSERT_FALSE(endpoint_.empty()) << start_error_;
        if (fake_) {
            fake_->control("POST", "/_fake/reset", json::object());
        }
    }

    // The fake's credentials, and short backoffs so retried faults stay fast.
    static std::shared_ptr<aws::ClientSettings> settings() {
        auto settings = std::make_shared<aws::ClientSettings>();
        settings->credentials =
            aws::static_credentials(aws::Credentials{FakeAws::k_access_key, FakeAws::k_secret_key, "", {}, "test"});
        settings->retry.base_delay = std::chrono::milliseconds(5);
        settings->retry.max_delay = std::chrono::milliseconds(50);
        return settings;
    }
    static aws::Client client() { return aws::Client(*settings()); }

    // One call; a failure throws (the test's own setup went wrong).
    static json call(const std::string& action, const json& body) {
        auto answer = client().json(aws::dynamodb, action, body);
        if (!answer) {
            throw std::runtime_error(action + ": " + answer.error().message);
        }
        return *answer;
    }

    // An on-demand table keyed by `key` (the partition key, then the sort
    // key if any; all S). A table left by an earlier test is kept (moto has
    // no reset).
    static void create_table(const std::string& name, const std::vector<std::string>& key) {
        json definitions = json::array();
        json schema = json::array();
        for (std::size_t i = 0; i < key.size(); ++i) {
            definitions.push_back({{"AttributeName", key[i]}, {"AttributeType", "S"}});
            schema.push_back({{"AttributeName", key[i]}, {"KeyType", i == 0 ? "HASH" : "RANGE"}});
        }
        auto made = client().json(aws::dynamodb, "CreateTable",
                                  json{{"TableName", name},
                                       {"BillingMode", "PAY_PER_REQUEST"},
                                       {"AttributeDefinitions", definitions},
                                       {"KeySchema", schema}});
        if (!made.ok() && made.error().code != "ResourceInUseException") {
            throw std::runtime_error(made.error().message);
        }
    }
    static void put_item(const std::string& table, const json& item) {
        call("PutItem", json{{"TableName", table}, {"Item", item}});
    }
    // The item (consistent read), or null.
    static json get_item(const std::string& table, const json& key) {
        return call("GetItem", json{{"TableName", table}, {"Key", key}, {"ConsistentRead", true}})
            .value("Item", json());
    }

    static json calls(const std::string& action) {
        return fake_->control("GET", "/_fake/calls?action=" + action)["calls"];
    }
    static void clear_calls() { fake_->control("DELETE", "/_fake/calls"); }
    static void fault(const json& rule) { fake_->control("POST", "/_fake/faults", rule); }

    static bool on_fake() { return fake_ != nullptr; }
    static const std::string& endpoint() { return endpoint_; }

private:
    inline static std::unique_ptr<FakeAws> fake_;
    inline static std::unique_ptr<AwsEnv> env_;
    inline static std::string start_error_;
    inline static std::string endpoint_;
};

}  // namespace aws_test

// In a test of a DynamoDbE2e suite that may run against another endpoint.
#define FAKE_ONLY()                                                                      \
    if (!on_fake()) {                                                                    \
        GTEST_SKIP() << "needs tests/fakeaws's faults and call log, not " << endpoint(); \
    }
