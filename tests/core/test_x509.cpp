#include "core/x509.hpp"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/base64.hpp"
#include "core/env.hpp"
#include "tests/core/test_ca.hpp"

namespace {

using core::Certificate;
using core::SystemTime;
using std::chrono::hours;
using std::chrono::seconds;

const std::vector<std::string> k_names = {"example.test", "www.example.test", "*.example.test"};

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string shared_dir() { return core::env_or("SHARED_DIR"); }

// Certificate times have whole seconds.
SystemTime whole_seconds(SystemTime t) { return std::chrono::floor<seconds>(t); }

class X509Chain : public ::testing::Test {
protected:
    // One chain for the suite: RSA key generation is the slow part.
    static void SetUpTestSuite() { chain_ = std::make_unique<test_ca::Chain>(test_ca::make_chain(k_names, now_)); }
    static void TearDownTestSuite() { chain_.reset(); }
    static const test_ca::Chain& chain() { return *chain_; }
    static std::vector<Certificate> certs(const std::vector<const Certificate*>& list) {
        std::vector<Certificate> out;
        for (const Certificate* cert : list) {
            out.push_back(Certificate::from_der(cert->to_der()).value());
        }
        return out;
    }
    static inline const SystemTime now_ = std::chrono::floor<seconds>(std::chrono::system_clock::now());

private:
    static inline std::unique_ptr<test_ca::Chain> chain_;
};

TEST_F(X509Chain, LeafInfo) {
    const core::CertInfo info = chain().leaf.cert.info();
    EXPECT_EQ(info.dns_names, k_names);
    EXPECT_EQ(info.subject_cn, "example.test");
    EXPECT_EQ(info.issuer_cn, "renewer Test Intermediate");
    EXPECT_EQ(info.issuer, "CN=renewer Test Intermediate,O=renewer tests");
    EXPECT_EQ(info.not_before, whole_seconds(now_ - hours(1)));
    EXPECT_EQ(info.not_after, whole_seconds(now_ + hours(24 * 90)));
    EXPECT_EQ(info.serial_hex, "87654321");
    EXPECT_EQ(info.serial_der, std::string("\x00\x87\x65\x43\x21", 5));  // leading 00 kept (RFC 9773 §4.1)
    EXPECT_FALSE(info.is_ca);
    EXPECT_EQ(info.ski_key_id.size(), 20U);  // SHA-1 of the key (RFC 5280 §4.2.1.2 method 1)

    const core::CertInfo inter = chain().intermediate.cert.info();
    EXPECT_TRUE(inter.is_ca);
    EXPECT_EQ(info.aki_key_id, inter.ski_key_id);
    EXPECT_FALSE(info.aki_key_id.empty());
    EXPECT_TRUE(inter.dns_names.empty());
    EXPECT_EQ(inter.serial_hex, "c8");
    EXPECT_EQ(inter.serial_der, std::string("\x00\xc8", 2));
    EXPECT_EQ(inter.aki_key_id, chain().root.cert.info().ski_key_id);

    const core::CertInfo root = chain().root.cert.info();
    EXPECT_TRUE(root.is_ca);
    EXPECT_EQ(root.issuer, "CN=renewer Test Root,O=renewer tests");
    EXPECT_EQ(root.aki_key_id, root.ski_key_id);  // self-signed
    EXPECT_EQ(root.serial_hex, "64");
    EXPECT_EQ(root.serial_der, std::string("\x64", 1));
}

TEST_F(X509Chain, PemAndDerRoundTrip) {
    const Certificate& leaf = chain().leaf.cert;
    const std::string pem = leaf.to_pem();
    EXPECT_EQ(pem.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0U);
    auto from_pem = Certificate::from_pem(pem);
    ASSERT_TRUE(from_pem.ok()) << from_pem.error().message;
    EXPECT_EQ(from_pem->to_der(), leaf.to_der());
    auto from_der = Certificate::from_der(leaf.to_der());
    ASSERT_TRUE(from_der.ok()) << from_der.error().message;
    EXPECT_EQ(from_der->to_pem(), pem);

    // from_pem takes the first certificate of a chain.
    auto first = Certificate::from_pem(chain().fullchain_pem());
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->to_der(), leaf.to_der());
}

