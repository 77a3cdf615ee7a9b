#include "core/keys.hpp"

#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "core/base64.hpp"
#include "core/c_handle.hpp"

namespace core {
// Readable parameter names in test output ("ec256", not "4-byte object").
inline void PrintTo(KeyType type, std::ostream* os) { *os << to_string(type); }
}  // namespace core

namespace {

using core::DigestAlg;
using core::KeyType;
using core::PrivateKey;

using BioPtr = core::CHandle<BIO, BIO_free>;

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

// The traditional ("BEGIN EC PRIVATE KEY" / "BEGIN RSA PRIVATE KEY") PEM of `key`.
std::string traditional_pem(EVP_PKEY* key) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    EXPECT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr), 1);
    return bio_text(bio.get());
}

// Output of a shell command, empty when it fails.
std::string run(const std::string& command) {
    core::CHandle<FILE, pclose> pipe(popen(command.c_str(), "r"));
    if (!pipe) {
        return {};
    }
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0) {
        out.append(buf, n);
    }
    return out;
}

std::string bytes(std::string_view b64url) {
    auto decoded = core::base64url_decode(b64url);
    EXPECT_TRUE(decoded.ok()) << b64url;
    return decoded.ok() ? *decoded : std::string();
}

// An EC P-256 EVP_PKEY from JWK members (d optional), for the RFC vector.
core::EvpPkeyPtr ec_key_from_jwk(const std::string& x, const std::string& y, const std::string& d) {
    core::CHandle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free> bld(OSSL_PARAM_BLD_new());
    const std::string point = std::string(1, '\x04') + x + y;  // SEC 1 uncompressed point
    core::CHandle<BIGNUM, BN_free> priv;
    EXPECT_EQ(OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0), 1);
    EXPECT_EQ(OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()), 1);
    if (!d.empty()) {
        priv.reset(BN_bin2bn(reinterpret_cast<const unsigned char*>(d.data()), static_cast<int>(d.size()), nullptr));
        EXPECT_EQ(OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv.get()), 1);
    }
    core::CHandle<OSSL_PARAM, OSSL_PARAM_free> params(OSSL_PARAM_BLD_to_param(bld.get()));
    core::CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* raw = nullptr;
    EXPECT_EQ(EVP_PKEY_fromdata_init(ctx.get()), 1);
    EXPECT_EQ(EVP_PKEY_fromdata(ctx.get(), &raw, d.empty() ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR, params.get()), 1);
    return core::EvpPkeyPtr(raw);
}

bool is_ec(KeyType type) { return type == KeyType::ec256 || type == KeyType::ec384; }

std::size_t ec_field(KeyType type) { return type == KeyType::ec256 ? 32 : 48; }

std::size_t rsa_bytes(KeyType type) {
    switch (type) {
        case KeyType::rsa2048: return 256;
        case KeyType::rsa3072: return 384;
        case KeyType::rsa4096: return 512;
        default: return 0;
    }
}

TEST(KeyType, NamesRoundTrip) {
    for (const KeyType type : {KeyType::ec256, KeyType::ec384, KeyType::rsa2048, KeyType::rsa3072, KeyType::rsa4096}) {
        const auto parsed = core::parse_key_type(core::to_string(type));
        ASSERT_TRUE(parsed.has_value()) << core::to_string(type);
        EXPECT_EQ(*parsed, type);
    }
    EXPECT_FALSE(core::parse_key_type("ec521").has_value());
    EXPECT_FALSE(core::parse_key_type("").has_value());
    EXPECT_FALSE(core::parse_key_type("EC256").has_value());
}

// JWK members (RFC 7518 §6.2.1, §6.3.1) have fixed or minimal widths.
void check_public_params(const PrivateKey& key, KeyType type) {
    const core::PublicKeyParams params = key.public_params();
    if (is_ec(type)) {
        EXPECT_EQ(params.kty, "EC");
        EXPECT_EQ(params.crv, type == KeyType::ec256 ? "P-256" : "P-384");
        EXPECT_EQ(params.x.size(), ec_field(type));
        EXPECT_EQ(params.y.size(), ec_field(type));
        EXPECT_TRUE(params.n.empty());
        EXPECT_TRUE(params.e.empty());
    } else {
        EXPECT_EQ(params.kty, "RSA");
        EXPECT_TRUE(params.crv.empty());
        ASSERT_EQ(params.n.size(), rsa_bytes(type));
        EXPECT_NE(params.n[0], '\0');                         // minimal: no leading zero byte
        EXPECT_EQ(params.e, std::string("\x01\x00\x01", 3));  // 65537, "AQAB"
        EXPECT_EQ(core::base64url_encode(params.e), "AQAB");
    }
}

