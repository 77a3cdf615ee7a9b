// Each domain-list item shows its certificate's state
// (renewer/domain_list_state.hpp, docs/customer-domains.md#the-item-shows-the-state):
// which report outcomes say what, and the writes against tests/fakeaws's
// DynamoDB (label e2e): only changed states are written, only the job's own
// attributes are touched, an item deleted meanwhile is not brought back, a
// failed write is counted and the others go on.
#include <gtest/gtest.h>

#include "core/x509.hpp"
#include "renewer/domain_list_state.hpp"
#include "tests/aws/dynamodb_fixture.hpp"

namespace {

using nlohmann::json;
using renewer::CertificateResult;
using renewer::ItemState;
using renewer::Outcome;

CertificateResult result(const std::string& id, Outcome outcome, std::string reason = "", std::string not_after = "") {
    CertificateResult r;
    r.id = id;
    r.outcome = outcome;
    r.reason = std::move(reason);
    r.not_after = std::move(not_after);
    return r;
}

TEST(DomainListState, EachOutcomeSaysWhatTheItemShows) {
    for (const auto outcome : {Outcome::renewed, Outcome::stored_from_spool, Outcome::not_due}) {
        const auto state = renewer::item_state_of(result("a", outcome, "expires in 60 days", "2027-03-01T00:00:00Z"));
        ASSERT_TRUE(state) << renewer::to_string(outcome);
        EXPECT_EQ(*state, (ItemState{"issued", "", "2027-03-01T00:00:00Z"})) << "a reason that moves daily is not kept";
    }
    EXPECT_EQ(*renewer::item_state_of(result("a", Outcome::waiting_customer_dns, "no CNAME yet")),
              (ItemState{"waiting for customer DNS", "no CNAME yet", ""}));
    EXPECT_EQ(*renewer::item_state_of(result("a", Outcome::failed, "boom", "2027-03-01T00:00:00Z")),
              (ItemState{"failed", "boom", "2027-03-01T00:00:00Z"}));
    EXPECT_EQ(renewer::item_state_of(result("a", Outcome::deferred, "later"))->state, "deferred");
    for (const auto outcome : {Outcome::locked, Outcome::would_renew, Outcome::left_in_place}) {
        EXPECT_FALSE(renewer::item_state_of(result("a", outcome, "x"))) << renewer::to_string(outcome);
    }
}

TEST(DomainListState, ALongReasonIsCutOutsideAUtf8Sequence) {
    // "é" is two bytes; the limit falls on its second one.
    const std::string reason = std::string(renewer::k_max_state_reason - 1, 'a') + "\xc3\xa9" + "tail";
    const auto state = renewer::item_state_of(result("a", Outcome::failed, reason));
    EXPECT_EQ(state->reason, std::string(renewer::k_max_state_reason - 1, 'a') + "...");
}

TEST(DomainListState, TheRecordedStateIsTheJobsAttributes) {
    const json item = {{"id", {{"S", "shop"}}},
                       {"renewer_state", {{"S", "failed"}}},
                       {"renewer_reason", {{"S", "boom"}}},
                       {"renewer_not_after", {{"N", "12"}}}};  // not S: not the job's
    EXPECT_EQ(renewer::recorded_state_of(item), (ItemState{"failed", "boom", ""}));
    EXPECT_EQ(renewer::recorded_state_of(json{{"id", {{"S", "new"}}}}), ItemState{});
}

class DomainListStateE2e : public aws_test::DynamoDbE2e<DomainListStateE2e> {
protected:
    static constexpr const char* k_table = "domains";

    void SetUp() override {
        DynamoDbE2e::SetUp();
        create_table(k_table, {"id"});
    }

    static void put(const std::string& id, json attributes) {
        attributes["id"] = {{"S", id}};
        attributes["domains"] = {{"L", {{{"S", id + ".example"}}}}};
        put_item(k_table, attributes);
    }
    static json item(const std::string& id) { return get_item(k_table, {{"id", {{"S", id}}}}); }

