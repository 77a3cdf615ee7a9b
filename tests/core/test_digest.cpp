#include "core/digest.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/base64.hpp"

namespace {

using core::DigestAlg;
using core::hex_encode;

// FIPS 180-2 Appendix examples ("abc").
TEST(Digest, ShaVectors) {
    EXPECT_EQ(hex_encode(core::sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex_encode(core::sha384("abc")),
              "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
    EXPECT_EQ(hex_encode(core::digest(DigestAlg::sha512, "abc")),
              "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
              "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
    EXPECT_EQ(hex_encode(core::sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Digest, SizesAndNames) {
    EXPECT_EQ(core::sha256("x").size(), core::digest_size(DigestAlg::sha256));
    EXPECT_EQ(core::sha384("x").size(), core::digest_size(DigestAlg::sha384));
    EXPECT_EQ(core::digest(DigestAlg::sha512, "x").size(), core::digest_size(DigestAlg::sha512));
    EXPECT_STREQ(core::to_string(DigestAlg::sha256), "SHA256");
    EXPECT_STREQ(core::to_string(DigestAlg::sha384), "SHA384");
    EXPECT_STREQ(core::to_string(DigestAlg::sha512), "SHA512");
}

// Binary input with NUL bytes is hashed whole.
TEST(Digest, BinaryInput) {
    const std::string with_nul("a\0b", 3);
    EXPECT_NE(core::sha256(with_nul), core::sha256("a"));
    EXPECT_EQ(core::sha256(with_nul), core::sha256(std::string("a\0b", 3)));
}

// RFC 8555 §8.4 dns-01 value from the acme4j vector in
// ../shared/testdata/rfc-vectors.md §2c: base64url(SHA-256(key authorization)).
TEST(Digest, Dns01Vector) {
    const std::string key_authorization =
        "pNvmJivs0WCko2suV7fhe-59oFqyYx_yB7tx6kIMAyE.HnWjTDnyqlCrm6tZ-6wX-TrEXgRdeNu9G71gqxSO6o0";
    EXPECT_EQ(core::base64url_encode(core::sha256(key_authorization)), "rzMmotrIgsithyBYc0vgiLUEEKYx0WetQRgEF2JIozA");
}

// RFC 4231 §4.3 test case 2: key "Jefe".
TEST(Hmac, Rfc4231Case2) {
    const std::string key = "Jefe";
    const std::string data = "what do ya want for nothing?";
    EXPECT_EQ(hex_encode(core::hmac(DigestAlg::sha256, key, data)),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(hex_encode(core::hmac(DigestAlg::sha384, key, data)),
              "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec373632244"
              "5e8e2240ca5e69e2c78b3239ecfab21649");
    EXPECT_EQ(hex_encode(core::hmac(DigestAlg::sha512, key, data)),
              "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
              "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
}

// RFC 4231 §4.2 test case 1: 20 bytes of 0x0b, "Hi There".
TEST(Hmac, Rfc4231Case1) {
    EXPECT_EQ(hex_encode(core::hmac(DigestAlg::sha256, std::string(20, '\x0b'), "Hi There")),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

// A zero-length key is valid HMAC (RFC 2104 pads it to the block size).
TEST(Hmac, EmptyKeyAndData) {
    EXPECT_EQ(hex_encode(core::hmac(DigestAlg::sha256, "", "")),
              "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(RandomBytes, SizesAndDistinct) {
    EXPECT_TRUE(core::random_bytes(0).empty());
    EXPECT_EQ(core::random_bytes(1).size(), 1U);
    EXPECT_EQ(core::random_bytes(4096).size(), 4096U);
    std::set<std::string> seen;
    for (int i = 0; i < 16; ++i) {
        seen.insert(core::random_bytes(32));
    }
    EXPECT_EQ(seen.size(), 16U);
}

TEST(OpensslError, DrainsQueue) {
    ERR_clear_error();
    EXPECT_EQ(core::openssl_error(), "no OpenSSL error detail");
    // Provoke an error: fetching a digest that does not exist.
    EVP_MD* md = EVP_MD_fetch(nullptr, "NO-SUCH-DIGEST", nullptr);
    EXPECT_EQ(md, nullptr);
    const std::string message = core::openssl_error();
    EXPECT_NE(message, "no OpenSSL error detail");
    EXPECT_NE(message.find("error:"), std::string::npos) << message;
    EXPECT_EQ(ERR_peek_error(), 0UL);
}

}  // namespace
