// RFC 2136 provider, propagation checks and the solver against Debian's bind9
// (`named`) started on a free loopback port.
#include <gtest/gtest.h>

#include <algorithm>

#include "dns/challenge.hpp"
#include "dns/propagation.hpp"
#include "dns/resolver.hpp"
#include "dns/rfc2136.hpp"
#include "dns/solver.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;

const std::string k_secret256 = dns_test::random_secret(32);
const std::string k_secret512 = dns_test::random_secret(64);

class DnsBind : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        std::string error;
        server_ = dns_test::BindServer::start(
            {{"example.test",
              "_acme-challenge.keep IN TXT \"pre-existing \\\"value\\\"\" \"second string\"\n"
              "_acme-challenge.alias IN CNAME _acme-challenge.alias.delegated.test.\n"},
             {"delegated.test", ""}},
            {{"k256", "hmac-sha256", k_secret256}, {"k512", "hmac-sha512", k_secret512}}, &error);
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

    static dns::Rfc2136Settings settings(const std::string& key = "k256", const std::string& alg = "hmac-sha256",
                                         const std::string& secret = k_secret256) {
        dns::Rfc2136Settings s;
        s.nameserver = server_->address();
        s.tsig_key = key;
        s.tsig_algorithm = alg;
        s.tsig_secret = secret;
        s.timeout = 5s;
        return s;
    }

    static std::shared_ptr<dns::Provider> provider(dns::Rfc2136Settings s) {
        auto p = dns::make_rfc2136(std::move(s));
        EXPECT_TRUE(p.ok()) << p.error().message;
        return std::shared_ptr<dns::Provider>(std::move(*p));
    }

    static dns::SolverOptions solver_options() {
        dns::SolverOptions o;
        o.propagation.resolver = server_->address();
        o.propagation.nameservers = server_->address();
        o.propagation.timeout = 10s;
        return o;
    }

    // Raw TXT RDATA at `fqdn` as bind serves it, sorted (byte-for-byte comparisons).
    static std::vector<std::string> txt_rdata(const std::string& fqdn) {
        dns::ResolverOptions ro;
        ro.servers = server_->address();
        ro.recursion = dns::Recursion::off;
        auto r = dns::Resolver::create(ro);
        EXPECT_TRUE(r.ok());
        auto m = r->query(fqdn, dns::wire::RrType::txt, core::Deadline::after(5s));
        EXPECT_TRUE(m.ok()) << m.error().message;
        std::vector<std::string> out;
        for (const auto& rr : m->answers) {
            if (rr.type == static_cast<std::uint16_t>(dns::wire::RrType::txt)) {
                out.push_back(rr.rdata);
            }
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    static std::vector<std::string> txt_values(const std::string& fqdn) {
        std::vector<std::string> out;
        for (const auto& rdata : txt_rdata(fqdn)) {
            out.push_back(*dns::wire::decode_txt_rdata(rdata));
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    static std::unique_ptr<dns_test::BindServer> server_;
    static std::string setup_error_;
};

std::unique_ptr<dns_test::BindServer> DnsBind::server_;
std::string DnsBind::setup_error_;

}  // namespace

TEST_F(DnsBind, ApexAndWildcardShareOneRrsetSha256) {
    dns::Solver solver(provider(settings()), solver_options());
    auto presented = solver.present({{"example.test", "apex-value"}, {"*.example.test", "wildcard-value"}});
    ASSERT_TRUE(presented.ok()) << presented.error().message;
    ASSERT_EQ(presented->records().size(), 2U);
    EXPECT_EQ(txt_values("_acme-challenge.example.test."), (std::vector<std::string>{"apex-value", "wildcard-value"}));
    ASSERT_TRUE(presented->cleanup().ok());
    EXPECT_TRUE(txt_values("_acme-challenge.example.test.").empty());
}

TEST_F(DnsBind, HmacSha512AndLongValues) {
    auto p = provider(settings("k512", "hmac-sha512.", k_secret512));
    const std::string long_value(300, 'L');  // two character-strings on the wire
    const std::vector<dns::TxtRecord> records{{"_acme-challenge.long.example.test.", long_value}};
    ASSERT_TRUE(p->present(records).ok());
    EXPECT_EQ(txt_values("_acme-challenge.long.example.test."), std::vector<std::string>{long_value});
    dns::PropagationOptions po = solver_options().propagation;
    EXPECT_TRUE(dns::wait_for_propagation(records, po).ok());
    ASSERT_TRUE(p->cleanup(records).ok());
    EXPECT_TRUE(txt_values("_acme-challenge.long.example.test.").empty());
}

TEST_F(DnsBind, PreExistingValueSurvivesByteForByte) {
    const std::string fqdn = "_acme-challenge.keep.example.test.";
    const auto before = txt_rdata(fqdn);
    ASSERT_EQ(before.size(), 1U);
    dns::Solver solver(provider(settings()), solver_options());
    {
        auto presented = solver.present({{"keep.example.test", "ours-1"}, {"*.keep.example.test", "ours-2"}});
        ASSERT_TRUE(presented.ok()) << presented.error().message;
        const auto during = txt_rdata(fqdn);
        EXPECT_EQ(during.size(), 3U);
        EXPECT_NE(std::find(during.begin(), during.end(), before.front()), during.end());
        ASSERT_TRUE(presented->cleanup().ok());
    }
    EXPECT_EQ(txt_rdata(fqdn), before);
}

TEST_F(DnsBind, CleanupOnScopeExitAfterSimulatedAcmeFailure) {
    const std::string fqdn = "_acme-challenge.scope.example.test.";
    dns::Solver solver(provider(settings()), solver_options());
    {
        auto presented = solver.present({{"scope.example.test", "left-behind?"}});
        ASSERT_TRUE(presented.ok()) << presented.error().message;
        EXPECT_EQ(txt_values(fqdn).size(), 1U);
        // The ACME step "fails" here: the Presentation goes out of scope without cleanup().
    }
    EXPECT_TRUE(txt_values(fqdn).empty());
}

TEST_F(DnsBind, CnameDelegationToASecondZone) {
    dns::Solver solver(provider(settings()), solver_options());
    auto name = solver.record_name("alias.example.test");
    ASSERT_TRUE(name.ok()) << name.error().message;
    EXPECT_EQ(*name, "_acme-challenge.alias.delegated.test.");
    auto presented = solver.present({{"alias.example.test", "delegated-value"}});
    ASSERT_TRUE(presented.ok()) << presented.error().message;
    EXPECT_EQ(txt_values("_acme-challenge.alias.delegated.test."), std::vector<std::string>{"delegated-value"});
    ASSERT_TRUE(presented->cleanup().ok());
    EXPECT_TRUE(txt_values("_acme-challenge.alias.delegated.test.").empty());

    // With delegation off and no propagation check the record name is the
    // CNAME's own name (test_dns_safety_bind.cpp: with the check it fails at once).
    auto options = solver_options();
    options.cname = dns::CnameMode::ignore;
    options.propagation_mode = dns::PropagationMode::skip;
    dns::Solver direct(provider(settings()), options);
    EXPECT_EQ(*direct.record_name("alias.example.test"), "_acme-challenge.alias.example.test.");
}

TEST_F(DnsBind, BadTsigSecretIsAClearError) {
    auto p = provider(settings("k256", "hmac-sha256", dns_test::random_secret(32)));
    auto status = p->present({{"_acme-challenge.example.test.", "v"}});
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, core::ErrorKind::auth);
    const std::string& m = status.error().message;
    EXPECT_NE(m.find("BADSIG"), std::string::npos) << m;
    EXPECT_NE(m.find("example.test."), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

TEST_F(DnsBind, UnknownKeyIsAClearError) {
    auto p = provider(settings("nobody", "hmac-sha256", k_secret256));
    auto status = p->present({{"_acme-challenge.example.test.", "v"}});
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("BADKEY"), std::string::npos) << status.error().message;
}

TEST_F(DnsBind, UnsignedUpdateIsRefused) {
    auto s = settings();
    s.tsig_key.clear();
    s.tsig_secret.clear();
    auto status = provider(s)->present({{"_acme-challenge.example.test.", "v"}});
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("REFUSED"), std::string::npos) << status.error().message;
}

TEST_F(DnsBind, PropagationTimeoutNamesServerAndAnswer) {
    dns::PropagationOptions po = solver_options().propagation;
    // Long enough for bind's first answer on a loaded machine: the message
    // quotes what the server returned, so the wait must outlast one answer.
    po.timeout = 2s;
    auto status = dns::wait_for_propagation({{"_acme-challenge.keep.example.test.", "never-presented"}}, po);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, core::ErrorKind::timeout);
    const std::string& m = status.error().message;
    EXPECT_NE(m.find("_acme-challenge.keep.example.test."), std::string::npos) << m;
    EXPECT_NE(m.find("zone example.test."), std::string::npos) << m;
    EXPECT_NE(m.find(server_->address()), std::string::npos) << m;
    EXPECT_NE(m.find("pre-existing"), std::string::npos) << m;  // what it returned
    EXPECT_NE(m.find("never-presented"), std::string::npos) << m;
}