TEST(CertificateParse, BadInputIsCleanError) {
    auto pem = Certificate::from_pem("hello");
    ASSERT_FALSE(pem.ok());
    EXPECT_EQ(pem.error().kind, core::ErrorKind::invalid_input);
    auto der = Certificate::from_der("\x30\x03\x02\x01\x01");
    ASSERT_FALSE(der.ok());
    EXPECT_EQ(der.error().kind, core::ErrorKind::invalid_input);
    EXPECT_FALSE(Certificate::from_der("").ok());
}

TEST_F(X509Chain, DerWithTrailingBytesRejected) {
    auto cert = Certificate::from_der(chain().leaf.cert.to_der() + "x");
    ASSERT_FALSE(cert.ok());
    EXPECT_NE(cert.error().message.find("trailing"), std::string::npos) << cert.error().message;
}

TEST_F(X509Chain, MatchesKey) {
    EXPECT_TRUE(chain().leaf.cert.matches_key(chain().leaf.key));
    EXPECT_TRUE(chain().intermediate.cert.matches_key(chain().intermediate.key));
    EXPECT_FALSE(chain().leaf.cert.matches_key(chain().intermediate.key));  // same curve, other key
    EXPECT_FALSE(chain().leaf.cert.matches_key(chain().root.key));          // EC P-384 vs P-256
    auto other = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(chain().leaf.cert.matches_key(*other));  // same type, other key
}

TEST_F(X509Chain, ParsePemChain) {
    const std::string text = "leaf and chain follow\n" + chain().fullchain_pem() + "\ntrailing words\n";
    auto parsed = core::parse_pem_chain(text);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    ASSERT_EQ(parsed->size(), 2U);
    EXPECT_EQ((*parsed)[0].to_der(), chain().leaf.cert.to_der());
    EXPECT_EQ((*parsed)[1].to_der(), chain().intermediate.cert.to_der());
}

TEST_F(X509Chain, ParsePemChainErrors) {
    auto none = core::parse_pem_chain("no pem here");
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().kind, core::ErrorKind::invalid_input);
    EXPECT_FALSE(core::parse_pem_chain("").ok());

    const std::string bad_block = "-----BEGIN CERTIFICATE-----\nMIIBIjAN\n-----END CERTIFICATE-----\n";
    auto bad = core::parse_pem_chain(chain().leaf.cert.to_pem() + bad_block);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("block 2"), std::string::npos) << bad.error().message;

    const std::string broken_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    EXPECT_FALSE(core::parse_pem_chain(broken_base64).ok());

    // A private key in a chain file is an error that does not echo the key.
    const std::string key_pem = chain().leaf.key.to_pem();
    auto with_key = core::parse_pem_chain(chain().leaf.cert.to_pem() + key_pem);
    ASSERT_FALSE(with_key.ok());
    EXPECT_NE(with_key.error().message.find("'PRIVATE KEY'"), std::string::npos) << with_key.error().message;
    const std::string key_body = key_pem.substr(28, 20);
    EXPECT_EQ(with_key.error().message.find(key_body), std::string::npos);
}

TEST_F(X509Chain, VerifyChainSucceeds) {
    const auto leaf_and_inter = certs({&chain().leaf.cert, &chain().intermediate.cert});
    const auto roots = certs({&chain().root.cert});
    const core::Status status = core::verify_chain(leaf_and_inter, roots, now_);
    EXPECT_TRUE(status.ok()) << status.error().message;

    // A chain that also carries the root verifies too.
    const auto with_root = certs({&chain().leaf.cert, &chain().intermediate.cert, &chain().root.cert});
    EXPECT_TRUE(core::verify_chain(with_root, roots, now_).ok());
}

// An RSA intermediate: the leaf is signed sha256WithRSAEncryption, the
// intermediate ecdsa-with-SHA256 (by the P-384 root); both verify.
TEST(X509RsaChain, VerifiesAndReportsInfo) {
    const auto now = std::chrono::system_clock::now();
    const test_ca::Chain rsa = test_ca::make_chain({"rsa.test"}, now, "RSA Test Root", core::KeyType::rsa2048);
    std::vector<Certificate> chain;
    chain.push_back(Certificate::from_der(rsa.leaf.cert.to_der()).value());
    chain.push_back(Certificate::from_der(rsa.intermediate.cert.to_der()).value());
    std::vector<Certificate> roots;
    roots.push_back(Certificate::from_der(rsa.root.cert.to_der()).value());
    const core::Status status = core::verify_chain(chain, roots, now);
    EXPECT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(X509_get_signature_nid(rsa.leaf.cert.get()), NID_sha256WithRSAEncryption);
    EXPECT_TRUE(rsa.intermediate.cert.matches_key(rsa.intermediate.key));
    EXPECT_FALSE(rsa.intermediate.cert.matches_key(rsa.leaf.key));
    EXPECT_EQ(rsa.leaf.cert.info().aki_key_id, rsa.intermediate.cert.info().ski_key_id);
    EXPECT_EQ(rsa.leaf.cert.info().dns_names, std::vector<std::string>{"rsa.test"});
}

