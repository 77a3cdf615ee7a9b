// The domain list (docs/customer-domains.md#the-domain-list): a DynamoDB item
// becomes a certificate by the configuration file's rules, and each bad item
// is refused with its key and the reason while the others go in.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "renewer/config.hpp"
#include "renewer/domain_list_item.hpp"

namespace renewer {
namespace {

using nlohmann::json;

// A configuration that reads its certificates from a table, with an allowlist
// and a default store template.
Config domain_list_config(const std::string& extra = "") {
    const std::string text = R"({"allow": [".example.com"], "certificates_from": "dynamodb:domains",)" + extra +
                             R"( "defaults": {"store": "aws-sm:customers/{name}", "profile": "shortlived"}})";
    auto config = parse_config(text, "renewer.json");
    EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().message);
    return config.ok() ? std::move(config).value() : Config{};
}

json ddb_names(std::initializer_list<const char*> names) {
    json list = json::array();
    for (const auto* name : names) {
        list.push_back({{"S", name}});
    }
    return {{"L", list}};
}

ListedItem ddb_item(const std::string& id, const json& domains, json extra = json::object()) {
    extra["id"] = {{"S", id}};
    extra["domains"] = domains;
    return listed_item_of(extra, 0);
}

std::string refusal_of(const std::vector<RefusedItem>& refused, const std::string& key) {
    for (const auto& r : refused) {
        if (r.key == key) {
            return r.reason;
        }
    }
    return "(not refused)";
}

TEST(DomainListItem, ListAndSetOfNamesAndOptionalAttributes) {
    const auto listed = ddb_item("shop", ddb_names({"shop.example.com", "www.shop.example.com"}),
                                 {{"key_type", {{"S", "ec384"}}},
                                  {"store", {{"S", "dir:/srv/certs/shop"}}},
                                  {"customer_dns", {{"BOOL", true}}},
                                  {"created_by", {{"N", "42"}}}});
    EXPECT_EQ(listed.key, "shop");
    EXPECT_EQ(listed.problem, "");
    EXPECT_EQ(listed.certificate, json::parse(R"({"name": "shop", "domains": ["shop.example.com",
        "www.shop.example.com"], "key_type": "ec384", "store": "dir:/srv/certs/shop", "customer_dns": true})"));
    const auto set = ddb_item("blog", {{"SS", {"blog.example.com"}}});
    EXPECT_EQ(set.certificate["domains"], json::array({"blog.example.com"}));
}

TEST(DomainListItem, WrongTypesAndMissingAttributesAreProblems) {
    EXPECT_EQ(ddb_item("a", {{"S", "a.example.com"}}).problem, "domains: expected SS or L of S, got S");
    EXPECT_EQ(ddb_item("a", {{"L", {{{"N", "1"}}}}}).problem, "domains: expected SS or L of S, got L");
    EXPECT_EQ(ddb_item("a", ddb_names({"a.example.com"}), {{"key_type", {{"N", "256"}}}}).problem,
              "key_type: expected S, got N");
    EXPECT_EQ(ddb_item("a", ddb_names({"a.example.com"}), {{"customer_dns", {{"S", "yes"}}}}).problem,
              "customer_dns: expected BOOL, got S");
    const auto no_names = listed_item_of({{"id", {{"S", "b"}}}}, 3);
    EXPECT_EQ(no_names.key, "b");
    EXPECT_EQ(no_names.problem, "domains: required (SS or L of S: the certificate's names)");
    const auto no_id = listed_item_of({{"pk", {{"S", "c"}}}}, 7);
    EXPECT_EQ(no_id.key, "(item 7 of the scan)");
    EXPECT_EQ(no_id.problem, "no \"id\" attribute (the table's partition key, S)");
    EXPECT_EQ(listed_item_of({{"id", {{"N", "5"}}}}, 1).problem, "id: expected S, got N");
}

TEST(DomainList, GoodItemsBecomeCertificatesWithTheFilesDefaults) {
    auto config = domain_list_config();
    EXPECT_TRUE(config.certificates.empty());
    EXPECT_EQ(config.certificates_from, "dynamodb:domains");
    EXPECT_EQ(listed_store_template(config), "aws-sm:customers/{name}");
    const auto refused = add_listed_certificates(
        config, {ddb_item("shop", ddb_names({"Shop.Example.com."})),
                 ddb_item("*.wild", ddb_names({"*.wild.example.com"}), {{"key_type", {{"S", "rsa2048"}}}})});
    EXPECT_TRUE(refused.empty());
    ASSERT_EQ(config.certificates.size(), 2U);
    const auto& shop = config.certificates[0];
    EXPECT_EQ(shop.id, "shop");
    EXPECT_EQ(shop.domains, std::vector<std::string>{"shop.example.com"});  // normalized as in the file
    EXPECT_EQ(shop.store.spec, "aws-sm:customers/shop");
    EXPECT_EQ(shop.key_type, core::KeyType::ec256);
    EXPECT_EQ(shop.profile, "shortlived");
    EXPECT_EQ(config.certificates[1].store.spec, "aws-sm:customers/_.wild");
    EXPECT_EQ(config.certificates[1].key_type, core::KeyType::rsa2048);
}