TEST_F(DnsBind, PropagationUsesTheNsSetWithoutOverride) {
    // Without the nameserver override the checker takes the zone's NS set and
    // resolves each name (ns1.example.test -> 127.0.0.1, port 53).
    dns::PropagationOptions po = solver_options().propagation;
    po.nameservers.clear();
    po.timeout = 5s;
    po.query_timeout = 200ms;
    po.unreachable_grace = 300ms;
    auto servers = dns::authoritative_servers("example.test.", po, core::Deadline::after(5s));
    ASSERT_TRUE(servers.ok()) << servers.error().message;
    ASSERT_EQ(servers->size(), 1U);
    EXPECT_EQ((*servers)[0].ns_name, "ns1.example.test.");
    EXPECT_EQ((*servers)[0].address, "127.0.0.1:53");
}

TEST_F(DnsBind, UnreachableNameserverIsNamed) {
    dns::PropagationOptions po = solver_options().propagation;
    const std::string dead = "127.0.0.1:" + std::to_string(dns_test::closed_port());
    po.nameservers = dead;
    po.query_timeout = 200ms;
    po.unreachable_grace = 500ms;
    po.timeout = 20s;
    const auto started = std::chrono::steady_clock::now();
    auto status = dns::wait_for_propagation({{"_acme-challenge.example.test.", "v"}}, po);
    ASSERT_FALSE(status.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    const std::string& m = status.error().message;
    EXPECT_NE(m.find(dead), std::string::npos) << m;
    EXPECT_NE(m.find("refuses connections"), std::string::npos) << m;
    EXPECT_NE(m.find("zone example.test."), std::string::npos) << m;

    // The RFC 2136 server itself unreachable.
    auto s = settings();
    s.nameserver = dead;
    s.timeout = 2s;
    auto present = provider(s)->present({{"_acme-challenge.example.test.", "v"}});
    ASSERT_FALSE(present.ok());
    EXPECT_NE(present.error().message.find(dead), std::string::npos) << present.error().message;
}

TEST_F(DnsBind, SolverCleansUpWhenPropagationFails) {
    // Propagation checked against a dead server: the present fails and the
    // records it added are gone again.
    auto options = solver_options();
    options.propagation.nameservers = "127.0.0.1:" + std::to_string(dns_test::closed_port());
    options.propagation.query_timeout = 200ms;
    options.propagation.unreachable_grace = 300ms;
    dns::Solver solver(provider(settings()), options);
    auto presented = solver.present({{"fail.example.test", "temporary"}});
    ASSERT_FALSE(presented.ok());
    EXPECT_NE(presented.error().message.find("fail.example.test"), std::string::npos) << presented.error().message;
    EXPECT_TRUE(txt_values("_acme-challenge.fail.example.test.").empty());
}

TEST_F(DnsBind, ConcurrentCertificatesInOneZone) {
    auto p = provider(settings());
    dns::Solver solver(p, solver_options());
    std::vector<std::thread> threads;
    std::vector<core::Status> results(4);
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            auto presented = solver.present({{"example.test", "cert-" + std::to_string(i)}});
            if (!presented.ok()) {
                results[static_cast<std::size_t>(i)] = presented.error();
                return;
            }
            results[static_cast<std::size_t>(i)] = presented->cleanup();
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& r : results) {
        EXPECT_TRUE(r.ok()) << r.error().message;
    }
    EXPECT_TRUE(txt_values("_acme-challenge.example.test.").empty());
}