class EveryKeyType : public ::testing::TestWithParam<KeyType> {};

// Generation is the slow part for RSA, so one test per type covers it all.
TEST_P(EveryKeyType, GeneratePemRoundTripSignVerifyParams) {
    const KeyType type = GetParam();
    auto key = PrivateKey::generate(type);
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(key->type(), type);

    // PKCS#8 out, and back in to the same key.
    const std::string pem = key->to_pem();
    EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0U) << pem.substr(0, 40);
    auto reloaded = PrivateKey::from_pem(pem);
    ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
    EXPECT_EQ(reloaded->type(), type);
    EXPECT_EQ(EVP_PKEY_eq(reloaded->get(), key->get()), 1);
    EXPECT_EQ(reloaded->to_pem(), pem);

    const std::string pub = key->public_key_pem();
    EXPECT_EQ(pub.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0U);
    EXPECT_EQ(pub.find("PRIVATE"), std::string::npos);

    // Sign with one key, verify with the reloaded copy.
    const DigestAlg alg = type == KeyType::ec384 ? DigestAlg::sha384 : DigestAlg::sha256;
    const std::string data = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UifQ";
    auto sig = key->sign(alg, data);
    ASSERT_TRUE(sig.ok()) << sig.error().message;
    EXPECT_EQ(sig->size(), is_ec(type) ? 2 * ec_field(type) : rsa_bytes(type));
    EXPECT_TRUE(core::verify_signature(reloaded->get(), alg, data, *sig));
    EXPECT_FALSE(core::verify_signature(reloaded->get(), alg, data + "x", *sig));
    std::string tampered = *sig;
    tampered[tampered.size() / 2] = static_cast<char>(tampered[tampered.size() / 2] ^ 0x01);
    EXPECT_FALSE(core::verify_signature(reloaded->get(), alg, data, tampered));
    EXPECT_FALSE(core::verify_signature(reloaded->get(), alg, data, sig->substr(1)));
    EXPECT_FALSE(core::verify_signature(reloaded->get(), alg, data, ""));

    // Another key does not verify it (same type for EC; RSA keys of the
    // larger sizes are slow to make, so a 2048-bit one stands in).
    auto other = PrivateKey::generate(is_ec(type) ? type : KeyType::rsa2048);
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(core::verify_signature(other->get(), alg, data, *sig));

    check_public_params(*key, type);
    check_public_params(*reloaded, type);
    EXPECT_EQ(key->public_params().x, reloaded->public_params().x);
    EXPECT_EQ(key->public_params().n, reloaded->public_params().n);
}

INSTANTIATE_TEST_SUITE_P(PrivateKey, EveryKeyType,
                         ::testing::Values(KeyType::ec256, KeyType::ec384, KeyType::rsa2048, KeyType::rsa3072,
                                           KeyType::rsa4096),
                         [](const ::testing::TestParamInfo<KeyType>& param_info) {
                             return core::to_string(param_info.param);
                         });

// EC x and y keep leading zero bytes (RFC 7518 §6.2.1.2): about 1 key in 128
// has one; generate until one shows up so the padding path runs.
TEST(PrivateKey, EcCoordinatesKeepLeadingZeros) {
    bool seen_leading_zero = false;
    for (int i = 0; i < 2000 && !seen_leading_zero; ++i) {
        auto key = PrivateKey::generate(KeyType::ec256);
        ASSERT_TRUE(key.ok());
        const auto params = key->public_params();
        ASSERT_EQ(params.x.size(), 32U);
        ASSERT_EQ(params.y.size(), 32U);
        seen_leading_zero = params.x[0] == '\0' || params.y[0] == '\0';
    }
    EXPECT_TRUE(seen_leading_zero);
}

// EC signatures: r or s with leading zeros still come out fixed-width.
TEST(PrivateKey, EcSignatureAlwaysFixedWidth) {
    auto key = PrivateKey::generate(KeyType::ec256);
    ASSERT_TRUE(key.ok());
    for (int i = 0; i < 300; ++i) {
        const std::string data = "message " + std::to_string(i);
        auto sig = key->sign(DigestAlg::sha256, data);
        ASSERT_TRUE(sig.ok());
        ASSERT_EQ(sig->size(), 64U);
        ASSERT_TRUE(core::verify_signature(key->get(), DigestAlg::sha256, data, *sig));
    }
}

