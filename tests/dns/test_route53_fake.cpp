// Route53 provider and the solver against tests/fakeaws (REST-XML with SigV4,
// fault injection, AccessDenied rules, its call log and its DNS port).
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <thread>

#include "aws/credentials.hpp"
#include "dns/resolver.hpp"
#include "dns/route53.hpp"
#include "dns/solver.hpp"
#include "fakeaws_fixture.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class DnsRoute53 : public ::testing::Test {
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

    static std::string create_zone(const std::string& name, bool private_zone = false) {
        return fake_->control("POST", "/_fake/zones", {{"name", name}, {"private", private_zone}}).at("id");
    }
    // The fixture's HTTP client is one connection: one caller at a time.
    static json records(const std::string& zone_id) {
        static std::mutex mutex;
        std::lock_guard lock(mutex);
        return fake_->control("GET", "/_fake/zones/" + zone_id + "/records").at("records");
    }
    static json all_zones_records() {
        json out = json::object();
        const json zones = fake_->control("GET", "/_fake/zones");
        for (const auto& z : zones.at("zones")) {
            out[z.at("id").get<std::string>()] = records(z.at("id"));
        }
        return out;
    }
    // The TXT values (as the API shows them, quoted) at `name` in a zone.
    static std::vector<std::string> txt(const std::string& zone_id, const std::string& name) {
        const json listing = records(zone_id);
        for (const auto& r : listing) {
            if (r.at("Name") == name && r.at("Type") == "TXT") {
                auto values = r.at("Values").get<std::vector<std::string>>();
                std::sort(values.begin(), values.end());
                return values;
            }
        }
        return {};
    }
    static std::size_t calls(const std::string& action) { return fake_->calls(action).size(); }

    static dns::Route53Settings settings(double rate = 50.0) {
        dns::Route53Settings s;
        s.client.credentials = aws::static_credentials(aws::Credentials{
            aws_test::FakeAws::k_access_key, aws_test::FakeAws::k_secret_key, "", std::nullopt, "test"});
        s.client.retry.base_delay = 20ms;
        s.client.retry.max_delay = 200ms;
        s.rate_limiter = std::make_shared<aws::RateLimiter>(rate);
        s.initial_poll = 20ms;
        s.max_poll = 200ms;
        s.change_timeout = 20s;
        return s;
    }
    static std::shared_ptr<dns::Provider> provider(dns::Route53Settings s = settings()) {
        auto p = dns::make_route53(std::move(s));
        EXPECT_TRUE(p.ok()) << p.error().message;
        return std::shared_ptr<dns::Provider>(std::move(*p));
    }
    static dns::SolverOptions solver_options() {
        dns::SolverOptions o;
        const std::string dns = "127.0.0.1:" + std::to_string(fake_->dns_port);
        o.propagation.resolver = dns;
        o.propagation.nameservers = dns;
        o.propagation.timeout = 15s;
        return o;
    }

    static std::unique_ptr<aws_test::FakeAws> fake_;
    static std::string setup_error_;
    std::unique_ptr<aws_test::AwsEnv> env_;
};

std::unique_ptr<aws_test::FakeAws> DnsRoute53::fake_;
std::string DnsRoute53::setup_error_;

}  // namespace

TEST_F(DnsRoute53, ApexAndWildcardInOneChange) {
    const std::string zone = create_zone("example.com");
    const json before = all_zones_records();
    dns::Solver solver(provider(), solver_options());
    auto presented = solver.present({{"example.com", "apex-value"}, {"*.example.com", "wild-value"}});
    ASSERT_TRUE(presented.ok()) << presented.error().message;
    EXPECT_EQ(calls("ChangeResourceRecordSets"), 1U);
    EXPECT_EQ(txt(zone, "_acme-challenge.example.com."),
              (std::vector<std::string>{"\"apex-value\"", "\"wild-value\""}));
    ASSERT_TRUE(presented->cleanup().ok());
    EXPECT_EQ(all_zones_records(), before);
}