TEST_F(DnsBind, DnsTestReportsTimings) {
    auto report = dns::run_dns_test(provider(settings()), solver_options(), "dnstest.example.test");
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_EQ(report->fqdn, "_acme-challenge.dnstest.example.test.");
    EXPECT_EQ(report->value.size(), 43U);
    EXPECT_GE(report->total_time, report->present_time);
    EXPECT_TRUE(txt_values(report->fqdn).empty());
}

// The pipelined run presents every certificate's values at once
// (dns::Solver::present_sets): 1,000 names (about 100 KB of changes) do not
// fit one DNS message over TCP (65,535 bytes), so the provider sends as few
// UPDATEs as fit, and the cleanup likewise.
TEST_F(DnsBind, PresentSetsOfAThousandCertificatesSplitsTheUpdate) {
    dns::Solver solver(provider(settings()), solver_options());
    std::vector<std::vector<dns::Challenge>> sets;
    for (int i = 0; i < 1000; ++i) {
        const std::string value = "v" + std::to_string(i) + std::string(40, 'x');
        sets.push_back({{"c" + std::to_string(i) + ".many.example.test", value}});
    }
    auto presented = solver.present_sets(sets);
    ASSERT_EQ(presented.outcomes.size(), sets.size());
    for (const auto& outcome : presented.outcomes) {
        ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    }
    EXPECT_EQ(txt_values("_acme-challenge.c0.many.example.test."), std::vector<std::string>{sets[0][0].value});
    EXPECT_EQ(txt_values("_acme-challenge.c999.many.example.test."), std::vector<std::string>{sets[999][0].value});
    ASSERT_TRUE(presented.presentation.cleanup().ok());
    EXPECT_TRUE(txt_values("_acme-challenge.c0.many.example.test.").empty());
    EXPECT_TRUE(txt_values("_acme-challenge.c999.many.example.test.").empty());
}
