// Route53 REST-XML shapes: answers parsed, bodies built, zones chosen, batches split.
#include <gtest/gtest.h>

#include "dns/route53_wire.hpp"

using namespace dns::route53_wire;

namespace {

const char* k_zones_xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListHostedZonesByNameResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <HostedZones>
    <HostedZone><Id>/hostedzone/ZPRIV</Id><Name>example.com.</Name><CallerReference>a</CallerReference>
      <Config><PrivateZone>true</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>
    <HostedZone><Id>/hostedzone/ZPUB</Id><Name>example.com.</Name><CallerReference>b</CallerReference>
      <Config><Comment>x</Comment><PrivateZone>false</PrivateZone></Config></HostedZone>
    <HostedZone><Id>/hostedzone/ZSUB</Id><Name>sub.example.com.</Name><CallerReference>c</CallerReference>
      <Config><PrivateZone>false</PrivateZone></Config></HostedZone>
  </HostedZones>
  <DNSName>example.com.</DNSName><IsTruncated>true</IsTruncated><NextDNSName>zz.com.</NextDNSName>
  <NextHostedZoneId>ZNEXT</NextHostedZoneId><MaxItems>3</MaxItems>
</ListHostedZonesByNameResponse>)";

}  // namespace

TEST(DnsRoute53Wire, ParsesHostedZones) {
    auto page = parse_hosted_zones(k_zones_xml);
    ASSERT_TRUE(page.ok()) << page.error().message;
    ASSERT_EQ(page->zones.size(), 3U);
    EXPECT_EQ(page->zones[0].id, "ZPRIV");
    EXPECT_EQ(page->zones[0].name, "example.com.");
    EXPECT_TRUE(page->zones[0].private_zone);
    EXPECT_FALSE(page->zones[1].private_zone);
    EXPECT_TRUE(page->truncated);
    EXPECT_EQ(page->next_dns_name, "zz.com.");
    EXPECT_FALSE(parse_hosted_zones("<nope/>").ok());
    EXPECT_FALSE(parse_hosted_zones("not xml <").ok());
}

TEST(DnsRoute53Wire, PicksLongestSuffixPublicFirst) {
    auto zones = parse_hosted_zones(k_zones_xml)->zones;
    EXPECT_EQ(pick_zone("_acme-challenge.www.example.com.", zones, dns::ZoneVisibility::prefer_public)->id, "ZPUB");
    EXPECT_EQ(pick_zone("_acme-challenge.www.example.com.", zones, dns::ZoneVisibility::prefer_private)->id, "ZPRIV");
    EXPECT_EQ(pick_zone("_acme-challenge.sub.example.com", zones, dns::ZoneVisibility::prefer_public)->id, "ZSUB");
    EXPECT_EQ(pick_zone("_acme-challenge.a.sub.example.com", zones, dns::ZoneVisibility::prefer_private)->id, "ZSUB");
    // Label boundary: "notsub.example.com" is not in "sub.example.com".
    EXPECT_EQ(pick_zone("_acme-challenge.notsub.example.com", zones, dns::ZoneVisibility::prefer_public)->id, "ZPUB");
    auto none = pick_zone("_acme-challenge.example.org", zones, dns::ZoneVisibility::prefer_public);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().message.find("_acme-challenge.example.org."), std::string::npos);
    // Two public zones of one name: ambiguous.
    zones.push_back({"ZPUB2", "example.com.", false});
    auto tie = pick_zone("_acme-challenge.example.com", zones, dns::ZoneVisibility::prefer_public);
    ASSERT_FALSE(tie.ok());
    EXPECT_NE(tie.error().message.find("AWS_HOSTED_ZONE_ID"), std::string::npos);
}

TEST(DnsRoute53Wire, DecodesOctalEscapes) {
    EXPECT_EQ(decode_name("\\052.Example.com."), "*.example.com.");
    EXPECT_EQ(decode_name("example.com"), "example.com.");
}

TEST(DnsRoute53Wire, ParsesTheExactRecordSet) {
    const char* xml = R"(<?xml version="1.0"?>
<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <ResourceRecordSets>
    <ResourceRecordSet><Name>_acme-challenge.example.com.</Name><Type>TXT</Type><TTL>300</TTL>
      <ResourceRecords><ResourceRecord><Value>"someone &amp; else" "two"</Value></ResourceRecord>
      <ResourceRecord><Value>"abc"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
  </ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>10</MaxItems>
</ListResourceRecordSetsResponse>)";
    auto set = parse_record_set(xml, "_acme-challenge.Example.com", "TXT");
    ASSERT_TRUE(set.ok()) << set.error().message;
    ASSERT_TRUE(set->has_value());
    EXPECT_EQ((*set)->ttl, 300U);
    ASSERT_EQ((*set)->values.size(), 2U);
    EXPECT_EQ((*set)->values[0], "\"someone & else\" \"two\"");
    EXPECT_EQ((*set)->values[1], "\"abc\"");
    // The list starts at the name: a following name means "no such set".
    auto other = parse_record_set(xml, "_acme-challenge.a.example.com", "TXT");
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(other->has_value());
}