TEST(PrivateKey, ReadsTraditionalPemWrittenByApi) {
    for (const KeyType type : {KeyType::ec256, KeyType::ec384, KeyType::rsa2048}) {
        auto key = PrivateKey::generate(type);
        ASSERT_TRUE(key.ok());
        const std::string pem = traditional_pem(key->get());
        const char* label = is_ec(type) ? "-----BEGIN EC PRIVATE KEY-----" : "-----BEGIN RSA PRIVATE KEY-----";
        ASSERT_EQ(pem.rfind(label, 0), 0U) << pem.substr(0, 40);
        auto loaded = PrivateKey::from_pem(pem);
        ASSERT_TRUE(loaded.ok()) << loaded.error().message;
        EXPECT_EQ(loaded->type(), type);
        EXPECT_EQ(EVP_PKEY_eq(loaded->get(), key->get()), 1);
        // Written back out as PKCS#8.
        EXPECT_EQ(loaded->to_pem(), key->to_pem());
    }
}

// Keys made by the openssl CLI the way operators make them.
TEST(PrivateKey, ReadsTraditionalPemFromOpensslCli) {
    const std::string p256 = run("openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null");
    const std::string p384 = run("openssl ecparam -name secp384r1 -genkey -noout 2>/dev/null");
    const std::string rsa = run("openssl genrsa -traditional 2048 2>/dev/null");
    // Without -noout an "EC PARAMETERS" block comes first.
    const std::string with_params = run("openssl ecparam -name prime256v1 -genkey 2>/dev/null");
    if (p256.empty()) {
        GTEST_SKIP() << "openssl CLI not available";
    }
    ASSERT_NE(with_params.find("-----BEGIN EC PARAMETERS-----"), std::string::npos);
    ASSERT_NE(p256.find("-----BEGIN EC PRIVATE KEY-----"), std::string::npos) << p256.substr(0, 40);
    ASSERT_NE(rsa.find("-----BEGIN RSA PRIVATE KEY-----"), std::string::npos) << rsa.substr(0, 40);
    const std::vector<std::pair<std::string, KeyType>> cases = {
        {p256, KeyType::ec256}, {p384, KeyType::ec384}, {rsa, KeyType::rsa2048}, {with_params, KeyType::ec256}};
    for (const auto& [pem, type] : cases) {
        auto key = PrivateKey::from_pem(pem);
        ASSERT_TRUE(key.ok()) << key.error().message;
        EXPECT_EQ(key->type(), type);
        auto sig = key->sign(DigestAlg::sha256, "data");
        ASSERT_TRUE(sig.ok()) << sig.error().message;
        EXPECT_TRUE(core::verify_signature(key->get(), DigestAlg::sha256, "data", *sig));
        EXPECT_FALSE(key->public_params().kty.empty());
    }

    // A P-256 key written with explicit curve parameters loads as P-256 and
    // is written back with the named curve, as CAs require in a CSR.
    const std::string explicit_ec =
        run("openssl ecparam -name prime256v1 -genkey -noout -param_enc explicit 2>/dev/null");
    ASSERT_NE(explicit_ec.find("PRIVATE KEY"), std::string::npos);
    auto named = PrivateKey::from_pem(explicit_ec);
    ASSERT_TRUE(named.ok()) << named.error().message;
    EXPECT_EQ(named->type(), KeyType::ec256);
    char encoding[32] = {};
    ASSERT_EQ(
        EVP_PKEY_get_utf8_string_param(named->get(), OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof encoding, nullptr),
        1);
    EXPECT_STREQ(encoding, OSSL_PKEY_EC_ENCODING_GROUP);
    // SubjectPublicKeyInfo with a named P-256 curve is 91 DER bytes, about
    // 124 characters of base64; explicit parameters make it over twice that.
    EXPECT_LT(named->public_key_pem().size(), 200U) << named->public_key_pem();
    auto again = PrivateKey::from_pem(named->to_pem());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(EVP_PKEY_eq(again->get(), named->get()), 1);
}

// Other PEM blocks before the key (a public key, a certificate) are skipped.
TEST(PrivateKey, SkipsOtherPemBlocks) {
    auto key = PrivateKey::generate(KeyType::ec256);
    ASSERT_TRUE(key.ok());
    auto loaded = PrivateKey::from_pem(key->public_key_pem() + key->to_pem());
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_EQ(EVP_PKEY_eq(loaded->get(), key->get()), 1);
}

