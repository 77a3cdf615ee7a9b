// Boulder's behaviours (Let's Encrypt's production CA) that Pebble lacks, added
// by tests/harness/boulder_proxy.py in front of a real Pebble validating
// DNS-01 through pebble-challtestsrv. Each test makes the proxy answer the
// way Boulder does (wfe2/wfe.go, web/send_error.go) and checks the client
// copes: docs/troubleshooting.md lists the resulting log lines.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "acme/account.hpp"
#include "acme/ari.hpp"
#include "acme/obtain.hpp"
#include "core/log.hpp"
#include "core/x509.hpp"
#include "pebble_fixture.hpp"

namespace {

using std::chrono::seconds;
using Json = nlohmann::json;

using test::soon;

// Log lines of the code under test, read back as JSON lines.
class LogCapture {
public:
    LogCapture() : path_(dir_.file("log.jsonl")) {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        core::log::configure({core::log::Level::info, core::log::Format::json, fd_});
    }
    ~LogCapture() {
        core::log::configure({});
        ::close(fd_);
    }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    std::string text() const { return test::read_text(path_); }

private:
    test::TempDir dir_;
    std::string path_;
    int fd_ = -1;
};

class BoulderRules : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dns_ = new test::ChallTestSrv();
        dns_->start();
        pebble_ = new test::Pebble();
        test::PebbleOptions options;
        options.dns_port = dns_->dns_port();
        options.alternate_roots = 1;  // for the alternate-chain test
        pebble_->start(options);
        proxy_ = new test::BoulderProxy();
        proxy_->start(*pebble_);
        acme::TransportOptions transport_options;
        transport_options.directory_url = proxy_->directory();
        transport_options.http = proxy_->http_options();
        auto connected = acme::Transport::connect(transport_options, soon());
        if (!connected.ok()) {
            throw std::runtime_error(connected.error().message);
        }
        transport_ = connected->release();
    }
    static void TearDownTestSuite() {
        delete transport_;
        delete proxy_;
        delete pebble_;
        delete dns_;
    }
    void SetUp() override { proxy_->set_rules(Json::object()); }

    static acme::Account account() { return test::new_account(*transport_); }

    static core::Result<acme::ObtainedCertificate> obtain(const acme::Account& account, acme::ObtainRequest request) {
        test::ChallTestSolver solver(*dns_);
        return acme::obtain(*transport_, account, solver, request);
    }

    static acme::ObtainRequest request_for(const std::string& name) {
        acme::ObtainRequest request;
        request.names = {name};
        request.timeout = std::chrono::milliseconds{45'000};
        return request;
    }

    static test::ChallTestSrv* dns_;
    static test::Pebble* pebble_;
    static test::BoulderProxy* proxy_;
    static acme::Transport* transport_;
};
test::ChallTestSrv* BoulderRules::dns_ = nullptr;
test::Pebble* BoulderRules::pebble_ = nullptr;
test::BoulderProxy* BoulderRules::proxy_ = nullptr;
acme::Transport* BoulderRules::transport_ = nullptr;

// Seconds from the first request of `first` to the next request of `then`.
double gap_after(const Json& log, const std::string& first, const std::string& then) {
    double start = -1;
    for (const auto& entry : log) {
        if (start < 0 && entry.at("kind") == first) {
            start = entry.at("t").get<double>();
        } else if (start >= 0 && entry.at("kind") == then) {
            return entry.at("t").get<double>() - start;
        }
    }
    return -1;
}

// Boulder's orderMatchesReplacement: `replaces` naming a certificate of
// another account is 403 unauthorized; the order goes ahead without it.
TEST_F(BoulderRules, ReplacesOfAnotherAccountsCertificateIsRetriedWithout) {
    const acme::Account first = account();
    auto old = obtain(first, request_for("replaced.example.test"));
    ASSERT_TRUE(old.ok()) << old.error().message;
    auto id = acme::ari_certificate_id(old->leaf);
    ASSERT_TRUE(id.ok()) << id.error().message;

    const acme::Account second = account();
    proxy_->set_rules(Json::object());
    LogCapture log;
    acme::ObtainRequest request = request_for("replaced.example.test");
    request.replaces = *id;
    auto renewed = obtain(second, request);
    ASSERT_TRUE(renewed.ok()) << renewed.error().message;
    EXPECT_EQ(renewed->replaced, "");
    EXPECT_EQ(proxy_->count("newOrder"), 2);
    EXPECT_NE(log.text().find("retrying once without it"), std::string::npos) << log.text();
    EXPECT_NE(log.text().find("unauthorized"), std::string::npos) << log.text();
}

