// JWS, JWK thumbprint (RFC 7638), EAB (RFC 8555 §7.3.4), key authorization
// and dns-01 TXT value (RFC 8555 §8.1, §8.4).
#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include "pebble_fixture.hpp"

#include "acme/jws.hpp"
#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/dns01.hpp"
#include "core/keys.hpp"

namespace {

using acme::Json;

Json vectors() {
    std::ifstream in(test::shared_dir() + "/testdata/rfc-vectors.json");
    return Json::parse(in);
}

std::string b64d(const std::string& text) {
    auto decoded = core::base64url_decode(text);
    EXPECT_TRUE(decoded.ok()) << text;
    return decoded.ok() ? *decoded : std::string{};
}

Json decode_part(const Json& jws, const char* part) { return Json::parse(b64d(jws[part].get<std::string>())); }

TEST(Jws, Rfc7638RsaThumbprint) {
    const Json v = vectors()["rfc7638_rsa_thumbprint"];
    core::PublicKeyParams params;
    params.kty = "RSA";
    params.n = b64d(v["jwk"]["n"]);
    params.e = b64d(v["jwk"]["e"]);
    EXPECT_EQ(acme::jwk(params).dump(), v["canonical_json"].get<std::string>());
    EXPECT_EQ(acme::jwk_thumbprint(params), v["thumbprint_b64url"].get<std::string>());
}

TEST(Jws, Rfc7515EcThumbprint) {
    const Json v = vectors()["rfc7515_a3_es256"]["jwk"];
    core::PublicKeyParams params;
    params.kty = "EC";
    params.crv = "P-256";
    params.x = b64d(v["x"]);
    params.y = b64d(v["y"]);
    EXPECT_EQ(acme::jwk(params).dump(), vectors()["rfc7515_a3_ec_thumbprint"]["canonical_json"].get<std::string>());
    EXPECT_EQ(acme::jwk_thumbprint(params), "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U");
}

TEST(Jws, KeyAuthorizationAndTxtValue) {
    for (const char* name : {"dns01_acme4j", "dns01_rfc_inputs"}) {
        const Json v = vectors()[name];
        const std::string ka =
            acme::key_authorization(v["token"].get<std::string>(), v["thumbprint_b64url"].get<std::string>());
        EXPECT_EQ(ka, v["key_authorization"].get<std::string>()) << name;
        EXPECT_EQ(core::dns01_txt_value(ka), v["txt_value"].get<std::string>()) << name;
    }
}

TEST(Jws, AcmeThumbprintFromJwk) {
    const Json v = vectors()["dns01_acme4j"];
    core::PublicKeyParams params;
    params.kty = "RSA";
    params.n = b64d(v["account_jwk"]["n"]);
    params.e = b64d(v["account_jwk"]["e"]);
    EXPECT_EQ(acme::jwk_thumbprint(params), v["thumbprint_b64url"].get<std::string>());
}

struct AlgCase {
    core::KeyType type;
    const char* alg;
    core::DigestAlg digest;
};

class JwsSign : public ::testing::TestWithParam<AlgCase> {};

TEST_P(JwsSign, JwkHeaderAndSignatureVerifies) {
    const AlgCase c = GetParam();
    auto key = core::PrivateKey::generate(c.type);
    ASSERT_TRUE(key.ok()) << key.error().message;
    auto jws = acme::sign_jws(acme::Signer{&*key, ""}, "nonce-1", "https://ca.test/new-acct", R"({"a":1})");
    ASSERT_TRUE(jws.ok()) << jws.error().message;
    ASSERT_EQ(jws->size(), 3u);
    const Json header = decode_part(*jws, "protected");
    EXPECT_EQ(header["alg"], c.alg);
    EXPECT_EQ(header["nonce"], "nonce-1");
    EXPECT_EQ(header["url"], "https://ca.test/new-acct");
    EXPECT_FALSE(header.contains("kid"));
    EXPECT_EQ(header["jwk"], acme::jwk(key->public_params()));
    EXPECT_EQ(b64d((*jws)["payload"]), R"({"a":1})");
    const std::string input = (*jws)["protected"].get<std::string>() + "." + (*jws)["payload"].get<std::string>();
    const std::string signature = b64d((*jws)["signature"]);
    EXPECT_TRUE(core::verify_signature(key->get(), c.digest, input, signature));
    EXPECT_FALSE(core::verify_signature(key->get(), c.digest, input + "x", signature));
    if (c.type == core::KeyType::ec256) {
        EXPECT_EQ(signature.size(), 64u);  // raw r||s (RFC 7518 §3.4), not DER
    }
    if (c.type == core::KeyType::ec384) {
        EXPECT_EQ(signature.size(), 96u);
    }
}

INSTANTIATE_TEST_SUITE_P(Algs, JwsSign,
                         ::testing::Values(AlgCase{core::KeyType::ec256, "ES256", core::DigestAlg::sha256},
                                           AlgCase{core::KeyType::ec384, "ES384", core::DigestAlg::sha384},
                                           AlgCase{core::KeyType::rsa2048, "RS256", core::DigestAlg::sha256}));

TEST(Jws, KidHeaderAndPostAsGet) {
    auto key = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(key.ok());
    auto jws = acme::sign_jws(acme::Signer{&*key, "https://ca.test/acct/1"}, "n", "https://ca.test/order/1", "");
    ASSERT_TRUE(jws.ok());
    const Json header = decode_part(*jws, "protected");
    EXPECT_EQ(header["kid"], "https://ca.test/acct/1");
    EXPECT_FALSE(header.contains("jwk"));
    EXPECT_EQ((*jws)["payload"], "");  // RFC 8555 §6.3
}

TEST(Jws, ExternalAccountBinding) {
    auto key = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(key.ok());
    const std::string mac_key_b64 = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
    auto eab = acme::eab_jws(key->public_params(), "kid-1", mac_key_b64, "https://ca.test/new-acct");
    ASSERT_TRUE(eab.ok()) << eab.error().message;
    const Json header = decode_part(*eab, "protected");
    EXPECT_EQ(header, (Json{{"alg", "HS256"}, {"kid", "kid-1"}, {"url", "https://ca.test/new-acct"}}));
    EXPECT_EQ(decode_part(*eab, "payload"), acme::jwk(key->public_params()));
    const std::string input = (*eab)["protected"].get<std::string>() + "." + (*eab)["payload"].get<std::string>();
    EXPECT_EQ(b64d((*eab)["signature"]), core::hmac(core::DigestAlg::sha256, b64d(mac_key_b64), input));

    auto bad = acme::eab_jws(key->public_params(), "kid-1", "not base64url!", "https://ca.test/new-acct");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("EAB HMAC key"), std::string::npos);
}

}  // namespace