TEST(PrivateKey, GarbagePemIsCleanError) {
    const std::string secretish = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg";
    const std::vector<std::string> bad = {
        "",
        "not a key",
        "-----BEGIN PRIVATE KEY-----\n" + secretish + "\n-----END PRIVATE KEY-----\n",  // truncated DER
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    };
    for (const std::string& pem : bad) {
        auto key = PrivateKey::from_pem(pem);
        ASSERT_FALSE(key.ok()) << pem;
        EXPECT_EQ(key.error().kind, core::ErrorKind::invalid_input);
        EXPECT_NE(key.error().message.find("private key"), std::string::npos) << key.error().message;
        // Never echo key material back.
        EXPECT_EQ(key.error().message.find(secretish.substr(0, 16)), std::string::npos) << key.error().message;
    }
}

TEST(PrivateKey, EncryptedPemRefusedWithoutPrompt) {
    auto key = PrivateKey::generate(KeyType::ec256);
    ASSERT_TRUE(key.ok());
    BioPtr bio(BIO_new(BIO_s_mem()));
    char pass[] = "secret";
    ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key->get(), EVP_aes_256_cbc(), pass, 6, nullptr, nullptr), 1);
    auto loaded = PrivateKey::from_pem(bio_text(bio.get()));
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(loaded.error().message.find("encrypted"), std::string::npos) << loaded.error().message;
}

TEST(PrivateKey, UnsupportedKeysRejected) {
    // P-521 and RSA-1024 load in OpenSSL but are not key types we issue with.
    core::EvpPkeyPtr p521(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-521"));
    ASSERT_TRUE(p521);
    auto loaded = PrivateKey::from_pem(traditional_pem(p521.get()));
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(loaded.error().message.find("curve"), std::string::npos) << loaded.error().message;

    core::EvpPkeyPtr rsa1024(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{1024}));
    ASSERT_TRUE(rsa1024);
    loaded = PrivateKey::from_pem(traditional_pem(rsa1024.get()));
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.error().message.find("1024"), std::string::npos) << loaded.error().message;

    core::EvpPkeyPtr ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    ASSERT_TRUE(ed25519);
    BioPtr bio(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), ed25519.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
    loaded = PrivateKey::from_pem(bio_text(bio.get()));
    ASSERT_FALSE(loaded.ok());
    EXPECT_NE(loaded.error().message.find("unsupported key algorithm"), std::string::npos) << loaded.error().message;
}

// RFC 7515 Appendix A.3 (ES256), values from ../shared/testdata/rfc-vectors.md §4.
constexpr const char* k_a3_x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
constexpr const char* k_a3_y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
constexpr const char* k_a3_d = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
constexpr const char* k_a3_signing_input =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
constexpr const char* k_a3_signature =
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

TEST(PrivateKey, Rfc7515A3SignatureVerifiesAsRawRS) {
    const core::EvpPkeyPtr pub = ec_key_from_jwk(bytes(k_a3_x), bytes(k_a3_y), "");
    ASSERT_TRUE(pub);
    const std::string sig = bytes(k_a3_signature);
    ASSERT_EQ(sig.size(), 64U);
    EXPECT_TRUE(core::verify_signature(pub.get(), DigestAlg::sha256, k_a3_signing_input, sig));
    std::string changed_input = k_a3_signing_input;
    changed_input[5] = 'X';
    EXPECT_FALSE(core::verify_signature(pub.get(), DigestAlg::sha256, changed_input, sig));
    std::string changed_sig = sig;
    changed_sig[63] = static_cast<char>(changed_sig[63] ^ 0x80);
    EXPECT_FALSE(core::verify_signature(pub.get(), DigestAlg::sha256, k_a3_signing_input, changed_sig));
}

TEST(PrivateKey, Rfc7515A3KeySignsAndExportsJwkParams) {
    const core::EvpPkeyPtr pair = ec_key_from_jwk(bytes(k_a3_x), bytes(k_a3_y), bytes(k_a3_d));
    ASSERT_TRUE(pair);
    BioPtr bio(BIO_new(BIO_s_mem()));
    ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), pair.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
    auto key = PrivateKey::from_pem(bio_text(bio.get()));
    ASSERT_TRUE(key.ok()) << key.error().message;
    EXPECT_EQ(key->type(), KeyType::ec256);
    const auto params = key->public_params();
    EXPECT_EQ(core::base64url_encode(params.x), k_a3_x);
    EXPECT_EQ(core::base64url_encode(params.y), k_a3_y);
    auto sig = key->sign(DigestAlg::sha256, k_a3_signing_input);
    ASSERT_TRUE(sig.ok());
    EXPECT_EQ(sig->size(), 64U);
    EXPECT_TRUE(core::verify_signature(key->get(), DigestAlg::sha256, k_a3_signing_input, *sig));
    EXPECT_TRUE(core::verify_signature(key->get(), DigestAlg::sha256, k_a3_signing_input, bytes(k_a3_signature)));
}

}  // namespace
