// Route53 writes that never lose someone else's value (compare-and-swap
// against tests/fakeaws, whose `race` control writes between our read and our
// change, as another writer would), and the stale-delegation check: the public
// delegation is modelled by Debian's bind9 as the recursive resolver.
#include <gtest/gtest.h>

#include <algorithm>

#include "aws/credentials.hpp"
#include "dns/route53.hpp"
#include "dns/solver.hpp"
#include "fakeaws_fixture.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class Route53Safety : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        std::string error;
        fake_ = aws_test::FakeAws::start(error);
        if (!fake_) {
            setup_error_ = error;
        }
    }
    static void TearDownTestSuite() { fake_.reset(); }

    void SetUp() override {
        if (!fake_) {
            GTEST_FAIL() << "fakeaws did not start: " << setup_error_;
        }
        env_ = std::make_unique<aws_test::AwsEnv>(fake_->endpoint);
        fake_->control("POST", "/_fake/reset");
        fake_->control("POST", "/_fake/change-delay", {{"seconds", 0}});
    }
    void TearDown() override { env_.reset(); }

    static std::string create_zone(const std::string& name) {
        return fake_->control("POST", "/_fake/zones", {{"name", name}}).at("id");
    }
    static json txt_set(const std::string& name, int ttl, std::vector<std::string> values) {
        return {{"Name", name}, {"Type", "TXT"}, {"TTL", ttl}, {"Values", std::move(values)}};
    }
    static void put(const std::string& zone, const json& set) {
        fake_->control("POST", "/_fake/zones/" + zone + "/records", {{"records", json::array({set})}});
    }
    // Another writer puts `set` right after the next `count` reads of the zone.
    static void race(const std::string& zone, const json& set, int count = 1) {
        fake_->control("POST", "/_fake/zones/" + zone + "/race",
                       {{"after", "ListResourceRecordSets"}, {"records", json::array({set})}, {"count", count}});
    }
    static std::vector<std::string> txt(const std::string& zone, const std::string& name) {
        const json listing = fake_->control("GET", "/_fake/zones/" + zone + "/records").at("records");
        for (const auto& r : listing) {
            if (r.at("Name") == name && r.at("Type") == "TXT") {
                auto values = r.at("Values").get<std::vector<std::string>>();
                std::sort(values.begin(), values.end());
                return values;
            }
        }
        return {};
    }
    // Every action of every ChangeResourceRecordSets sent.
    static std::vector<std::string> actions() {
        std::vector<std::string> out;
        for (const auto& c : fake_->calls("ChangeResourceRecordSets")) {
            for (const auto& ch : c.at("params").at("changes")) {
                out.push_back(ch.at("action"));
            }
        }
        return out;
    }

    static std::shared_ptr<dns::Provider> provider() {
        dns::Route53Settings s;
        s.client.credentials = aws::static_credentials(aws::Credentials{
            aws_test::FakeAws::k_access_key, aws_test::FakeAws::k_secret_key, "", std::nullopt, "test"});
        s.client.retry.base_delay = 20ms;
        s.client.retry.max_delay = 200ms;
        s.rate_limiter = std::make_shared<aws::RateLimiter>(50.0);
        s.initial_poll = 20ms;
        s.max_poll = 200ms;
        s.change_timeout = 20s;
        auto p = dns::make_route53(std::move(s));
        EXPECT_TRUE(p.ok()) << p.error().message;
        return std::shared_ptr<dns::Provider>(std::move(*p));
    }

    static std::unique_ptr<aws_test::FakeAws> fake_;
    static std::string setup_error_;
    std::unique_ptr<aws_test::AwsEnv> env_;
};

std::unique_ptr<aws_test::FakeAws> Route53Safety::fake_;
std::string Route53Safety::setup_error_;

const std::string k_name = "_acme-challenge.example.com.";

}  // namespace

// Present: another writer adds a value between our read and our change. An
// UPSERT of what we read plus ours would drop it; the DELETE of exactly the
// set read fails instead, and the second read includes it.
TEST_F(Route53Safety, PresentKeepsAValueWrittenBetweenReadAndChange) {
    const std::string zone = create_zone("example.com");
    put(zone, txt_set(k_name, 300, {"\"foreign\""}));
    race(zone, txt_set(k_name, 300, {"\"foreign\"", "\"other writer\""}));
    auto p = provider();
    auto status = p->present({{k_name, "ours"}});
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(txt(zone, k_name), (std::vector<std::string>{"\"foreign\"", "\"other writer\"", "\"ours\""}));
    const auto sent = actions();
    EXPECT_EQ(std::count(sent.begin(), sent.end(), "UPSERT"), 0) << "an UPSERT cannot compare";
    ASSERT_GE(sent.size(), 2U);
    EXPECT_EQ(sent[sent.size() - 2], "DELETE");
    EXPECT_EQ(sent.back(), "CREATE");
}

