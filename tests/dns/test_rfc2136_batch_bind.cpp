// RFC 2136 batches against Debian's bind9: the pipelined run presents every
// certificate's values at once (dns::Solver::present_sets), and the provider
// sends one UPDATE per zone while the change fits one DNS message over TCP,
// else as few as fit (docs/dns-providers.md#batches-and-clean-up). bind
// raises the zone's SOA serial once per UPDATE it applies, so the serial
// counts the UPDATEs.
#include <gtest/gtest.h>

#include <cstdint>

#include "dns/resolver.hpp"
#include "dns/rfc2136.hpp"
#include "dns/solver.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;

const std::string k_batch_bind_secret = dns_test::random_secret(32);

class DnsBindUpdateCount : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        std::string error;
        bind_ = dns_test::BindServer::start({{"batch.test", ""}}, {{"kb", "hmac-sha256", k_batch_bind_secret}}, &error);
        if (!bind_) {
            bind_error_ = error;
        }
    }
    static void TearDownTestSuite() { bind_.reset(); }

    void SetUp() override {
        if (!bind_) {
            FAIL() << "bind9 did not start: " << bind_error_;
        }
    }

    static dns::Solver solver() {
        dns::Rfc2136Settings s;
        s.nameserver = bind_->address();
        s.tsig_key = "kb";
        s.tsig_secret = k_batch_bind_secret;
        s.timeout = 10s;
        auto provider = dns::make_rfc2136(std::move(s));
        EXPECT_TRUE(provider.ok()) << provider.error().message;
        dns::SolverOptions o;
        o.propagation.resolver = bind_->address();
        o.propagation.nameservers = bind_->address();
        o.propagation.timeout = 30s;
        return dns::Solver(std::shared_ptr<dns::Provider>(std::move(*provider)), o);
    }

    static dns::wire::Message ask(const std::string& name, dns::wire::RrType type) {
        dns::ResolverOptions ro;
        ro.servers = bind_->address();
        ro.recursion = dns::Recursion::off;
        auto r = dns::Resolver::create(ro);
        EXPECT_TRUE(r.ok());
        auto m = r->query(name, type, core::Deadline::after(5s));
        EXPECT_TRUE(m.ok()) << m.error().message;
        return m ? *m : dns::wire::Message{};
    }

    // The zone's SOA serial: the first of the five 32-bit fields that end
    // the RDATA (RFC 1035 section 3.3.13), after two names that may be compressed.
    static std::uint32_t serial() {
        for (const auto& rr : ask("batch.test.", dns::wire::RrType::soa).answers) {
            if (rr.type == static_cast<std::uint16_t>(dns::wire::RrType::soa) && rr.rdata.size() >= 20) {
                std::uint32_t value = 0;
                for (std::size_t i = rr.rdata.size() - 20; i < rr.rdata.size() - 16; ++i) {
                    value = (value << 8) | static_cast<unsigned char>(rr.rdata[i]);
                }
                return value;
            }
        }
        ADD_FAILURE() << "no SOA for batch.test.";
        return 0;
    }

    static std::size_t txt_count(const std::string& fqdn) {
        std::size_t n = 0;
        for (const auto& rr : ask(fqdn, dns::wire::RrType::txt).answers) {
            n += rr.type == static_cast<std::uint16_t>(dns::wire::RrType::txt) ? 1 : 0;
        }
        return n;
    }

    // `count` one-name certificates under `label`.batch.test, 43-byte values as ACME's.
    static std::vector<std::vector<dns::Challenge>> certificates(int count, const std::string& label) {
        std::vector<std::vector<dns::Challenge>> sets;
        for (int i = 0; i < count; ++i) {
            std::string value = "v" + std::to_string(i) + "-" + std::string(43, 'x');
            value.resize(43);
            sets.push_back({{"c" + std::to_string(i) + "." + label + ".batch.test", value}});
        }
        return sets;
    }

    static std::unique_ptr<dns_test::BindServer> bind_;
    static std::string bind_error_;
};

std::unique_ptr<dns_test::BindServer> DnsBindUpdateCount::bind_;
std::string DnsBindUpdateCount::bind_error_;

}  // namespace

TEST_F(DnsBindUpdateCount, FiftyCertificatesTakeOneUpdateEachWay) {
    auto s = solver();
    const auto sets = certificates(50, "fifty");
    const std::uint32_t before = serial();
    auto presented = s.present_sets(sets);
    for (const auto& outcome : presented.outcomes) {
        ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    }
    EXPECT_EQ(serial() - before, 1U) << "UPDATEs for 50 values";
    EXPECT_EQ(txt_count("_acme-challenge.c0.fifty.batch.test."), 1U);
    EXPECT_EQ(txt_count("_acme-challenge.c49.fifty.batch.test."), 1U);
    ASSERT_TRUE(presented.presentation.cleanup().ok());
    EXPECT_EQ(serial() - before, 2U) << "UPDATEs for 50 values and their clean-up";
    EXPECT_EQ(txt_count("_acme-challenge.c0.fifty.batch.test."), 0U);
    EXPECT_EQ(txt_count("_acme-challenge.c49.fifty.batch.test."), 0U);
}

// 1,000 values of about 100 bytes each (owner name, type, class, TTL,
// RDLENGTH, 43 bytes of text) are about 100 KB: two messages of at most
// 65,535 bytes (RFC 1035 section 4.2.2), and every value lands.
TEST_F(DnsBindUpdateCount, ChangeTooBigForOneMessageIsSplitAndEveryValueLands) {
    auto s = solver();
    const auto sets = certificates(1000, "thousand");
    const std::uint32_t before = serial();
    auto presented = s.present_sets(sets);
    for (const auto& outcome : presented.outcomes) {
        ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    }
    EXPECT_EQ(serial() - before, 2U) << "UPDATEs for 1,000 values";
    for (int i = 0; i < 1000; i += 37) {
        EXPECT_EQ(txt_count("_acme-challenge.c" + std::to_string(i) + ".thousand.batch.test."), 1U) << i;
    }
    EXPECT_EQ(txt_count("_acme-challenge.c999.thousand.batch.test."), 1U);
    ASSERT_TRUE(presented.presentation.cleanup().ok());
    EXPECT_EQ(serial() - before, 4U) << "UPDATEs for 1,000 values and their clean-up";
    EXPECT_EQ(txt_count("_acme-challenge.c0.thousand.batch.test."), 0U);
    EXPECT_EQ(txt_count("_acme-challenge.c999.thousand.batch.test."), 0U);
}