TEST_F(X509Chain, VerifyChainExpired) {
    const auto leaf_and_inter = certs({&chain().leaf.cert, &chain().intermediate.cert});
    const auto roots = certs({&chain().root.cert});
    const core::Status status = core::verify_chain(leaf_and_inter, roots, now_ + hours(24 * 91));
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, core::ErrorKind::crypto);
    EXPECT_NE(status.error().message.find("expired"), std::string::npos) << status.error().message;
    EXPECT_NE(status.error().message.find("CN=example.test"), std::string::npos) << status.error().message;

    const core::Status early = core::verify_chain(leaf_and_inter, roots, now_ - hours(2));
    ASSERT_FALSE(early.ok());
    EXPECT_NE(early.error().message.find("not yet valid"), std::string::npos) << early.error().message;
}

TEST_F(X509Chain, VerifyChainWrongRoot) {
    const test_ca::Chain other = test_ca::make_chain({"other.test"}, now_, "Other Root");
    const auto leaf_and_inter = certs({&chain().leaf.cert, &chain().intermediate.cert});
    const auto wrong_roots = certs({&other.root.cert});
    const core::Status status = core::verify_chain(leaf_and_inter, wrong_roots, now_);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("issuer"), std::string::npos) << status.error().message;
    EXPECT_NE(status.error().message.find("renewer Test Intermediate"), std::string::npos) << status.error().message;

    // A root with the same name but another key is no better.
    const test_ca::Chain same_name = test_ca::make_chain({"x.test"}, now_);
    EXPECT_FALSE(core::verify_chain(leaf_and_inter, certs({&same_name.root.cert}), now_).ok());

    // Any one of several roots is enough.
    EXPECT_TRUE(core::verify_chain(leaf_and_inter, certs({&other.root.cert, &chain().root.cert}), now_).ok());
}

TEST_F(X509Chain, VerifyChainMissingIntermediate) {
    const auto leaf_only = certs({&chain().leaf.cert});
    const auto roots = certs({&chain().root.cert});
    const core::Status status = core::verify_chain(leaf_only, roots, now_);
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("unable to get local issuer certificate"), std::string::npos)
        << status.error().message;
    EXPECT_NE(status.error().message.find("CN=example.test"), std::string::npos) << status.error().message;
}

TEST_F(X509Chain, VerifyChainRejectsEmptyInput) {
    const auto roots = certs({&chain().root.cert});
    EXPECT_EQ(core::verify_chain({}, roots, now_).error().kind, core::ErrorKind::invalid_input);
    const auto leaf_only = certs({&chain().leaf.cert});
    EXPECT_EQ(core::verify_chain(leaf_only, {}, now_).error().kind, core::ErrorKind::invalid_input);
}

