// RFC 8555 §8.4 record name and TXT value (vectors: ../shared/testdata/rfc-vectors.md §2).
#include <gtest/gtest.h>

#include "core/dns01.hpp"
#include "dns/challenge.hpp"

TEST(DnsChallenge, Acme4jVector) {
    EXPECT_EQ(core::dns01_txt_value(
                  "pNvmJivs0WCko2suV7fhe-59oFqyYx_yB7tx6kIMAyE.HnWjTDnyqlCrm6tZ-6wX-TrEXgRdeNu9G71gqxSO6o0"),
              "rzMmotrIgsithyBYc0vgiLUEEKYx0WetQRgEF2JIozA");
    EXPECT_EQ(dns::challenge_fqdn("www.example.org"), "_acme-challenge.www.example.org.");
}

TEST(DnsChallenge, RfcDerivedVector) {
    EXPECT_EQ(core::dns01_txt_value(
                  "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"),
              "ZTRx1Ckl1-tM05o5zaizTTA0yUy5AGereMgSNWC6Ll8");
    EXPECT_EQ(core::dns01_txt_value(
                  "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"),
              "_cC5rvB9vM8qzT3MTBcTeVpQwtbNypBXyQnE4fhM9QQ");
}

TEST(DnsChallenge, WildcardSharesTheApexName) {
    EXPECT_EQ(dns::challenge_fqdn("*.Example.COM"), "_acme-challenge.example.com.");
    EXPECT_EQ(dns::challenge_fqdn("example.com."), "_acme-challenge.example.com.");
    EXPECT_EQ(dns::challenge_fqdn("*.example.com"), dns::challenge_fqdn("example.com"));
}