TEST(DnsRoute53Wire, QuotesTxtValues) {
    EXPECT_EQ(quote_txt("abc"), "\"abc\"");
    EXPECT_EQ(quote_txt("a\"b\\c"), "\"a\\\"b\\\\c\"");
    const std::string long_value = std::string(255, 'a') + "bc";
    EXPECT_EQ(quote_txt(long_value), "\"" + std::string(255, 'a') + "\" \"bc\"");
}

TEST(DnsRoute53Wire, BuildsTheChangeBatch) {
    Change upsert{Action::upsert, {"_acme-challenge.example.com.", "TXT", 60, {"\"a\"", "\"b&c\""}}};
    Change remove{Action::remove, {"_acme-challenge.x.example.com.", "TXT", 300, {"\"z\""}}};
    EXPECT_EQ(change_batch_xml({upsert, remove}, "renewer"),
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
              "<ChangeBatch><Comment>renewer</Comment><Changes>"
              "<Change><Action>UPSERT</Action><ResourceRecordSet><Name>_acme-challenge.example.com.</Name>"
              "<Type>TXT</Type><TTL>60</TTL><ResourceRecords>"
              "<ResourceRecord><Value>&quot;a&quot;</Value></ResourceRecord>"
              "<ResourceRecord><Value>&quot;b&amp;c&quot;</Value></ResourceRecord>"
              "</ResourceRecords></ResourceRecordSet></Change>"
              "<Change><Action>DELETE</Action><ResourceRecordSet><Name>_acme-challenge.x.example.com.</Name>"
              "<Type>TXT</Type><TTL>300</TTL><ResourceRecords>"
              "<ResourceRecord><Value>&quot;z&quot;</Value></ResourceRecord>"
              "</ResourceRecords></ResourceRecordSet></Change>"
              "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>");
}

TEST(DnsRoute53Wire, SplitsBatchesAtRoute53Limits) {
    std::vector<Change> changes;
    for (int i = 0; i < 250; ++i) {
        changes.push_back({Action::create, {"n" + std::to_string(i) + ".example.com.", "TXT", 60, {"\"v\""}}});
    }
    auto by_count = split_batches(changes);
    ASSERT_TRUE(by_count.ok());
    ASSERT_EQ(by_count->size(), 3U);  // 100 changes per batch
    EXPECT_EQ((*by_count)[0].size(), 100U);
    EXPECT_EQ((*by_count)[2].size(), 50U);
    EXPECT_EQ((*by_count)[2].back().rrset.name, "n249.example.com.");

    // UPSERT counts twice: 60 UPSERTs of 10 values of 45 characters are 1,200
    // records and 54,000 characters, so they need two batches.
    std::vector<Change> big;
    for (int i = 0; i < 60; ++i) {
        big.push_back({Action::upsert,
                       {"b" + std::to_string(i) + ".example.com.", "TXT", 60,
                        std::vector<std::string>(10, "\"" + std::string(43, 'x') + "\"")}});
    }
    auto by_size = split_batches(big);
    ASSERT_TRUE(by_size.ok());
    for (const auto& batch : *by_size) {
        std::size_t records = 0;
        std::size_t chars = 0;
        for (const auto& c : batch) {
            records += c.rrset.values.size() * 2;
            for (const auto& v : c.rrset.values) {
                chars += v.size() * 2;
            }
        }
        EXPECT_LE(records, 1000U);
        EXPECT_LE(chars, 32000U);
    }
    EXPECT_EQ(by_size->size(), 2U);

    std::vector<Change> too_big{{Action::upsert, {"x.", "TXT", 60, std::vector<std::string>(600, "\"v\"")}}};
    EXPECT_FALSE(split_batches(too_big).ok());
}

TEST(DnsRoute53Wire, ParsesChangeInfo) {
    auto info = parse_change_info(R"(<?xml version="1.0"?>
<ChangeResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
<ChangeInfo><Id>/change/C2682N5HXP0BZ4</Id><Status>PENDING</Status><SubmittedAt>2026-11-23T19:00:00Z</SubmittedAt></ChangeInfo>
</ChangeResourceRecordSetsResponse>)");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->id, "C2682N5HXP0BZ4");
    EXPECT_EQ(info->status, "PENDING");
    EXPECT_FALSE(parse_change_info("<GetChangeResponse/>").ok());
}