// A rateLimited newOrder carrying `replaces` is not retried without it: the
// limit applies to the plain order too (RFC 9773 section 5 only concerns
// refusals of the field).
TEST_F(BoulderRules, RateLimitedNewOrderWithReplacesIsNotRetriedWithout) {
    const acme::Account owner = account();
    auto old = obtain(owner, request_for("limited.example.test"));
    ASSERT_TRUE(old.ok()) << old.error().message;
    auto id = acme::ari_certificate_id(old->leaf);
    ASSERT_TRUE(id.ok());
    proxy_->set_rules({{"faults", {{{"kind", "newOrder"}, {"status", 429}, {"type", "rateLimited"}, {"count", 1}}}}});
    acme::ObtainRequest request = request_for("limited.example.test");
    request.replaces = *id;
    auto renewed = obtain(owner, request);
    ASSERT_FALSE(renewed.ok());
    EXPECT_NE(renewed.error().message.find("rateLimited"), std::string::npos) << renewed.error().message;
    EXPECT_EQ(proxy_->count("newOrder"), 1);
}

// RFC 8555 §7.2: concurrent callers of nonce() on an empty pool each fetch
// newNonce; each must get the nonce of its own response, not race the others
// for the shared pool ("newNonce answered without a Replay-Nonce header").
// Straight to Pebble: the faster the answers, the more often the race shows.
TEST_F(BoulderRules, ConcurrentNewNonceCallersEachGetTheirOwnNonce) {
    acme::TransportOptions options;
    options.directory_url = pebble_->directory();
    options.http = pebble_->http_options();
    auto direct = acme::Transport::connect(options, soon());
    ASSERT_TRUE(direct.ok()) << direct.error().message;
    constexpr int k_threads = 16;
    constexpr int k_each = 100;
    std::mutex mutex;
    int failures = 0;
    std::set<std::string> seen;
    std::string first_error;
    {
        std::vector<std::jthread> threads;
        for (int t = 0; t < k_threads; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < k_each; ++i) {
                    auto nonce = (*direct)->nonce(soon());
                    std::lock_guard lock(mutex);
                    if (!nonce.ok()) {
                        ++failures;
                        first_error = nonce.error().message;
                    } else {
                        seen.insert(*nonce);
                    }
                }
            });
        }
    }
    EXPECT_EQ(failures, 0) << first_error;
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(k_threads * k_each - failures));  // never one nonce twice
}

// A finalize whose answer is lost: the POST is sent again and Pebble (like
// Boulder) answers orderNotReady for an order already "processing"/"valid".
TEST_F(BoulderRules, LostFinalizeAnswerPollsTheOrder) {
    const acme::Account owner = account();
    proxy_->set_rules({{"faults", {{{"kind", "finalize"}, {"action", "drop"}, {"count", 1}}}}});
    auto cert = obtain(owner, request_for("lost-finalize.example.test"));
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    // The dropped answer (status 0), then the re-sent POST: curl's own
    // re-send on a dead keep-alive connection may come first and meet
    // badNonce (the same JWS twice); the last one meets orderNotReady.
    std::vector<int> statuses;
    for (const auto& entry : proxy_->log()) {
        if (entry.at("kind") == "finalize") {
            statuses.push_back(entry.at("status").get<int>());
        }
    }
    ASSERT_GE(statuses.size(), 2u) << proxy_->log().dump();
    EXPECT_EQ(statuses.front(), 0);
    EXPECT_EQ(statuses.back(), 403) << proxy_->log().dump();
    EXPECT_EQ(proxy_->count("certificate"), 1);
}

// Boulder adds Retry-After: 60 to 500 answers; the client waits it out
// instead of retrying at once (here 2 s to keep the test short).
TEST_F(BoulderRules, RetryAfterOnA500IsWaitedOut) {
    const acme::Account owner = account();
    proxy_->set_rules(
        {{"retry_after_on_500", 2},
         {"faults", {{{"kind", "newOrder"}, {"status", 500}, {"type", "serverInternal"}, {"count", 1}}}}});
    auto cert = obtain(owner, request_for("retry-500.example.test"));
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    const auto gaps = proxy_->gaps("newOrder");
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_GE(gaps[0], 1.9);
}