// The CSR parses back, verifies its own signature, and carries every name.
void check_csr(core::KeyType type, const std::vector<std::string>& names, const std::string& expected_cn) {
    SCOPED_TRACE(core::to_string(type));
    auto key = core::PrivateKey::generate(type);
    ASSERT_TRUE(key.ok());
    auto der = core::make_csr_der(*key, names);
    ASSERT_TRUE(der.ok()) << der.error().message;

    const auto* p = reinterpret_cast<const unsigned char*>(der->data());
    std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der->size())),
                                                            &X509_REQ_free);
    ASSERT_TRUE(req);
    EXPECT_EQ(p, reinterpret_cast<const unsigned char*>(der->data()) + der->size());
    EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
    ASSERT_NE(pub, nullptr);
    EXPECT_EQ(EVP_PKEY_eq(pub, key->get()), 1);
    EXPECT_EQ(X509_REQ_verify(req.get(), pub), 1);
    const X509_ALGOR* sig_alg = nullptr;
    X509_REQ_get0_signature(req.get(), nullptr, &sig_alg);
    const ASN1_OBJECT* sig_oid = nullptr;
    X509_ALGOR_get0(&sig_oid, nullptr, nullptr, sig_alg);
    EXPECT_EQ(OBJ_obj2nid(sig_oid),
              type == core::KeyType::rsa2048 ? NID_sha256WithRSAEncryption : NID_ecdsa_with_SHA256);

    X509_NAME* subject = X509_REQ_get_subject_name(req.get());
    const int cn_index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (expected_cn.empty()) {
        EXPECT_LT(cn_index, 0);
    } else {
        ASSERT_GE(cn_index, 0);
        const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn_index));
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                              static_cast<std::size_t>(ASN1_STRING_length(cn))),
                  expected_cn);
    }

    std::unique_ptr<STACK_OF(X509_EXTENSION), void (*)(STACK_OF(X509_EXTENSION)*)> exts(
        X509_REQ_get_extensions(req.get()),
        [](STACK_OF(X509_EXTENSION) * s) { sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free); });
    ASSERT_TRUE(exts);
    std::unique_ptr<GENERAL_NAMES, decltype(&GENERAL_NAMES_free)> sans(
        static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts.get(), NID_subject_alt_name, nullptr, nullptr)),
        &GENERAL_NAMES_free);
    ASSERT_TRUE(sans);
    std::vector<std::string> got;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
        ASSERT_EQ(name->type, GEN_DNS);
        got.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                         static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
    }
    EXPECT_EQ(got, names);
}

TEST(Csr, EcAndRsaWithSans) {
    check_csr(core::KeyType::ec256, k_names, "example.test");
    check_csr(core::KeyType::rsa2048, k_names, "example.test");
    check_csr(core::KeyType::ec384, {"single.test"}, "single.test");
}

TEST(Csr, LongFirstNameHasNoCommonName) {
    const std::string long_name = std::string(60, 'a') + ".example.test";  // 73 > 64 characters
    check_csr(core::KeyType::ec256, {long_name, "short.test"}, "");
}

TEST(Csr, BadNamesRejected) {
    auto key = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(key.ok());
    auto none = core::make_csr_der(*key, {});
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().kind, core::ErrorKind::invalid_input);
    EXPECT_FALSE(core::make_csr_der(*key, {"ok.test", ""}).ok());
    EXPECT_FALSE(core::make_csr_der(*key, {"b\xc3\xbc"
                                           "cher.test"})
                     .ok());  // IDNs must come as A-labels
    EXPECT_FALSE(core::make_csr_der(*key, {"has space.test"}).ok());
}

