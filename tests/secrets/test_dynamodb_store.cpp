// secrets::make_dynamodb_store_with_locker against tests/fakeaws (label e2e):
// the bundle item and its previous version, the account and notes, the size
// limit checked before any call, the lease as a compare-and-swap (expired,
// dead holder, lost answers, a race of threads), the Secrets Manager store's
// --lease-table, and retries of throttled and failed calls.
//
// With DYNAMODB_TEST_ENDPOINT set (tests/secrets/moto_dynamodb.py) the same
// suite runs against that endpoint (moto_server) as a second opinion; the
// tests that need the fake's faults or call log are skipped there.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "aws/client.hpp"
#include "core/env.hpp"
#include "secrets/lease.hpp"
#include "secrets/store.hpp"
#include "tests/aws/dynamodb_fixture.hpp"
#include "tests/secrets/bundle_fixtures.hpp"

namespace {

using nlohmann::json;
using std::chrono::seconds;

class DynamoDbStoreE2e : public aws_test::DynamoDbE2e<DynamoDbStoreE2e> {
public:
    static constexpr bool k_accepts_endpoint = true;  // moto_server as a second opinion

protected:
    void SetUp() override {
        DynamoDbE2e::SetUp();
        // One table per test: moto has no reset.
        table_ = std::string("certs-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        create_table(table_, {"pk", "sk"});
    }

    // An item written as is, `padding` bytes of bundle (its size is what a Scan page counts).
    static void seed_item(const std::string& table, const std::string& pk, const std::string& sk, std::size_t padding,
                          int version) {
        json item = {{"pk", {{"S", pk}}}, {"sk", {{"S", sk}}}, {"bundle", {{"S", std::string(padding, 'x')}}}};
        if (version > 0) {
            item["version"] = {{"N", std::to_string(version)}};
        }
        put_item(table, item);
    }

    static json get_item(const std::string& table, const std::string& pk, const std::string& sk) {
        return DynamoDbE2e::get_item(table, {{"pk", {{"S", pk}}}, {"sk", {{"S", sk}}}});
    }

    secrets::StoreWithLocker open(const std::string& key, secrets::StoreConfig config = {}) const {
        config.aws = settings();
        auto made = secrets::make_store_with_locker("dynamodb:" + table_ + "/" + key, config);
        if (!made) {
            throw std::runtime_error(made.error().message);
        }
        return std::move(made).value();
    }
    std::unique_ptr<secrets::Store> store(const std::string& key) const { return open(key).store; }
    std::unique_ptr<secrets::Locker> locker(const std::string& key) const { return open(key).locker; }

    std::string table_;
};

TEST_F(DynamoDbStoreE2e, AbsentItemIsNothing) {
    auto s = store("absent.example");
    auto got = s->get();
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_FALSE(got->has_value());
    EXPECT_FALSE(s->get(secrets::Stage::previous)->has_value());
    EXPECT_FALSE(s->get_account()->has_value());
    EXPECT_FALSE(s->get_note("owed")->has_value());
}

TEST_F(DynamoDbStoreE2e, PutKeepsThePreviousVersion) {
    auto s = store("fleet/example.com");
    const auto first = test_bundles::make();
    const auto second = test_bundles::make();
    const auto third = test_bundles::make();
    ASSERT_TRUE(s->put(first).ok());
    EXPECT_EQ(**s->get(), first);
    EXPECT_FALSE(s->get(secrets::Stage::previous)->has_value());
    ASSERT_TRUE(s->put(second).ok());
    ASSERT_TRUE(s->put(second).ok());  // idempotent: previous stays `first`
    EXPECT_EQ(**s->get(), second);
    EXPECT_EQ(**s->get(secrets::Stage::previous), first);
    ASSERT_TRUE(s->put(third).ok());
    EXPECT_EQ(**s->get(secrets::Stage::previous), second);
    const auto item = get_item(table_, "fleet/example.com", "bundle");
    EXPECT_EQ(item["version"]["N"], "3") << item.dump();
    EXPECT_EQ(item["serial"]["S"], third.serial);
    EXPECT_EQ(item["not_after"]["S"], third.not_after);
    EXPECT_EQ(s->describe(), "dynamodb:" + table_ + "/fleet/example.com");
}

TEST_F(DynamoDbStoreE2e, AccountIsOnePerTableAndNotesPerCertificate) {
    auto a = store("a.example");
    auto b = store("b.example");
    ASSERT_TRUE(a->put_account(R"({"url":"https://ca/acct/7"})").ok());
    EXPECT_EQ(**b->get_account(), R"({"url":"https://ca/acct/7"})");
    EXPECT_FALSE(get_item(table_, "_account", "account").is_null());
    ASSERT_TRUE(a->put_note("owed", R"({"owed":true})").ok());
    EXPECT_EQ(**a->get_note("owed"), R"({"owed":true})");
    EXPECT_FALSE(b->get_note("owed")->has_value());
    const auto bundle = test_bundles::make();
    ASSERT_TRUE(a->put(bundle).ok());
    EXPECT_EQ(**a->get_note("owed"), R"({"owed":true})");  // a note never moves the bundle's versions
    EXPECT_FALSE(a->get(secrets::Stage::previous)->has_value());
}

TEST_F(DynamoDbStoreE2e, ItemLimitIsCheckedBeforeAnyCall) {
    FAKE_ONLY();
    auto s = store("huge.example");
    auto bundle = test_bundles::make();
    while (secrets::to_json(bundle).size() <= 400 * 1024) {
        bundle.chain += bundle.certificate;
    }
    clear_calls();
    auto put = s->put(bundle);
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(put.error().message.find("item limit is 409600 bytes"), std::string::npos) << put.error().message;
    EXPECT_NE(put.error().message.find("huge.example"), std::string::npos) << put.error().message;
    EXPECT_TRUE(calls("PutItem").empty());
    EXPECT_TRUE(calls("UpdateItem").empty());
}

TEST_F(DynamoDbStoreE2e, BadSpecsAreNamed) {
    for (const std::string spec : {"dynamodb:ab/x", "dynamodb:certs", "dynamodb:bad table/x"}) {
        auto made = secrets::make_store_with_locker(spec);
        ASSERT_FALSE(made.ok()) << spec;
        EXPECT_EQ(made.error().kind, core::ErrorKind::invalid_input);
        EXPECT_NE(made.error().message.find(spec.substr(0, 12)), std::string::npos) << made.error().message;
    }
}

// Store::list over a table (docs/stores.md#listing-a-table): the bundle items
// below the location, every Scan page, the side items left out.
TEST_F(DynamoDbStoreE2e, ListFindsBundlesOnEveryScanPage) {
    constexpr int k_count = 250;  // ~9 KB each: three 1 MB Scan pages
    for (int i = 0; i < k_count; ++i) {
        seed_item(table_, "fleet/c" + std::to_string(1000 + i) + ".example.com", "bundle", 9000, 1 + i % 3);
    }
    for (const char* sk : {"lease", "note#replace-owed"}) {
        seed_item(table_, "fleet/c1000.example.com", sk, 10, 0);
    }
    seed_item(table_, "fleet/", "bundle", 10, 1);  // the location itself names no certificate
    seed_item(table_, "fleetwood.example.com", "bundle", 10, 1);
    seed_item(table_, "other/c1.example.com", "bundle", 10, 1);
    ASSERT_TRUE(store("fleet/c1000.example.com")->put_account("{}").ok());

    auto listed = store("fleet/")->list("");
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed->size(), static_cast<std::size_t>(k_count));
    EXPECT_EQ(listed->front().name, "c1000.example.com");
    EXPECT_EQ(listed->front().spec, "dynamodb:" + table_ + "/fleet/c1000.example.com");
    EXPECT_EQ(listed->front().version, "1");
    EXPECT_EQ(listed->at(1).version, "2");
    EXPECT_EQ(listed->back().name, "c1249.example.com");
    if (on_fake()) {
        EXPECT_GE(calls("Scan").size(), 3U);
    }
    auto narrowed = store("fleet/")->list("c11");
    ASSERT_TRUE(narrowed) << narrowed.error().message;
    EXPECT_EQ(narrowed->size(), 100U);  // c1100 .. c1199
}

TEST_F(DynamoDbStoreE2e, ListedNamesOpenAndTheirVersionMoves) {
    const auto first = test_bundles::make();
    ASSERT_TRUE(store("fleet/a.example")->put(first).ok());
    auto location = store("fleet/");
    auto listed = location->list("");
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed->size(), 1U);
    EXPECT_EQ(listed->front().version, "1");
    auto opened = location->open(listed->front().name);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ((*opened)->describe(), "dynamodb:" + table_ + "/fleet/a.example");
    EXPECT_EQ(**(*opened)->get(), first);
    ASSERT_TRUE((*opened)->put(test_bundles::make()).ok());
    EXPECT_EQ(location->list("")->front().version, "2");
}

TEST_F(DynamoDbStoreE2e, WholeTableListsButHoldsNoBundle) {
    ASSERT_TRUE(store("a.example")->put(test_bundles::make()).ok());
    ASSERT_TRUE(store("fleet/b.example")->put(test_bundles::make()).ok());
    auto table = store("");
    auto listed = table->list("");
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed->size(), 2U);
    EXPECT_EQ(listed->front().name, "a.example");
    EXPECT_EQ(listed->back().spec, "dynamodb:" + table_ + "/fleet/b.example");
    auto got = table->get();
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(got.error().message.find("names a table to list"), std::string::npos) << got.error().message;
}

TEST_F(DynamoDbStoreE2e, MissingTableIsAnError) {
    secrets::StoreConfig config;
    config.aws = settings();
    auto s = secrets::make_store("dynamodb:no-such-table/x.example", config);
    ASSERT_TRUE(s.ok());
    auto got = (*s)->get();
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code, "ResourceNotFoundException");
    EXPECT_NE(got.error().message.find("no-such-table"), std::string::npos) << got.error().message;
}

TEST_F(DynamoDbStoreE2e, LeaseIsExclusiveUntilReleasedOrExpired) {
    auto a = locker("locked.example");
    auto b = locker("locked.example");
    auto lease = a->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    auto other = b->try_acquire("run-b", seconds(600));
    ASSERT_FALSE(other.ok());
    EXPECT_EQ(other.error().kind, core::ErrorKind::conflict);
    EXPECT_EQ(other.error().code, "LockHeld");
    EXPECT_NE(other.error().message.find("run-a"), std::string::npos) << other.error().message;
    ASSERT_TRUE(a->release(*lease).ok());
    auto expired = b->try_acquire("run-b", seconds(-5));  // expired at once
    ASSERT_TRUE(expired.ok()) << expired.error().message;
    auto taken = a->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(taken.ok()) << taken.error().message;
    ASSERT_TRUE(b->release(*expired).ok());  // not b's any more: no effect
    EXPECT_FALSE(b->try_acquire("run-b", seconds(600)).ok());
    // Leases of other certificates are other items.
    EXPECT_TRUE(locker("other.example")->try_acquire("run-b", seconds(600)).ok());
}

TEST_F(DynamoDbStoreE2e, RenewExtendsOnlyOurLease) {
    auto a = locker("renew.example");
    auto lease = a->try_acquire("run-a", seconds(-5));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    auto renewed = a->renew(*lease, seconds(600));
    ASSERT_TRUE(renewed.ok()) << renewed.error().message;
    EXPECT_GT(renewed->expires_at, lease->expires_at);
    EXPECT_FALSE(locker("renew.example")->try_acquire("run-b", seconds(600)).ok());
    ASSERT_TRUE(a->renew(*lease, seconds(-5)).ok());
    ASSERT_TRUE(locker("renew.example")->try_acquire("run-b", seconds(600)).ok());
    auto lost = a->renew(*lease, seconds(600));
    ASSERT_FALSE(lost.ok());
    EXPECT_EQ(lost.error().code, "LockLost");
    EXPECT_NE(lost.error().message.find("run-b"), std::string::npos) << lost.error().message;
}

// A holder on this host whose process is gone (a SIGKILLed run) does not
// block the next run until expiry: its lease is swapped out by its token.
TEST_F(DynamoDbStoreE2e, DeadHolderOnThisHostIsTakenOver) {
    // A holder on this host whose pid is gone: a child that exited at once.
    // (Its record is written here: a forked child would record this
    // process's identity, which the process caches.)
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    auto record = secrets::detail::new_lease("crashed-run", seconds(600));
    record.holder.pid = child;
    json item = {
        {"pk", {{"S", "dead.example"}}},
        {"sk", {{"S", "lease"}}},
        {"token", {{"S", record.token}}},
        {"expires",
         {{"N", std::to_string(std::chrono::duration_cast<seconds>(record.expires_at.time_since_epoch()).count())}}},
        {"owner", {{"S", record.owner}}},
        {"lease", {{"S", secrets::detail::lease_to_json(record)}}}};
    aws::Client client(*settings());
    ASSERT_TRUE(client.json(aws::dynamodb, "PutItem", json{{"TableName", table_}, {"Item", item}}).ok());
    auto lease = locker("dead.example")->try_acquire("next-run", seconds(600));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    EXPECT_FALSE(locker("dead.example")->try_acquire("third", seconds(600)).ok());
}

// DynamoDB carries out the PutItem but the answer is lost; the client's retry
// is refused by the condition (the lease is held: by us). The item holds our
// token, so the lease is ours, not "locked by" ourselves.
TEST_F(DynamoDbStoreE2e, LostLeaseAnswerIsOurLease) {
    FAKE_ONLY();
    fault({{"action", "PutItem"}, {"kind", "drop_after"}, {"count", 1}});
    auto a = locker("lost.example");
    auto lease = a->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    EXPECT_EQ(calls("PutItem").size(), 2U);  // the dropped one and the refused retry
    EXPECT_FALSE(locker("lost.example")->try_acquire("run-b", seconds(600)).ok());
    ASSERT_TRUE(a->release(*lease).ok());
    EXPECT_TRUE(locker("lost.example")->try_acquire("run-b", seconds(600)).ok());
}

// The same for the bundle: the UpdateItem landed, its retry fails the
// version condition, and the re-read finds our bundle current.
TEST_F(DynamoDbStoreE2e, LostPutAnswerStoresOnce) {
    FAKE_ONLY();
    auto s = store("lost-put.example");
    const auto first = test_bundles::make();
    const auto second = test_bundles::make();
    ASSERT_TRUE(s->put(first).ok());
    fault({{"action", "UpdateItem"}, {"kind", "drop_after"}, {"count", 1}});
    auto put = s->put(second);
    ASSERT_TRUE(put.ok()) << put.error().message;
    EXPECT_EQ(**s->get(), second);
    EXPECT_EQ(**s->get(secrets::Stage::previous), first);  // not `second` twice
    EXPECT_EQ(get_item(table_, "lost-put.example", "bundle")["version"]["N"], "2");
}

TEST_F(DynamoDbStoreE2e, ThrottlingAndServerErrorsAreRetried) {
    FAKE_ONLY();
    auto s = store("retry.example");
    fault({{"action", "GetItem"}, {"kind", "throttle"}, {"count", 2}});
    fault({{"action", "PutItem"}, {"kind", "error500"}, {"count", 1}});
    const auto bundle = test_bundles::make();
    ASSERT_TRUE(s->put(bundle).ok());
    EXPECT_EQ(**s->get(), bundle);
    const auto throttled = calls("GetItem");
    ASSERT_GE(throttled.size(), 3U);
    EXPECT_EQ(throttled[0].value("code", ""), "ProvisionedThroughputExceededException");
}

TEST_F(DynamoDbStoreE2e, ConcurrentAcquireHasOneWinner) {
    constexpr int k_threads = 6;
    std::atomic<int> winners{0};
    std::atomic<int> conflicts{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < k_threads; ++i) {
        threads.emplace_back([&, i] {
            auto l = locker("race.example");
            auto lease = l->try_acquire("t" + std::to_string(i), seconds(600));
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

// --lease-table: the Secrets Manager store keeps its lease as an item of the
// table instead of a "<name>-lock" secret.
TEST_F(DynamoDbStoreE2e, SecretsManagerLeaseTable) {
    FAKE_ONLY();
    secrets::StoreConfig config;
    config.aws = settings();
    config.lease_table = table_;
    auto a = secrets::make_store_with_locker("aws-sm:prod/leased", config);
    ASSERT_TRUE(a.ok()) << a.error().message;
    auto lease = a->locker->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    EXPECT_EQ(get_item(table_, "prod/leased", "lease")["owner"]["S"], "run-a");
    EXPECT_TRUE(calls("CreateSecret").empty());
    auto b = secrets::make_store_with_locker("aws-sm:prod/leased", config);
    auto other = b->locker->try_acquire("run-b", seconds(600));
    ASSERT_FALSE(other.ok());
    EXPECT_NE(other.error().message.find("aws-sm:prod/leased: locked by run-a"), std::string::npos)
        << other.error().message;
    ASSERT_TRUE(a->locker->release(*lease).ok());
    EXPECT_TRUE(b->locker->try_acquire("run-b", seconds(600)).ok());
    config.lease_table = "x";
    EXPECT_FALSE(secrets::make_store_with_locker("aws-sm:prod/leased", config).ok());
}

}  // namespace