// A 503 without Retry-After is transient too: retried with backoff.
TEST_F(BoulderRules, ServiceUnavailableWithoutRetryAfterIsRetried) {
    const acme::Account owner = account();
    proxy_->set_rules(
        {{"faults", {{{"kind", "newOrder"}, {"status", 503}, {"type", "serverInternal"}, {"count", 1}}}}});
    auto cert = obtain(owner, request_for("retry-503.example.test"));
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    EXPECT_EQ(proxy_->count("newOrder"), 2);
}

// rateLimited with a Retry-After that fits: waited out, then the order goes ahead.
TEST_F(BoulderRules, RateLimitedWithAShortRetryAfterIsWaitedOut) {
    const acme::Account owner = account();
    proxy_->set_rules(
        {{"faults",
          {{{"kind", "newOrder"}, {"status", 429}, {"type", "rateLimited"}, {"retry_after", 1}, {"count", 1}}}}});
    auto cert = obtain(owner, request_for("limited-short.example.test"));
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    const auto gaps = proxy_->gaps("newOrder");
    ASSERT_EQ(gaps.size(), 1u);
    EXPECT_GE(gaps[0], 0.9);
}

// rateLimited with a Retry-After beyond what the run may wait: fails at once,
// saying when the CA will take the order.
TEST_F(BoulderRules, RateLimitedWithALongRetryAfterFailsAtOnceSayingWhen) {
    const acme::Account owner = account();
    proxy_->set_rules(
        {{"faults",
          {{{"kind", "newOrder"}, {"status", 429}, {"type", "rateLimited"}, {"retry_after", 3600}, {"count", 1}}}}});
    const auto start = std::chrono::steady_clock::now();
    auto cert = obtain(owner, request_for("limited-long.example.test"));
    ASSERT_FALSE(cert.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - start, seconds{5});
    EXPECT_NE(cert.error().message.find("Retry-After 3600 s"), std::string::npos) << cert.error().message;
    EXPECT_EQ(proxy_->count("newOrder"), 1);
}

// Boulder finalizes asynchronously: the finalize answer says "processing"
// with Retry-After; the first look at the order waits for it.
TEST_F(BoulderRules, ProcessingOrderRetryAfterIsHonoured) {
    const acme::Account owner = account();
    proxy_->set_rules({{"hold_processing", {{"count", 2}, {"retry_after", 2}}}});
    auto cert = obtain(owner, request_for("processing.example.test"));
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    const Json log = proxy_->log();
    EXPECT_GE(gap_after(log, "finalize", "order"), 1.9) << log.dump();
    const auto gaps = proxy_->gaps("order");
    ASSERT_GE(gaps.size(), 2u) << log.dump();
    EXPECT_GE(gaps.back(), 1.9) << log.dump();
}

// --preferred-chain whose alternate chain cannot be downloaded: the issued
// certificate is kept with the default chain and a warning.
TEST_F(BoulderRules, AlternateChainDownloadFailureKeepsTheDefaultChain) {
    const acme::Account owner = account();
    auto root1 = pebble_->root_pem(1);
    ASSERT_TRUE(root1.ok());
    auto parsed = core::parse_pem_chain(*root1);
    ASSERT_TRUE(parsed.ok());
    proxy_->set_rules(
        {{"faults", {{{"kind", "alternateChain"}, {"status", 404}, {"type", "malformed"}, {"count", 1}}}}});
    LogCapture log;
    acme::ObtainRequest request = request_for("alternate.example.test");
    request.preferred_chain = parsed->front().info().subject_cn;
    auto cert = obtain(owner, request);
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    auto root0 = pebble_->root_pem(0);
    ASSERT_TRUE(root0.ok());
    auto roots = core::parse_pem_chain(*root0);
    auto chain = core::parse_pem_chain(cert->fullchain_pem);
    ASSERT_TRUE(chain.ok() && roots.ok());
    EXPECT_TRUE(core::verify_chain(*chain, *roots, std::chrono::system_clock::now()).ok());
    EXPECT_EQ(proxy_->count("alternateChain"), 1);
    EXPECT_NE(log.text().find("alternate chain"), std::string::npos) << log.text();
}

}  // namespace
