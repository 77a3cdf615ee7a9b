// secrets::read_ahead over DynamoDB stores against tests/fakeaws (label e2e):
// one BatchGetItem per 100 items instead of one GetItem per item, each store
// answering its next read from it once and then reading again, the same
// answers (and errors) as GetItem gives, and keys DynamoDB leaves
// unprocessed asked again (docs/stores.md#reading-many-certificates).
#include <gtest/gtest.h>

#include "aws/client.hpp"
#include "secrets/store.hpp"
#include "tests/aws/dynamodb_fixture.hpp"
#include "tests/secrets/bundle_fixtures.hpp"

namespace {

using nlohmann::json;

class DynamoDbReadAheadE2e : public aws_test::DynamoDbE2e<DynamoDbReadAheadE2e> {
protected:
    void SetUp() override {
        DynamoDbE2e::SetUp();
        create_table(k_table, {"pk", "sk"});
    }

    static std::unique_ptr<secrets::Store> open_store(const std::string& key) {
        secrets::StoreConfig config;
        config.aws = settings();
        auto made = secrets::make_store("dynamodb:" + std::string(k_table) + "/" + key, config);
        if (!made) {
            throw std::runtime_error(made.error().message);
        }
        return std::move(made).value();
    }

    // `count` stores "k000".."k{count-1}", each holding `bundle`, written as
    // items directly (one PutItem each, not the store's read-and-update).
    static std::vector<std::unique_ptr<secrets::Store>> many(int count, const secrets::Bundle& bundle) {
        std::vector<std::unique_ptr<secrets::Store>> stores;
        auto writer = client();
        for (int i = 0; i < count; ++i) {
            const auto key = "k" + std::string(i < 10 ? "00" : i < 100 ? "0" : "") + std::to_string(i);
            auto put = writer.json(aws::dynamodb, "PutItem",
                                   json{{"TableName", k_table},
                                        {"Item",
                                         {{"pk", {{"S", key}}},
                                          {"sk", {{"S", "bundle"}}},
                                          {"bundle", {{"S", secrets::to_json(bundle)}}},
                                          {"version", {{"N", "1"}}}}}});
            if (!put.ok()) {
                throw std::runtime_error(put.error().message);
            }
            stores.push_back(open_store(key));
        }
        return stores;
    }

    static std::vector<secrets::ReadAhead> requests(const std::vector<std::unique_ptr<secrets::Store>>& stores,
                                                    std::vector<std::string> notes = {}) {
        std::vector<secrets::ReadAhead> out;
        for (const auto& store : stores) {
            out.push_back({store.get(), notes});
        }
        return out;
    }

    static std::size_t count_calls(const std::string& action) { return calls(action).size(); }

    static constexpr const char* k_table = "read-ahead";
};

TEST_F(DynamoDbReadAheadE2e, AnswersEachReadOnceFromOneBatch) {
    const auto bundle = test_bundles::make();
    auto stores = many(3, bundle);
    ASSERT_TRUE(stores[1]->put_note("replace-owed", R"({"serial":"01"})").ok());
    clear_calls();
    secrets::read_ahead(requests(stores, {"replace-owed"}), core::Deadline::after(std::chrono::seconds(30)));
    EXPECT_EQ(count_calls("BatchGetItem"), 1U);
    for (std::size_t i = 0; i < stores.size(); ++i) {
        auto got = stores[i]->get();
        ASSERT_TRUE(got.ok()) << got.error().message;
        EXPECT_EQ(**got, bundle);
        auto note = stores[i]->get_note("replace-owed");
        ASSERT_TRUE(note.ok()) << note.error().message;
        EXPECT_EQ(note->has_value(), i == 1);
    }
    EXPECT_EQ(**stores[1]->get_note("replace-owed"), R"({"serial":"01"})");  // read again now
    EXPECT_EQ(count_calls("GetItem"), 1U) << "only the second read of the note goes to the table";
    // Once answered, a read sees what was written since (a read under the lease must).
    const auto newer = test_bundles::make();
    auto other = open_store("k000");
    ASSERT_TRUE(other->put(newer).ok());
    EXPECT_EQ(**stores[0]->get(), newer);
}

TEST_F(DynamoDbReadAheadE2e, SameAnswersAndErrorsAsGetItem) {
    auto stores = many(2, test_bundles::make());
    auto written = client().json(
        aws::dynamodb, "PutItem",
        json{{"TableName", k_table},
             {"Item", {{"pk", {{"S", "k001"}}}, {"sk", {{"S", "bundle"}}}, {"bundle", {{"S", "{not json"}}}}}});
    ASSERT_TRUE(written.ok()) << written.error().message;
    stores.push_back(open_store("absent"));
    const auto one_by_one = open_store("k001")->get();
    ASSERT_FALSE(one_by_one.ok());
    secrets::read_ahead(requests(stores), core::Deadline::after(std::chrono::seconds(30)));
    clear_calls();
    EXPECT_TRUE(stores[0]->get().ok());
    const auto corrupt = stores[1]->get();
    ASSERT_FALSE(corrupt.ok());
    EXPECT_EQ(corrupt.error().message, one_by_one.error().message);
    EXPECT_EQ(corrupt.error().code, one_by_one.error().code);
    EXPECT_NE(corrupt.error().message.find("dynamodb:read-ahead/k001"), std::string::npos) << corrupt.error().message;
    auto absent = stores[2]->get();
    ASSERT_TRUE(absent.ok()) << absent.error().message;
    EXPECT_FALSE(absent->has_value());
    EXPECT_EQ(count_calls("GetItem"), 0U);
}

TEST_F(DynamoDbReadAheadE2e, UnprocessedKeysAreAskedAgain) {
    const auto bundle = test_bundles::make();
    auto stores = many(150, bundle);
    fault({{"action", "BatchGetItem"}, {"kind", "unprocessed"}, {"share", 0.5}, {"count", 3}});
    clear_calls();
    secrets::read_ahead(requests(stores), core::Deadline::after(std::chrono::seconds(30)));
    const auto batches = calls("BatchGetItem");
    int unprocessed = 0;
    for (const auto& call : batches) {
        unprocessed += call["params"].value("unprocessed", 0);
    }
    EXPECT_GT(unprocessed, 0) << "the fault left nothing unprocessed";
    EXPECT_GE(batches.size(), 3U);
    for (const auto& store : stores) {
        auto got = store->get();
        ASSERT_TRUE(got.ok()) << got.error().message;
        ASSERT_TRUE(got->has_value()) << store->describe();
    }
    EXPECT_EQ(count_calls("GetItem"), 0U) << "unprocessed keys were left to GetItem";
}

TEST_F(DynamoDbReadAheadE2e, AFailedBatchLeavesTheReadsToEachStore) {
    const auto bundle = test_bundles::make();
    auto stores = many(3, bundle);
    fault({{"action", "BatchGetItem"}, {"kind", "custom"}, {"code", "AccessDeniedException"}, {"status", 400}});
    clear_calls();
    secrets::read_ahead(requests(stores), core::Deadline::after(std::chrono::seconds(30)));
    EXPECT_EQ(count_calls("BatchGetItem"), 1U) << "refused, not retried";
    for (const auto& store : stores) {
        EXPECT_EQ(**store->get(), bundle);
    }
    EXPECT_EQ(count_calls("GetItem"), stores.size());
}

}  // namespace