TEST_F(DnsRoute53, PreExistingValueSurvivesByteForByte) {
    const std::string zone = create_zone("example.com");
    fake_->control("POST", "/_fake/zones/" + zone + "/records",
                   {{"records", json::array({{{"Name", "_acme-challenge.example.com."},
                                              {"Type", "TXT"},
                                              {"TTL", 3600},
                                              {"Values", {"\"someone else\"", "\"v=x \\\"q\\\"\" \"two\""}}}})}});
    const json before = all_zones_records();
    dns::Solver solver(provider(), solver_options());
    auto presented = solver.present({{"example.com", "ours"}});
    ASSERT_TRUE(presented.ok()) << presented.error().message;
    const auto during = txt(zone, "_acme-challenge.example.com.");
    EXPECT_EQ(during.size(), 3U);
    const json listing = records(zone);
    for (const auto& r : listing) {
        if (r.at("Name") == "_acme-challenge.example.com.") {
            EXPECT_EQ(r.at("TTL"), 3600);  // their TTL kept
        }
    }
    ASSERT_TRUE(presented->cleanup().ok());
    EXPECT_EQ(all_zones_records(), before);
}

TEST_F(DnsRoute53, TwoCertificatesInOneZoneConcurrently) {
    const std::string zone = create_zone("example.com");
    const json before = all_zones_records();
    auto p = provider();
    std::mutex mutex;
    std::condition_variable cv;
    int presented_count = 0;
    std::vector<std::string> failures;
    auto certificate = [&](const std::string& domain, const std::string& value) {
        dns::Solver solver(p, solver_options());
        auto presented = solver.present({{domain, value}});
        std::unique_lock lock(mutex);
        if (!presented.ok()) {
            failures.push_back(presented.error().message);
            ++presented_count;
            cv.notify_all();
            return;
        }
        ++presented_count;
        cv.notify_all();
        // Both are presented before either cleans up (bounded wait).
        cv.wait_for(lock, 30s, [&] { return presented_count == 2; });
        lock.unlock();
        const auto values = txt(zone, "_acme-challenge.example.com.");
        if (std::find(values.begin(), values.end(), "\"" + value + "\"") == values.end()) {
            lock.lock();
            failures.push_back(value + " was clobbered");
            lock.unlock();
        }
        auto status = presented->cleanup();
        if (!status.ok()) {
            lock.lock();
            failures.push_back(status.error().message);
        }
    };
    std::thread a(certificate, "example.com", "cert-a");
    std::thread b(certificate, "*.example.com", "cert-b");
    a.join();
    b.join();
    EXPECT_TRUE(failures.empty()) << failures.front();
    EXPECT_EQ(all_zones_records(), before);
}

TEST_F(DnsRoute53, CnameDelegationToASecondZone) {
    const std::string zone = create_zone("example.com");
    const std::string delegated = create_zone("acme-delegate.net");
    fake_->control("POST", "/_fake/zones/" + zone + "/records",
                   {{"records", json::array({{{"Name", "_acme-challenge.www.example.com."},
                                              {"Type", "CNAME"},
                                              {"TTL", 300},
                                              {"Values", {"www-example-com.acme-delegate.net."}}}})}});
    const json before = all_zones_records();
    dns::Solver solver(provider(), solver_options());
    auto presented = solver.present({{"www.example.com", "delegated-value"}});
    ASSERT_TRUE(presented.ok()) << presented.error().message;
    EXPECT_EQ(presented->records().front().fqdn, "www-example-com.acme-delegate.net.");
    EXPECT_EQ(txt(delegated, "www-example-com.acme-delegate.net."), std::vector<std::string>{"\"delegated-value\""});
    ASSERT_TRUE(presented->cleanup().ok());
    EXPECT_EQ(all_zones_records(), before);
}

TEST_F(DnsRoute53, ThrottlingAnd500AreRetried) {
    const std::string zone = create_zone("example.com");
    fake_->control("POST", "/_fake/faults",
                   {{"action", "ChangeResourceRecordSets"}, {"kind", "throttle"}, {"count", 2}});
    fake_->control("POST", "/_fake/faults", {{"action", "ListResourceRecordSets"}, {"kind", "error500"}, {"count", 1}});
    fake_->control("POST", "/_fake/faults", {{"action", "GetChange"}, {"kind", "prior"}, {"count", 1}});
    dns::Solver solver(provider(), solver_options());
    auto presented = solver.present({{"example.com", "after-faults"}});
    ASSERT_TRUE(presented.ok()) << presented.error().message;
    EXPECT_EQ(txt(zone, "_acme-challenge.example.com."), std::vector<std::string>{"\"after-faults\""});
    const auto changes = fake_->calls("ChangeResourceRecordSets");
    ASSERT_GE(changes.size(), 3U);
    EXPECT_EQ(changes[0].value("code", json()).get<std::string>(), "Throttling");
    ASSERT_TRUE(presented->cleanup().ok());
    EXPECT_TRUE(txt(zone, "_acme-challenge.example.com.").empty());
}

