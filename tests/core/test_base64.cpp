#include "core/base64.hpp"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

using core::base64_decode;
using core::base64_encode;
using core::base64url_decode;
using core::base64url_encode;

// RFC 4648 §10 test vectors.
const std::vector<std::pair<std::string, std::string>> k_rfc4648_vectors = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

std::string strip_padding(std::string s) {
    while (!s.empty() && s.back() == '=') {
        s.pop_back();
    }
    return s;
}

TEST(Base64, Rfc4648VectorsEncode) {
    for (const auto& [plain, encoded] : k_rfc4648_vectors) {
        EXPECT_EQ(base64_encode(plain), encoded) << "input '" << plain << "'";
    }
}

TEST(Base64, Rfc4648VectorsDecodeWithAndWithoutPadding) {
    for (const auto& [plain, encoded] : k_rfc4648_vectors) {
        auto padded = base64_decode(encoded);
        ASSERT_TRUE(padded.ok()) << encoded << ": " << padded.error().message;
        EXPECT_EQ(*padded, plain);
        auto bare = base64_decode(strip_padding(encoded));
        ASSERT_TRUE(bare.ok()) << encoded << ": " << bare.error().message;
        EXPECT_EQ(*bare, plain);
    }
}

// base64url is RFC 4648 §5 with the padding removed (RFC 7515 §2).
TEST(Base64Url, Rfc4648VectorsWithoutPadding) {
    for (const auto& [plain, encoded] : k_rfc4648_vectors) {
        EXPECT_EQ(base64url_encode(plain), strip_padding(encoded));
        auto decoded = base64url_decode(strip_padding(encoded));
        ASSERT_TRUE(decoded.ok()) << decoded.error().message;
        EXPECT_EQ(*decoded, plain);
        auto padded = base64url_decode(encoded);
        ASSERT_TRUE(padded.ok()) << padded.error().message;
        EXPECT_EQ(*padded, plain);
    }
}

TEST(Base64Url, UsesUrlAlphabet) {
    const std::string bytes("\xfb\xff\xbf", 3);
    EXPECT_EQ(base64_encode(bytes), "+/+/");
    EXPECT_EQ(base64url_encode(bytes), "-_-_");
    EXPECT_EQ(base64url_encode(std::string("\xfb\xff", 2)), "-_8");
    EXPECT_EQ(base64_encode(std::string("\xfb\xff", 2)), "+/8=");
    auto decoded = base64url_decode("-_-_");
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(*decoded, bytes);
}

// RFC 7515 Appendix A.3 protected header, from ../shared/testdata/rfc-vectors.md §4.
TEST(Base64Url, JwsHeaderVector) { EXPECT_EQ(base64url_encode(R"({"alg":"ES256"})"), "eyJhbGciOiJFUzI1NiJ9"); }

TEST(Base64Url, RoundTripsEveryByteValue) {
    std::string all;
    for (int i = 0; i < 256; ++i) {
        all += static_cast<char>(i);
    }
    for (std::size_t len = 0; len <= all.size(); len += 37) {
        const std::string part = all.substr(0, len);
        auto url = base64url_decode(base64url_encode(part));
        ASSERT_TRUE(url.ok());
        EXPECT_EQ(*url, part);
        auto std_b64 = base64_decode(base64_encode(part));
        ASSERT_TRUE(std_b64.ok());
        EXPECT_EQ(*std_b64, part);
    }
}

TEST(Base64, RejectsMalformedInput) {
    const std::vector<std::string> bad_std = {
        "Zg=",       // padding that does not complete a quantum
        "Z",         // one character cannot encode a byte
        "Zg===",     // too much padding
        "Z=g=",      // padding in the middle
        "Zm9v\n",    // whitespace
        "Zm9-",      // base64url character in base64
        "Zh==",      // non-zero pad bits (RFC 4648 §3.5)
        "Zm9vYmF=",  // non-zero pad bits
    };
    for (const std::string& text : bad_std) {
        auto decoded = base64_decode(text);
        EXPECT_FALSE(decoded.ok()) << "accepted '" << text << "'";
        if (!decoded.ok()) {
            EXPECT_EQ(decoded.error().kind, core::ErrorKind::invalid_input);
            EXPECT_NE(decoded.error().message.find("base64"), std::string::npos);
        }
    }
    EXPECT_FALSE(base64url_decode("Zm9+").ok());  // standard alphabet in base64url
    EXPECT_FALSE(base64url_decode("Zm9/").ok());
    EXPECT_FALSE(base64url_decode("a b").ok());
}

TEST(Hex, LowerCase) {
    EXPECT_EQ(core::hex_encode(""), "");
    EXPECT_EQ(core::hex_encode(std::string("\x00\x87\x65\x43\x21\xff", 6)), "0087654321ff");
    EXPECT_EQ(core::hex_encode("\xAB\xcd"), "abcd");
}

}  // namespace
