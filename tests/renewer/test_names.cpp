// Name normalization and validation (RFC 1035, RFC 5890/5891) and the allowlist.
#include "renewer/names.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace renewer {
namespace {

std::string normalized(std::string_view input) {
    auto result = normalize_name(input);
    EXPECT_TRUE(result.ok()) << input << ": " << (result.ok() ? "" : result.error().message);
    return result.ok() ? *result : std::string();
}

std::string refusal(std::string_view input) {
    auto result = normalize_name(input);
    EXPECT_FALSE(result.ok()) << input << " was accepted as " << (result.ok() ? *result : "");
    if (result.ok()) {
        return {};
    }
    EXPECT_EQ(result.error().kind, core::ErrorKind::invalid_input);
    return result.error().message;
}

TEST(NormalizeName, KeepsValidAsciiNames) {
    EXPECT_EQ(normalized("example.com"), "example.com");
    EXPECT_EQ(normalized("www.example.com"), "www.example.com");
    EXPECT_EQ(normalized("a-b.c-d.example"), "a-b.c-d.example");
    EXPECT_EQ(normalized("0day.example.com"), "0day.example.com");
    EXPECT_EQ(normalized("x.y.z.example.co.uk"), "x.y.z.example.co.uk");
    EXPECT_EQ(normalized("123.example.com"), "123.example.com");  // digit-only labels below the TLD are fine
}

TEST(NormalizeName, LowerCasesAndDropsOneTrailingDot) {
    EXPECT_EQ(normalized("WWW.Example.COM"), "www.example.com");
    EXPECT_EQ(normalized("example.com."), "example.com");
    EXPECT_EQ(normalized("*.Example.Com."), "*.example.com");
}

TEST(NormalizeName, ConvertsIdnToPunycode) {
    EXPECT_EQ(normalized("bücher.example"), "xn--bcher-kva.example");
    EXPECT_EQ(normalized("BÜCHER.example"), "xn--bcher-kva.example");
    EXPECT_EQ(normalized("*.bücher.example"), "*.xn--bcher-kva.example");
    EXPECT_EQ(normalized("münchen.de"), "xn--mnchen-3ya.de");
    EXPECT_EQ(normalized("例え.テスト"), "xn--r8jz45g.xn--zckzah");
    // Non-transitional processing keeps ß (IDNA2008, what CAs use).
    EXPECT_EQ(normalized("faß.de"), "xn--fa-hia.de");
}

TEST(NormalizeName, AcceptsValidALabelsAsGiven) {
    EXPECT_EQ(normalized("xn--bcher-kva.example"), "xn--bcher-kva.example");
    EXPECT_EQ(normalized("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
}

TEST(NormalizeName, AcceptsWildcardAsWholeLeftmostLabel) {
    EXPECT_EQ(normalized("*.example.com"), "*.example.com");
    EXPECT_EQ(normalized("*.a.example.com"), "*.a.example.com");
    EXPECT_TRUE(is_wildcard("*.example.com"));
    EXPECT_FALSE(is_wildcard("example.com"));
}

TEST(NormalizeName, RefusesMisplacedWildcards) {
    EXPECT_NE(refusal("a.*.example.com").find("leftmost"), std::string::npos);
    EXPECT_NE(refusal("*foo.example.com").find("leftmost"), std::string::npos);
    EXPECT_NE(refusal("foo*.example.com").find("leftmost"), std::string::npos);
    EXPECT_NE(refusal("*.*.example.com").find("leftmost"), std::string::npos);
    EXPECT_NE(refusal("*").find("bare"), std::string::npos);
    EXPECT_NE(refusal("*.com").find("two labels"), std::string::npos);
    EXPECT_NE(refusal("*.").find("bare"), std::string::npos);
    EXPECT_NE(refusal("a.*.bücher.example").find("leftmost"), std::string::npos);
}

TEST(NormalizeName, RefusesBadSyntaxAndNamesTheInput) {
    const std::string empty_label = refusal("a..example.com");
    EXPECT_NE(empty_label.find("\"a..example.com\""), std::string::npos) << empty_label;
    EXPECT_NE(empty_label.find("empty label"), std::string::npos) << empty_label;
    EXPECT_NE(refusal(".example.com").find("empty label"), std::string::npos);
    EXPECT_NE(refusal("example.com..").find("empty label"), std::string::npos);
    EXPECT_NE(refusal("").find("empty"), std::string::npos);
    EXPECT_NE(refusal(".").find("empty"), std::string::npos);
    EXPECT_NE(refusal("under_score.example.com").find("'_'"), std::string::npos);
    EXPECT_NE(refusal("sp ace.example.com").find("white space"), std::string::npos);
    EXPECT_NE(refusal(" example.com").find("white space"), std::string::npos);
    EXPECT_NE(refusal("-lead.example.com").find("starts or ends with '-'"), std::string::npos);
    EXPECT_NE(refusal("trail-.example.com").find("starts or ends with '-'"), std::string::npos);
    EXPECT_NE(refusal("ab--cd.example.com").find("positions 3-4"), std::string::npos);
    EXPECT_NE(refusal("xn--zz-zzzzzzzz.example").find("A-label"), std::string::npos);
    EXPECT_NE(refusal("localhost").find("two labels"), std::string::npos);
    EXPECT_NE(refusal("com").find("two labels"), std::string::npos);
    EXPECT_NE(refusal("exa!mple.com").find("'!'"), std::string::npos);
    EXPECT_NE(refusal("http://example.com").find("contains"), std::string::npos);
    EXPECT_NE(refusal("a\x01.example.com").find("0x01"), std::string::npos);
}

TEST(NormalizeName, RefusesIpAddresses) {
    EXPECT_NE(refusal("192.0.2.1").find("IP address"), std::string::npos);
    EXPECT_NE(refusal("192.0.2.1.").find("IP address"), std::string::npos);
    EXPECT_NE(refusal("10.1").find("all digits"), std::string::npos);
    EXPECT_NE(refusal("2001:db8::1").find("IP address"), std::string::npos);
    EXPECT_NE(refusal("::1").find("IP address"), std::string::npos);
    EXPECT_NE(refusal("example.123").find("all digits"), std::string::npos);
}

TEST(NormalizeName, EnforcesLengthLimits) {
    const std::string label63(63, 'a');
    const std::string label64(64, 'a');
    EXPECT_EQ(normalized(label63 + ".example.com"), label63 + ".example.com");
    const std::string long_label = refusal(label64 + ".example.com");
    EXPECT_NE(long_label.find("64 characters"), std::string::npos) << long_label;
    EXPECT_NE(long_label.find("at most 63"), std::string::npos) << long_label;

    // 4 * 63 + 3 dots = 255 > 253; 3 * 63 + 61 + 3 dots = 253 exactly.
    const std::string exactly_253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
    ASSERT_EQ(exactly_253.size(), 253U);
    EXPECT_EQ(normalized(exactly_253), exactly_253);
    EXPECT_EQ(normalized(exactly_253 + "."), exactly_253);  // the root dot does not count
    const std::string too_long = exactly_253 + "c";
    EXPECT_NE(refusal(too_long).find("254 characters"), std::string::npos);
    // The limit applies to the punycode form: one IDN label may grow past 63.
    const std::string idn_label = "ü" + std::string(62, 'a');  // 63 characters, 68 as an A-label
    const std::string idn_refusal = refusal(idn_label + ".example");
    EXPECT_NE(idn_refusal.find("63"), std::string::npos) << idn_refusal;
}

TEST(NormalizeName, RefusesInvalidInternationalNames) {
    // U+2028 LINE SEPARATOR and a lone combining mark are not valid in IDNA2008.
    const std::string bad = refusal(
        "a\xe2\x80\xa8"
        "b.example");
    EXPECT_FALSE(bad.empty());
    EXPECT_FALSE(refusal("\xcc\x81"
                         "abc.example")
                     .empty());
}

TEST(Allowlist, ExactEntryMatchesOnlyThatName) {
    const std::vector<std::string> allow = {"example.com"};
    EXPECT_TRUE(name_allowed("example.com", allow));
    EXPECT_FALSE(name_allowed("www.example.com", allow));
    EXPECT_FALSE(name_allowed("*.example.com", allow));
    EXPECT_FALSE(name_allowed("notexample.com", allow));
    EXPECT_FALSE(name_allowed("example.com.evil.net", allow));
}

TEST(Allowlist, SuffixEntryMatchesNamesBelowButNotTheApex) {
    for (const std::vector<std::string>& allow :
         {std::vector<std::string>{".example.com"}, std::vector<std::string>{"*.example.com"}}) {
        EXPECT_TRUE(name_allowed("www.example.com", allow));
        EXPECT_TRUE(name_allowed("a.b.example.com", allow));
        EXPECT_TRUE(name_allowed("*.example.com", allow));
        EXPECT_TRUE(name_allowed("*.a.example.com", allow));
        EXPECT_FALSE(name_allowed("example.com", allow)) << "apex needs its own entry";
        EXPECT_FALSE(name_allowed("badexample.com", allow));
        EXPECT_FALSE(name_allowed("example.com.evil.net", allow));
        EXPECT_FALSE(name_allowed("www.example.org", allow));
    }
}

TEST(Allowlist, EmptyListAllowsEverythingAndEntriesCombine) {
    EXPECT_TRUE(name_allowed("anything.example", {}));
    const std::vector<std::string> allow = {"example.com", ".example.com", "shop.example.net"};
    EXPECT_TRUE(name_allowed("example.com", allow));
    EXPECT_TRUE(name_allowed("*.example.com", allow));
    EXPECT_TRUE(name_allowed("shop.example.net", allow));
    EXPECT_FALSE(name_allowed("www.shop.example.net", allow));
}

TEST(Allowlist, EntriesAreNormalized) {
    EXPECT_EQ(*normalize_allow_entry("Example.COM."), "example.com");
    EXPECT_EQ(*normalize_allow_entry(".Example.com"), ".example.com");
    EXPECT_EQ(*normalize_allow_entry("*.example.com"), ".example.com");
    EXPECT_EQ(*normalize_allow_entry(".bücher.example"), ".xn--bcher-kva.example");
    EXPECT_FALSE(normalize_allow_entry("a.*.example.com").ok());
    EXPECT_FALSE(normalize_allow_entry("..example.com").ok());
    EXPECT_FALSE(normalize_allow_entry("").ok());
    auto bad = normalize_allow_entry("exa mple.com");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("allowlist entry \"exa mple.com\""), std::string::npos);
}

TEST(CertificateNames, NormalizesInOrder) {
    auto names = normalize_certificate_names({"Example.com", "*.EXAMPLE.com", "bücher.example"}, {});
    ASSERT_TRUE(names.ok()) << names.error().message;
    EXPECT_EQ(*names, (std::vector<std::string>{"example.com", "*.example.com", "xn--bcher-kva.example"}));
}

TEST(CertificateNames, RefusesDuplicatesAfterNormalization) {
    auto names = normalize_certificate_names({"example.com", "www.example.com", "EXAMPLE.com."}, {});
    ASSERT_FALSE(names.ok());
    EXPECT_NE(names.error().message.find("duplicate name \"EXAMPLE.com.\""), std::string::npos)
        << names.error().message;
    EXPECT_NE(names.error().message.find("\"example.com\""), std::string::npos) << names.error().message;

    auto idn = normalize_certificate_names({"bücher.example", "xn--bcher-kva.example"}, {});
    ASSERT_FALSE(idn.ok());
    EXPECT_NE(idn.error().message.find("duplicate"), std::string::npos);
}

TEST(CertificateNames, RefusesEmptyTooManyAndOutsideAllowlist) {
    EXPECT_FALSE(validate_certificate_names({}, {}).ok());
    std::vector<std::string> many;
    for (int i = 0; i < 101; ++i) {
        many.push_back("n" + std::to_string(i) + ".example.com");
    }
    auto too_many = validate_certificate_names(many, {});
    ASSERT_FALSE(too_many.ok());
    EXPECT_NE(too_many.error().message.find("at most 100"), std::string::npos);
    many.pop_back();
    EXPECT_TRUE(validate_certificate_names(many, {}).ok());

    const std::vector<std::string> allow = {".example.com"};
    auto outside = validate_certificate_names({"www.example.com", "example.com"}, allow);
    ASSERT_FALSE(outside.ok());
    EXPECT_EQ(outside.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(outside.error().message.find("\"example.com\" is not in the allowlist"), std::string::npos)
        << outside.error().message;
    EXPECT_TRUE(validate_certificate_names({"www.example.com", "*.example.com"}, allow).ok());
    auto invalid = validate_certificate_names({"www.example.com", "a.*.example.com"}, allow);
    ASSERT_FALSE(invalid.ok());
    EXPECT_NE(invalid.error().message.find("a.*.example.com"), std::string::npos);
}

}  // namespace
}  // namespace renewer