TEST_F(DnsRoute53, RequestRateCapHolds) {
    create_zone("a.example");
    create_zone("b.example");
    create_zone("c.example");
    const double rate = 4.0;
    dns::Solver solver(provider(settings(rate)), solver_options());
    fake_->control("DELETE", "/_fake/calls");
    auto presented =
        solver.present({{"a.example", "1"}, {"*.b.example", "2"}, {"c.example", "3"}, {"x.c.example", "4"}});
    ASSERT_TRUE(presented.ok()) << presented.error().message;
    ASSERT_TRUE(presented->cleanup().ok());
    std::vector<double> times;
    const json log = fake_->control("GET", "/_fake/calls?service=route53");
    for (const auto& c : log.at("calls")) {
        times.push_back(c.at("time").get<double>());
    }
    ASSERT_GE(times.size(), 12U);
    std::sort(times.begin(), times.end());
    // Token bucket (burst = rate): any run of calls i..j fits burst + rate * span.
    for (std::size_t i = 0; i < times.size(); ++i) {
        for (std::size_t j = i; j < times.size(); ++j) {
            const double allowed = rate + rate * (times[j] - times[i]) + 1.0;  // +1: clock granularity
            EXPECT_LE(static_cast<double>(j - i + 1), allowed) << "calls " << i << ".." << j;
        }
    }
}

TEST_F(DnsRoute53, CleanupAfterSimulatedAcmeFailureRestoresEveryZone) {
    const std::string zone = create_zone("example.com");
    create_zone("example.org");
    fake_->control("POST", "/_fake/zones/" + zone + "/records",
                   {{"records", json::array({{{"Name", "_acme-challenge.example.com."},
                                              {"Type", "TXT"},
                                              {"TTL", 120},
                                              {"Values", {"\"keep-me\""}}}})}});
    const json before = all_zones_records();
    {
        dns::Solver solver(provider(), solver_options());
        auto presented = solver.present(
            {{"example.com", "a"}, {"*.example.com", "b"}, {"www.example.org", "c"}, {"example.org", "d"}});
        ASSERT_TRUE(presented.ok()) << presented.error().message;
        EXPECT_NE(all_zones_records(), before);
        // The ACME order fails here; the Presentation is dropped without cleanup().
    }
    EXPECT_EQ(all_zones_records(), before);
}