// RFC 9773 Appendix A example certificate and the §4.1 values quoted in
// ../shared/testdata/rfc-vectors.md §3a.
TEST(Rfc9773, AppendixACertificate) {
    const std::string dir = shared_dir();
    ASSERT_FALSE(dir.empty()) << "SHARED_DIR is not set (CTest sets it)";
    const std::string pem = read_file(dir + "/testdata/rfc9773-appendix-a-cert.pem");
    ASSERT_FALSE(pem.empty());
    auto cert = Certificate::from_pem(pem);
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    const core::CertInfo info = cert->info();

    const std::string expected_aki_hex = "69885b6b87464041e1b37b847ba0ae2cde01c8d4";
    const std::string expected_serial_hex = "0087654321";
    // The expectations are the ones the vectors file states.
    const std::string vectors = read_file(dir + "/testdata/rfc-vectors.md");
    EXPECT_NE(vectors.find("| AKI keyIdentifier (hex) | `69885B6B87464041E1B37B847BA0AE2CDE01C8D4` |"),
              std::string::npos);
    EXPECT_NE(vectors.find("| serial DER content bytes (hex) | `0087654321`"), std::string::npos);
    EXPECT_NE(vectors.find("| unique identifier | `aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE` |"), std::string::npos);

    EXPECT_EQ(core::hex_encode(info.aki_key_id), expected_aki_hex);
    EXPECT_EQ(core::hex_encode(info.serial_der), expected_serial_hex);
    EXPECT_EQ(info.serial_hex, "87654321");
    EXPECT_EQ(core::base64url_encode(info.aki_key_id) + "." + core::base64url_encode(info.serial_der),
              "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    EXPECT_EQ(info.subject_cn, "example.com");
    EXPECT_EQ(info.issuer_cn, "Example CA");
    EXPECT_EQ(info.issuer, "CN=Example CA");
    EXPECT_TRUE(info.dns_names.empty());
    EXPECT_TRUE(info.ski_key_id.empty());
    EXPECT_FALSE(info.is_ca);
    // Year 1 is before what system_clock can hold: clamped, not wrapped.
    EXPECT_EQ(info.not_before, SystemTime::min());
    EXPECT_EQ(info.not_after, SystemTime::min());
}

TEST(Rfc3339Time, FormatAndParse) {
    const SystemTime t = std::chrono::system_clock::from_time_t(1795461471);
    EXPECT_EQ(core::format_time(t), "2026-11-23T19:17:51Z");
    EXPECT_EQ(core::format_time(t + std::chrono::milliseconds(999)), "2026-11-23T19:17:51Z");  // truncates
    EXPECT_EQ(core::format_time(SystemTime{}), "1970-01-01T00:00:00Z");

    auto parsed = core::parse_time("2026-11-23T19:17:51Z");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(*parsed, t);

    for (const char* same : {"2026-11-23T19:17:51+00:00", "2026-11-23t19:17:51z", "2026-11-23T21:17:51+02:00",
                             "2026-11-23T14:47:51-04:30", "2026-11-23T19:17:51-00:00"}) {
        auto p = core::parse_time(same);
        ASSERT_TRUE(p.ok()) << same << ": " << p.error().message;
        EXPECT_EQ(*p, t) << same;
    }

    auto frac = core::parse_time("2026-11-23T19:17:51.123456789Z");
    ASSERT_TRUE(frac.ok()) << frac.error().message;
    EXPECT_EQ(*frac - t, std::chrono::nanoseconds(123456789));
    auto short_frac = core::parse_time("2026-11-23T19:17:51.5+00:00");
    ASSERT_TRUE(short_frac.ok());
    EXPECT_EQ(*short_frac - t, std::chrono::milliseconds(500));
    auto long_frac = core::parse_time("2026-11-23T19:17:51.1234567891234Z");  // finer than ns: dropped
    ASSERT_TRUE(long_frac.ok());
    EXPECT_EQ(*long_frac - t, std::chrono::nanoseconds(123456789));

    // RFC 9773 §4.2 example window.
    auto start = core::parse_time("2025-01-02T04:00:00Z");
    auto end = core::parse_time("2025-01-03T04:00:00Z");
    ASSERT_TRUE(start.ok() && end.ok());
    EXPECT_EQ(*end - *start, hours(24));
    EXPECT_EQ(core::format_time(*start), "2025-01-02T04:00:00Z");

    // Leap year day and a leap second.
    EXPECT_TRUE(core::parse_time("2024-02-29T00:00:00Z").ok());
    auto leap = core::parse_time("2016-12-31T23:59:60Z");
    ASSERT_TRUE(leap.ok());
    EXPECT_EQ(core::format_time(*leap), "2016-12-31T23:59:59Z");
}

TEST(Rfc3339Time, RoundTripsNow) {
    const SystemTime now = std::chrono::floor<seconds>(std::chrono::system_clock::now());
    auto parsed = core::parse_time(core::format_time(now));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, now);
}

TEST(Rfc3339Time, RejectsMalformed) {
    for (const char* bad :
         {"", "2026-11-23", "2026-11-23T19:17:51", "2026-11-23 19:17:51Z", "2026-13-01T00:00:00Z",
          "2026-02-29T00:00:00Z", "2026-11-31T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T19:60:00Z",
          "2026-11-23T19:17:61Z", "2026-11-23T19:17:51.Z", "2026-11-23T19:17:51+0000", "2026-11-23T19:17:51+00",
          "2026-11-23T19:17:51Zjunk", "20261123T191751Z", "2026-11-23T19:17:51 Z", "+026-11-23T19:17:51Z",
          "2026-1-23T19:17:51Z"}) {
        auto parsed = core::parse_time(bad);
        EXPECT_FALSE(parsed.ok()) << "accepted '" << bad << "'";
        if (!parsed.ok()) {
            EXPECT_EQ(parsed.error().kind, core::ErrorKind::invalid_input);
        }
    }
    // Outside system_clock's range is an error, not a wrapped value.
    EXPECT_FALSE(core::parse_time("0001-01-01T00:00:00Z").ok());
    EXPECT_FALSE(core::parse_time("9999-12-31T23:59:59Z").ok());
}

}  // namespace