TEST(DomainList, EachBadItemIsRefusedWithItsKeyAndTheOthersGoIn) {
    auto config = domain_list_config();
    const auto refused = add_listed_certificates(
        config,
        {
            ddb_item("good1", ddb_names({"one.example.com"})),
            ddb_item("outside", ddb_names({"shop.other.org"})),
            ddb_item("wildcard", ddb_names({"a.*.example.com"})),
            ddb_item("typed", {{"S", "typed.example.com"}}),
            listed_item_of({{"id", {{"S", "nameless"}}}}, 4),
            ddb_item("badkey", ddb_names({"k.example.com"}), {{"key_type", {{"S", "ec999"}}}}),
            ddb_item("bad id!", ddb_names({"id.example.com"})),
            ddb_item("good2", ddb_names({"two.example.com"})),
            ddb_item("samestore", ddb_names({"three.example.com"}), {{"store", {{"S", "aws-sm:customers/good1"}}}}),
            ddb_item("lease", ddb_names({"four.example.com"}), {{"store", {{"S", "aws-sm:customers/good2-lock"}}}}),
            ddb_item("good3", ddb_names({"five.example.com"})),
        });
    std::vector<std::string> ids;
    for (const auto& cert : config.certificates) {
        ids.push_back(cert.id);
    }
    EXPECT_EQ(ids, (std::vector<std::string>{"good1", "good2", "good3"}));
    ASSERT_EQ(refused.size(), 8U);
    EXPECT_EQ(refusal_of(refused, "outside"), "domains[0]: name \"shop.other.org\" is not in the allowlist");
    EXPECT_NE(refusal_of(refused, "wildcard").find("domains[0]: "), std::string::npos);
    EXPECT_NE(refusal_of(refused, "wildcard").find("a.*.example.com"), std::string::npos);
    EXPECT_EQ(refusal_of(refused, "typed"), "domains: expected SS or L of S, got S");
    EXPECT_EQ(refusal_of(refused, "nameless"), "domains: required (SS or L of S: the certificate's names)");
    EXPECT_NE(refusal_of(refused, "badkey").find("key_type"), std::string::npos);
    EXPECT_NE(refusal_of(refused, "badkey").find("ec999"), std::string::npos);
    EXPECT_EQ(refusal_of(refused, "bad id!").rfind("id: ", 0), 0U) << refusal_of(refused, "bad id!");
    EXPECT_EQ(refusal_of(refused, "samestore"),
              "store: \"aws-sm:customers/good1\" is also the store of item \"good1\" (use \"{name}\" in a shared "
              "store)");
    EXPECT_EQ(refusal_of(refused, "lease"),
              "store: \"aws-sm:customers/good2-lock\" is the lease secret of item \"good2\" (choose another name)");
}

TEST(DomainList, ADuplicateIdIsRefusedOnce) {
    auto config = domain_list_config();
    const auto refused = add_listed_certificates(
        config, {ddb_item("dup", ddb_names({"a.example.com"})), ddb_item("dup", ddb_names({"b.example.com"}))});
    ASSERT_EQ(config.certificates.size(), 1U);
    EXPECT_EQ(config.certificates[0].domains.front(), "a.example.com");
    ASSERT_EQ(refused.size(), 1U);
    EXPECT_EQ(refused[0].reason.rfind("id: certificate id \"dup\" is used twice (also item \"dup\"", 0), 0U)
        << refused[0].reason;
}

TEST(DomainList, AnItemWithoutStoreNeedsADefault) {
    auto parsed = parse_config(R"({"certificates_from": "dynamodb:domains"})", "renewer.json");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    auto config = std::move(parsed).value();
    const auto refused = add_listed_certificates(config, {ddb_item("shop", ddb_names({"shop.example.com"}))});
    ASSERT_EQ(refused.size(), 1U);
    EXPECT_EQ(refused[0].reason.rfind("store: required here or in defaults", 0), 0U) << refused[0].reason;
}

TEST(DomainList, TheOptionIsCheckedAndTakesThePlaceOfTheCertificates) {
    const auto error = [](const std::string& text, const CommandLine& flags = {}) {
        auto config = parse_config(text, "renewer.json", flags);
        return config.ok() ? std::string("(parsed)") : config.error().message;
    };
    EXPECT_EQ(error(R"({"certificates_from": "dynamodb:x"})"),
              "renewer.json: certificates_from: \"x\" is not a DynamoDB table name (3..255 of a-z A-Z 0-9 _ - .)");
    EXPECT_EQ(error(R"({"certificates_from": "table"})"),
              "renewer.json: certificates_from: \"table\": expected dynamodb:TABLE");
    EXPECT_EQ(error(R"({"certificates_from": "dynamodb:domains", "certificates": []})"),
              "renewer.json: certificates: not with certificates_from (the certificates are the table's items)");
    CommandLine names;
    names.certificates = {{"a.example.com"}};
    EXPECT_EQ(error(R"({"certificates_from": "dynamodb:domains"})", names),
              "renewer.json: certificates_from and -d/--cert: give the names in one place");
    // The environment variable, with no file at all.
    const auto env = [](std::string_view name) -> std::optional<std::string> {
        return name == "RENEWER_CERTIFICATES_FROM" ? std::optional<std::string>("dynamodb:domains") : std::nullopt;
    };
    auto from_env = build_config(nullptr, "", CommandLine{}, env);
    ASSERT_TRUE(from_env.ok()) << from_env.error().message;
    EXPECT_EQ(from_env->certificates_from, "dynamodb:domains");
}

}  // namespace
}  // namespace renewer