TEST_F(DnsRoute53, MissingZoneIsOneClearLine) {
    create_zone("example.com");
    dns::Solver solver(provider(), solver_options());
    auto presented = solver.present({{"www.nothere.test", "v"}});
    ASSERT_FALSE(presented.ok());
    const std::string& m = presented.error().message;
    EXPECT_NE(m.find("www.nothere.test"), std::string::npos) << m;
    EXPECT_NE(m.find("no hosted zone"), std::string::npos) << m;
    EXPECT_NE(m.find("nothere.test."), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

TEST_F(DnsRoute53, AccessDeniedIsOneClearLineAndNotRetried) {
    create_zone("example.com");
    fake_->control("POST", "/_fake/deny", {{"action", "ChangeResourceRecordSets"}});
    dns::Solver solver(provider(), solver_options());
    auto presented = solver.present({{"example.com", "v"}});
    ASSERT_FALSE(presented.ok());
    const std::string& m = presented.error().message;
    EXPECT_NE(m.find("ChangeResourceRecordSets"), std::string::npos) << m;
    EXPECT_NE(m.find("example.com"), std::string::npos) << m;
    EXPECT_NE(m.find("zone example.com."), std::string::npos) << m;
    EXPECT_NE(m.find("AccessDenied"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_EQ(presented.error().kind, core::ErrorKind::auth);
    // One try for present; cleanup then found nothing of ours to remove.
    EXPECT_EQ(calls("ChangeResourceRecordSets"), 1U);
}

TEST_F(DnsRoute53, UnreachableNameserverIsOneClearLine) {
    const std::string zone = create_zone("example.com");
    auto options = solver_options();
    const std::string dead = "127.0.0.1:" + std::to_string(dns_test::closed_port());
    options.propagation.nameservers = dead;
    options.propagation.query_timeout = 200ms;
    options.propagation.unreachable_grace = 500ms;
    dns::Solver solver(provider(), options);
    auto presented = solver.present({{"example.com", "v"}});
    ASSERT_FALSE(presented.ok());
    const std::string& m = presented.error().message;
    EXPECT_NE(m.find(dead), std::string::npos) << m;
    EXPECT_NE(m.find("zone example.com."), std::string::npos) << m;
    EXPECT_NE(m.find("_acme-challenge.example.com."), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    EXPECT_TRUE(txt(zone, "_acme-challenge.example.com.").empty());  // cleaned up
}

TEST_F(DnsRoute53, WaitsForInsyncAndPublicZoneWins) {
    const std::string pub = create_zone("example.com");
    const std::string priv = create_zone("example.com", true);
    fake_->control("POST", "/_fake/change-delay", {{"seconds", 0.5}});
    dns::Solver solver(provider(), solver_options());
    auto presented = solver.present({{"example.com", "pub"}});
    ASSERT_TRUE(presented.ok()) << presented.error().message;
    EXPECT_GE(calls("GetChange"), 2U);  // PENDING at first, then INSYNC
    EXPECT_EQ(txt(pub, "_acme-challenge.example.com."), std::vector<std::string>{"\"pub\""});
    EXPECT_TRUE(txt(priv, "_acme-challenge.example.com.").empty());
    ASSERT_TRUE(presented->cleanup().ok());

    auto s = settings();
    s.zone_visibility = dns::ZoneVisibility::prefer_private;
    auto p = provider(s);
    ASSERT_TRUE(p->present({{"_acme-challenge.example.com.", "priv"}}).ok());
    EXPECT_EQ(txt(priv, "_acme-challenge.example.com."), std::vector<std::string>{"\"priv\""});
    ASSERT_TRUE(p->cleanup({{"_acme-challenge.example.com.", "priv"}}).ok());

    s = settings();
    s.hosted_zone_id = priv;
    auto by_id = provider(s);
    ASSERT_TRUE(by_id->present({{"_acme-challenge.example.com.", "by-id"}}).ok());
    EXPECT_EQ(txt(priv, "_acme-challenge.example.com."), std::vector<std::string>{"\"by-id\""});
    ASSERT_TRUE(by_id->cleanup({{"_acme-challenge.example.com.", "by-id"}}).ok());
    EXPECT_TRUE(txt(priv, "_acme-challenge.example.com.").empty());
}

TEST_F(DnsRoute53, AssumeRoleIntoTheZoneAccount) {
    const std::string zone = create_zone("example.com");
    const std::string role = "arn:aws:iam::222222222222:role/dns-writer";
    fake_->control("POST", "/_fake/roles", {{"arn", role}, {"external_id", "ext-42"}});
    auto s = settings();
    s.assume_role_arn = role;
    s.external_id = "ext-42";
    auto p = provider(s);
    ASSERT_TRUE(p->present({{"_acme-challenge.example.com.", "assumed"}}).ok());
    EXPECT_GE(fake_->calls("AssumeRole").size(), 1U);
    EXPECT_EQ(txt(zone, "_acme-challenge.example.com."), std::vector<std::string>{"\"assumed\""});
    ASSERT_TRUE(p->cleanup({{"_acme-challenge.example.com.", "assumed"}}).ok());

    s.external_id = "wrong";
    auto denied = provider(s)->present({{"_acme-challenge.example.com.", "x"}});
    ASSERT_FALSE(denied.ok());
    EXPECT_NE(denied.error().message.find("AssumeRole"), std::string::npos) << denied.error().message;
}

TEST_F(DnsRoute53, BatchesSplitPastRoute53Limits) {
    const std::string zone = create_zone("example.com");
    // 101 names in one zone: more than 100 changes, so two change batches.
    std::vector<dns::TxtRecord> records;
    for (int i = 0; i < 101; ++i) {
        records.push_back({"_acme-challenge.h" + std::to_string(i) + ".example.com.", "v" + std::to_string(i)});
    }
    auto p = provider(settings(200.0));
    ASSERT_TRUE(p->present(records).ok());
    EXPECT_EQ(calls("ChangeResourceRecordSets"), 2U);
    EXPECT_EQ(txt(zone, "_acme-challenge.h100.example.com."), std::vector<std::string>{"\"v100\""});
    ASSERT_TRUE(p->cleanup(records).ok());
    EXPECT_TRUE(txt(zone, "_acme-challenge.h0.example.com.").empty());
}

TEST_F(DnsRoute53, DnsTestAgainstTheLocalService) {
    create_zone("example.com");
    auto report = dns::run_dns_test(provider(), solver_options(), "check.example.com");
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_EQ(report->fqdn, "_acme-challenge.check.example.com.");
    EXPECT_GE(report->total_time, report->present_time + report->propagation_time);
}
