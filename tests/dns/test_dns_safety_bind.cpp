// What the DNS layer must never do to a zone or an operator, against Debian's
// bind9: journal values it never sent (a refused or impossible present),
// rewrite the TTL of someone else's values, wait out the whole propagation
// timeout for a mistake it can see at once (a CNAME with delegation off, a
// port that refuses), or call a SIGTERM "no answer before the deadline".
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "core/retry.hpp"
#include "dns/journal.hpp"
#include "dns/propagation.hpp"
#include "dns/resolver.hpp"
#include "dns/rfc2136.hpp"
#include "dns/solver.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string k_secret = dns_test::random_secret(32);

class DnsSafety : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        std::string error;
        server_ = dns_test::BindServer::start({{"safe.test",
                                                "_acme-challenge.theirs 300 IN TXT \"their value\"\n"
                                                "_acme-challenge.alias IN CNAME target.elsewhere.test.\n"}},
                                              {{"k256", "hmac-sha256", k_secret}}, &error);
        if (!server_) {
            setup_error_ = error;
        }
    }
    static void TearDownTestSuite() { server_.reset(); }

    void SetUp() override {
        if (!server_) {
            FAIL() << "bind9 did not start: " << setup_error_;
        }
    }

    static std::shared_ptr<dns::Provider> provider(const std::string& secret = k_secret) {
        dns::Rfc2136Settings s;
        s.nameserver = server_->address();
        s.tsig_key = "k256";
        s.tsig_algorithm = "hmac-sha256";
        s.tsig_secret = secret;
        s.timeout = 5s;
        auto p = dns::make_rfc2136(std::move(s));
        EXPECT_TRUE(p.ok()) << p.error().message;
        return std::shared_ptr<dns::Provider>(std::move(*p));
    }

    static dns::SolverOptions options() {
        dns::SolverOptions o;
        o.propagation.resolver = server_->address();
        o.propagation.nameservers = server_->address();
        o.propagation.timeout = 30s;
        return o;
    }

    // (TTL, value) of each TXT record at `fqdn` as bind serves it.
    static std::vector<std::pair<std::uint32_t, std::string>> txt(const std::string& fqdn) {
        dns::ResolverOptions ro;
        ro.servers = server_->address();
        ro.recursion = dns::Recursion::off;
        auto r = dns::Resolver::create(ro);
        EXPECT_TRUE(r.ok());
        auto m = r->query(fqdn, dns::wire::RrType::txt, core::Deadline::after(5s));
        EXPECT_TRUE(m.ok()) << m.error().message;
        std::vector<std::pair<std::uint32_t, std::string>> out;
        for (const auto& rr : m->answers) {
            if (rr.type == static_cast<std::uint16_t>(dns::wire::RrType::txt)) {
                out.emplace_back(rr.ttl, *dns::wire::decode_txt_rdata(rr.rdata));
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    static std::size_t entries(const std::string& dir) {
        std::size_t n = 0;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(dir, ec)) {
            n += e.path().extension() == ".json" ? 1 : 0;
        }
        return n;
    }

    static std::unique_ptr<dns_test::BindServer> server_;
    static std::string setup_error_;
};

std::unique_ptr<dns_test::BindServer> DnsSafety::server_;
std::string DnsSafety::setup_error_;

}  // namespace

// TSIG BADSIG: bind refused the whole update (RFC 2136 section 3.7), so the
// journal must not claim values a later run would "remove".
TEST_F(DnsSafety, RefusedUpdateLeavesNoJournalEntry) {
    dns_test::TempDir tmp;
    const std::string dir = tmp.file("journal");
    dns::Solver solver(provider(dns_test::random_secret(32)), options());
    solver.set_journal(std::make_shared<dns::Journal>(dir), "rfc2136|k256");
    auto presented = solver.present({{"safe.test", "v1"}, {"*.safe.test", "v2"}});
    ASSERT_FALSE(presented.ok());
    EXPECT_NE(presented.error().message.find("BADSIG"), std::string::npos) << presented.error().message;
    EXPECT_EQ(entries(dir), 0U) << "a refused update was journalled";
}

// No zone found: nothing was sent, so nothing is journalled (a later run
// would otherwise warn about it forever).
TEST_F(DnsSafety, PresentWithoutAZoneLeavesNoJournalEntry) {
    dns_test::TempDir tmp;
    const std::string dir = tmp.file("journal");
    auto o = options();
    o.propagation_mode = dns::PropagationMode::skip;
    o.cname = dns::CnameMode::ignore;
    dns::Solver solver(provider(), o);
    solver.set_journal(std::make_shared<dns::Journal>(dir), "rfc2136|k256");
    auto presented = solver.present({{"www.not-served.test", "v"}});
    ASSERT_FALSE(presented.ok());
    EXPECT_EQ(entries(dir), 0U) << "a present that sent nothing was journalled";
}