// Clean-up: the same race while removing our value.
TEST_F(Route53Safety, CleanupKeepsAValueWrittenBetweenReadAndChange) {
    const std::string zone = create_zone("example.com");
    put(zone, txt_set(k_name, 120, {"\"foreign\"", "\"ours\""}));
    race(zone, txt_set(k_name, 120, {"\"foreign\"", "\"ours\"", "\"late\""}));
    auto removed = provider()->cleanup({{k_name, "ours"}});
    ASSERT_TRUE(removed.ok()) << removed.error().message;
    EXPECT_EQ(*removed, 1U);
    EXPECT_EQ(txt(zone, k_name), (std::vector<std::string>{"\"foreign\"", "\"late\""}));
    const json listing = fake_->control("GET", "/_fake/zones/" + zone + "/records").at("records");
    for (const auto& r : listing) {
        if (r.at("Name") == k_name) {
            EXPECT_EQ(r.at("TTL"), 120);  // their TTL kept
        }
    }
}

// A writer that changes the set before every one of our changes: bounded retries, then one clear line.
TEST_F(Route53Safety, EndlessConflictIsBounded) {
    const std::string zone = create_zone("example.com");
    put(zone, txt_set(k_name, 300, {"\"v0\""}));
    for (int i = 1; i <= 20; ++i) {
        race(zone, txt_set(k_name, 300, {"\"v" + std::to_string(i) + "\""}));
    }
    auto status = provider()->present({{k_name, "ours"}});
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, "InvalidChangeBatch") << status.error().message;
    EXPECT_LE(fake_->calls("ChangeResourceRecordSets").size(), 6U);  // the CREATE, then at most five swaps
}

// A name with no set yet is a plain CREATE; the clean-up DELETEs exactly it.
TEST_F(Route53Safety, NewSetIsAPlainCreate) {
    const std::string zone = create_zone("example.com");
    auto p = provider();
    ASSERT_TRUE(p->present({{k_name, "ours"}}).ok());
    auto removed = p->cleanup({{k_name, "ours"}});
    ASSERT_TRUE(removed.ok());
    EXPECT_EQ(*removed, 1U);
    EXPECT_EQ(actions(), (std::vector<std::string>{"CREATE", "DELETE"}));
    EXPECT_TRUE(txt(zone, k_name).empty());
}

namespace {

// The public view of DNS: bind9 answers as the recursive resolver would.
dns::SolverOptions public_view(const dns_test::BindServer& bind, int fake_dns_port) {
    dns::SolverOptions o;
    o.propagation.resolver = bind.address();
    o.propagation.nameservers = "127.0.0.1:" + std::to_string(fake_dns_port);  // where Route53 serves the zone
    o.propagation.timeout = 15s;
    return o;
}

}  // namespace

// A child zone exists in public DNS: the hosted zone of the parent can never
// serve the name. Fail before any change, naming both zones.
TEST_F(Route53Safety, ChildZoneDelegatedElsewhereFailsAtOnce) {
    const std::string zone = create_zone("example.com");
    std::string error;
    auto bind = dns_test::BindServer::start(
        {{"example.com", "sub IN NS ns1.sub.example.com.\n"}, {"sub.example.com", ""}}, {}, &error);
    ASSERT_TRUE(bind) << error;
    dns::Solver solver(provider(), public_view(*bind, fake_->dns_port));
    const auto started = std::chrono::steady_clock::now();
    auto presented = solver.present({{"www.sub.example.com", "v"}});
    ASSERT_FALSE(presented.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    const std::string& m = presented.error().message;
    EXPECT_NE(m.find("hosted zone example.com. (" + zone + ")"), std::string::npos) << m;
    EXPECT_NE(m.find("zone sub.example.com."), std::string::npos) << m;
    EXPECT_EQ(fake_->calls("ChangeResourceRecordSets").size(), 0U) << "nothing may be written";
}

// The hosted zone's name servers are not the ones the delegation names (a
// recreated hosted zone, a stale NS set at the registrar): fail at once
// naming both sets; with a matching delegation the same present succeeds.
TEST_F(Route53Safety, StaleDelegationFailsAtOnceAGoodOneWorks) {
    const std::string zone = create_zone("example.com");
    std::string error;
    auto bind = dns_test::BindServer::start({{"example.com", ""}}, {}, &error);  // NS ns1.example.com.
    ASSERT_TRUE(bind) << error;
    {
        dns::Solver solver(provider(), public_view(*bind, fake_->dns_port));
        auto presented = solver.present({{"example.com", "good"}});
        ASSERT_TRUE(presented.ok()) << presented.error().message;
        ASSERT_TRUE(presented->cleanup().ok());
    }
    put(zone, {{"Name", "example.com."},
               {"Type", "NS"},
               {"TTL", 172800},
               {"Values", {"ns-1.awsdns-01.org.", "ns-2.awsdns-02.net."}}});
    fake_->control("DELETE", "/_fake/calls");
    dns::Solver solver(provider(), public_view(*bind, fake_->dns_port));
    auto presented = solver.present({{"example.com", "v"}});
    ASSERT_FALSE(presented.ok());
    const std::string& m = presented.error().message;
    EXPECT_NE(m.find("hosted zone example.com. (" + zone + "), served by [ns-1.awsdns-01.org., ns-2.awsdns-02.net.]"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("delegates zone example.com. to [ns1.example.com.]"), std::string::npos) << m;
    EXPECT_EQ(fake_->calls("ChangeResourceRecordSets").size(), 0U) << "nothing may be written";
}