    static renewer::StateWrites write(const std::map<std::string, ItemState>& recorded,
                                      std::vector<CertificateResult> results) {
        renewer::RunReport report;
        report.certificates = std::move(results);
        return renewer::write_item_states(k_table, recorded, report, *settings());
    }
};

TEST_F(DomainListStateE2e, OnlyChangedStatesAreWrittenAndOnlyTheJobsAttributes) {
    const std::string old_date = "2027-01-01T00:00:00Z";
    const std::string new_date = "2027-03-01T00:00:00Z";
    put("kept", {{"renewer_state", {{"S", "issued"}}}, {"renewer_not_after", {{"S", old_date}}}});
    put("new", {});
    put("customer", {{"plan", {{"S", "pro"}}}});
    put("busy", {});
    std::map<std::string, ItemState> recorded = {
        {"kept", {"issued", "", old_date}}, {"new", {}}, {"customer", {}}, {"busy", {}}, {"gone", {}}};
    clear_calls();
    const auto first =
        write(recorded, {result("kept", Outcome::not_due, "expires in 30 days", old_date),
                         result("new", Outcome::renewed, "new", new_date),
                         result("customer", Outcome::waiting_customer_dns, "no CNAME yet"),
                         result("busy", Outcome::locked, "another run"), result("gone", Outcome::failed, "boom"),
                         result("customers/left", Outcome::left_in_place, "no item")});
    EXPECT_EQ(first.written, 2U);
    EXPECT_EQ(first.unchanged, 1U);
    EXPECT_EQ(first.gone, 1U);
    EXPECT_EQ(first.failed, 0U);
    EXPECT_EQ(calls("UpdateItem").size(), 3U) << "kept, busy and the left certificate are not written";

    const auto fresh = item("new");
    EXPECT_EQ(fresh["renewer_state"]["S"], "issued");
    EXPECT_EQ(fresh["renewer_not_after"]["S"], new_date);
    EXPECT_FALSE(fresh.contains("renewer_reason"));
    EXPECT_TRUE(core::parse_time(fresh["renewer_updated"]["S"].get<std::string>()).ok());
    EXPECT_EQ(fresh["domains"]["L"][0]["S"], "new.example") << "the customer's names are left as they were";
    const auto waiting = item("customer");
    EXPECT_EQ(waiting["renewer_state"]["S"], "waiting for customer DNS");
    EXPECT_EQ(waiting["renewer_reason"]["S"], "no CNAME yet");
    EXPECT_EQ(waiting["plan"]["S"], "pro") << "the application's own attributes are left alone";
    EXPECT_FALSE(item("busy").contains("renewer_state"));
    EXPECT_TRUE(item("gone").is_null()) << "a deleted item was brought back";

    // The next run reads what was written: nothing changed, nothing written.
    for (const auto* id : {"kept", "new", "customer"}) {
        recorded[id] = renewer::recorded_state_of(item(id));
    }
    clear_calls();
    const auto second = write(recorded, {result("kept", Outcome::not_due, "expires in 29 days", old_date),
                                         result("new", Outcome::not_due, "expires in 59 days", new_date),
                                         result("customer", Outcome::waiting_customer_dns, "no CNAME yet")});
    EXPECT_EQ(second.written, 0U);
    EXPECT_EQ(second.unchanged, 3U);
    EXPECT_TRUE(calls("UpdateItem").empty());
}

TEST_F(DomainListStateE2e, BackToIssuedDropsTheReasonAndAnUnknownDateKeepsTheShownOne) {
    const std::string date = "2027-01-01T00:00:00Z";
    put("shop", {{"renewer_state", {{"S", "failed"}}},
                 {"renewer_reason", {{"S", "boom"}}},
                 {"renewer_not_after", {{"S", date}}}});
    put("blog", {{"renewer_state", {{"S", "issued"}}}, {"renewer_not_after", {{"S", date}}}});
    const auto writes = write({{"shop", {"failed", "boom", date}}, {"blog", {"issued", "", date}}},
                              {result("shop", Outcome::not_due, "expires in 20 days", date),
                               result("blog", Outcome::failed, "CA down")});  // the store was not read: no date
    EXPECT_EQ(writes.written, 2U);
    const auto shop = item("shop");
    EXPECT_EQ(shop["renewer_state"]["S"], "issued");
    EXPECT_FALSE(shop.contains("renewer_reason"));
    const auto blog = item("blog");
    EXPECT_EQ(blog["renewer_state"]["S"], "failed");
    EXPECT_EQ(blog["renewer_reason"]["S"], "CA down");
    EXPECT_EQ(blog["renewer_not_after"]["S"], date);
}

TEST_F(DomainListStateE2e, AFailedWriteIsCountedAndTheOthersGoOn) {
    put("a", {});
    put("b", {});
    fault({{"action", "UpdateItem"},
           {"kind", "custom"},
           {"code", "AccessDeniedException"},
           {"status", 400},
           {"count", 1}});
    const auto writes =
        write({{"a", {}}, {"b", {}}}, {result("a", Outcome::failed, "x"), result("b", Outcome::failed, "y")});
    EXPECT_EQ(writes.failed, 1U);
    EXPECT_EQ(writes.written, 1U);
    EXPECT_FALSE(item("a").contains("renewer_state"));
    EXPECT_EQ(item("b")["renewer_state"]["S"], "failed");
}

}  // namespace