// The clean-up reports what it really deleted: values already gone count 0.
TEST_F(DnsSafety, CleanupCountsOnlyValuesThatWereThere) {
    auto p = provider();
    const std::vector<dns::TxtRecord> records{{"_acme-challenge.count.safe.test.", "a"},
                                              {"_acme-challenge.count.safe.test.", "b"}};
    ASSERT_TRUE(p->present({records.front()}).ok());
    auto removed = p->cleanup(records);
    ASSERT_TRUE(removed.ok()) << removed.error().message;
    EXPECT_EQ(*removed, 1U);
    removed = p->cleanup(records);
    ASSERT_TRUE(removed.ok());
    EXPECT_EQ(*removed, 0U);
}

// An RRset has one TTL (RFC 2181 section 5.2): our add must not rewrite the
// TTL of a value someone else put there (300) to ours (60).
TEST_F(DnsSafety, AddKeepsTheTtlOfTheExistingSet) {
    const std::string fqdn = "_acme-challenge.theirs.safe.test.";
    auto p = provider();
    ASSERT_TRUE(p->present({{fqdn, "ours"}}).ok());
    const auto during = txt(fqdn);
    ASSERT_EQ(during.size(), 2U);
    EXPECT_EQ(during[0], (std::pair<std::uint32_t, std::string>{300, "ours"}));
    EXPECT_EQ(during[1], (std::pair<std::uint32_t, std::string>{300, "their value"}));
    ASSERT_TRUE(p->cleanup({{fqdn, "ours"}}).ok());
    EXPECT_EQ(txt(fqdn), (std::vector<std::pair<std::uint32_t, std::string>>{{300, "their value"}}));
    // A new set gets our TTL.
    ASSERT_TRUE(p->present({{"_acme-challenge.fresh.safe.test.", "v"}}).ok());
    EXPECT_EQ(txt("_acme-challenge.fresh.safe.test.").front().first, 60U);
    ASSERT_TRUE(p->cleanup({{"_acme-challenge.fresh.safe.test.", "v"}}).ok());
}

// Delegation off while _acme-challenge is a CNAME: the server ignores the TXT
// add (RFC 2136 section 3.4.1.2); fail at once naming the flag.
TEST_F(DnsSafety, CnameWithDelegationOffFailsAtOnce) {
    auto o = options();
    o.cname = dns::CnameMode::ignore;
    dns::Solver solver(provider(), o);
    const auto started = std::chrono::steady_clock::now();
    auto presented = solver.present({{"alias.safe.test", "v"}});
    ASSERT_FALSE(presented.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    const std::string& m = presented.error().message;
    EXPECT_NE(m.find("_acme-challenge.alias.safe.test. is a CNAME to target.elsewhere.test."), std::string::npos) << m;
    EXPECT_NE(m.find("--no-cname-follow"), std::string::npos) << m;
}

// A port that refuses (ICMP port unreachable) is not worth waiting for: fail
// at once, well before the grace period, naming the server and the setting.
TEST_F(DnsSafety, RefusingNameserverFailsAtOnce) {
    dns::PropagationOptions po = options().propagation;
    const std::string dead = "127.0.0.1:" + std::to_string(dns_test::closed_port());
    po.nameservers = dead;
    po.unreachable_grace = 20s;
    const auto started = std::chrono::steady_clock::now();
    auto status = dns::wait_for_propagation({{"_acme-challenge.safe.test.", "v"}}, po);
    ASSERT_FALSE(status.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    const std::string& m = status.error().message;
    EXPECT_NE(m.find(dead + " for zone safe.test. refuses connections"), std::string::npos) << m;
    EXPECT_NE(m.find("--dns-nameservers"), std::string::npos) << m;
}

// SIGTERM (core::cancel) during the wait is "stopped", not a timeout.
TEST_F(DnsSafety, SigtermDuringTheWaitIsStopped) {
    dns::PropagationOptions po = options().propagation;  // bind serves no such value: it keeps waiting
    std::thread canceller([] {
        std::this_thread::sleep_for(700ms);
        core::cancel();
    });
    auto status = dns::wait_for_propagation({{"_acme-challenge.safe.test.", "never"}}, po);
    canceller.join();
    core::reset_cancel();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, core::ErrorKind::cancelled);
    const std::string& m = status.error().message;
    EXPECT_NE(m.find("stopped (SIGTERM)"), std::string::npos) << m;
    EXPECT_EQ(m.find("deadline"), std::string::npos) << m;
}
