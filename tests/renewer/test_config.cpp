// The configuration file: a full valid file, defaults merging, and one clear
// message naming the JSON path for each class of error.
#include "renewer/config.hpp"
#include "renewer/prepare.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace renewer {
namespace {

using nlohmann::json;

class ConfigFile : public ::testing::Test {
protected:
    void SetUp() override {
        ::setenv("TEST_TSIG_SECRET", "c2VjcmV0LXRzaWcta2V5LXZhbHVl", 1);
        ::setenv("TEST_EAB_HMAC", "ZWFiLWhtYWMta2V5LXZhbHVlLWxvbmc", 1);
        ::unsetenv("TEST_UNSET_SECRET");
    }
    void TearDown() override {
        ::unsetenv("TEST_TSIG_SECRET");
        ::unsetenv("TEST_EAB_HMAC");
    }

    static json minimal() {
        return json::parse(R"({"certificates": [{"domains": ["example.com"], "store": "aws-sm:certs/example"}]})");
    }

    // Parses `doc` and returns the error message, failing the test if it parsed.
    static std::string error_of(const json& doc) {
        auto config = parse_config(doc.dump(), "renewer.json");
        EXPECT_FALSE(config.ok()) << doc.dump();
        if (config.ok()) {
            return {};
        }
        EXPECT_EQ(config.error().kind, core::ErrorKind::invalid_input);
        EXPECT_EQ(config.error().message.find('\n'), std::string::npos) << "one line";
        return config.error().message;
    }

    static Config parsed(const json& doc) {
        auto config = parse_config(doc.dump(), "renewer.json");
        EXPECT_TRUE(config.ok()) << (config.ok() ? "" : config.error().message);
        return config.ok() ? std::move(config).value() : Config{};
    }
};

const char* k_full = R"({
  "server": "https://acme.example.test/dir",
  "ca_bundle": "/etc/renewer/pebble.pem",
  "email": "ops@example.com",
  "agree_tos": true,
  "eab": {"kid": "kid-1", "hmac_key_env": "TEST_EAB_HMAC"},
  "account_store": "aws-sm:renewer/account",
  "spool_dir": "/var/spool/renewer",
  "allow": ["example.com", ".example.com", "*.bücher.example", "shop.example.net"],
  "concurrency": 8,
  "renew": {"fraction": 0.25, "short_lifetime_fraction": 0.6, "short_lifetime_days": 7},
  "jitter_seconds": 600,
  "defaults": {
    "key_type": "ec384",
    "store": "aws-sm:certs/{name}",
    "dns": {"provider": "route53", "zone_id": "Z123", "requests_per_second": 2.5, "resolver": "127.0.0.1:5353",
            "propagation_timeout": 120},
    "replace": {"type": "autoscaling", "group": "web", "min_healthy_percentage": 80, "instance_warmup": 60},
    "profile": "tlsserver"
  },
  "certificates": [
    {"domains": ["Example.com", "*.example.com"]},
    {"name": "shop", "domains": ["shop.example.net"], "key_type": "rsa2048", "store": "dir:/srv/certs/shop",
     "dns": {"provider": "rfc2136", "server": "127.0.0.1:53", "tsig_key": "renewer.", "tsig_algorithm": "hmac-sha512",
             "tsig_secret_env": "TEST_TSIG_SECRET", "ttl": 30, "nameservers": ["127.0.0.1:5300", "[::1]:5300"]},
     "replace": {"type": "ec2-tag", "tag_key": "role", "tag_value": "shop", "max_terminate": 2}},
    {"domains": ["www.bücher.example"], "dns": {"assume_role_arn": "arn:aws:iam::123456789012:role/dns",
     "external_id": "x", "private_zone": true, "follow_cname": false},
     "replace": {"group": "books"}, "profile": "classic"},
    {"name": "api", "domains": ["api.example.com"], "dns": {"provider": "exec", "exec_path": "/bin/true"},
     "replace": {"type": "hook", "command": "systemctl reload nginx", "timeout": 30}},
    {"name": "ecs", "domains": ["ecs.example.com"], "replace": {"type": "ecs", "cluster": "c1", "service": "web"}},
    {"name": "none", "domains": ["plain.example.com"], "replace": {"type": "none"}}
  ]
})";

TEST_F(ConfigFile, ParsesAFullFileWithDefaultsMerged) {
    const Config config = parsed(json::parse(k_full));
    EXPECT_EQ(config.source, "renewer.json");
    EXPECT_EQ(config.server, "https://acme.example.test/dir");
    EXPECT_EQ(config.ca_bundle, "/etc/renewer/pebble.pem");
    EXPECT_EQ(config.email, "ops@example.com");
    EXPECT_TRUE(config.agree_tos);
    EXPECT_EQ(config.eab.kid, "kid-1");
    EXPECT_EQ(config.eab.hmac_key, "ZWFiLWhtYWMta2V5LXZhbHVlLWxvbmc");
    ASSERT_TRUE(config.account_store.has_value());
    EXPECT_EQ(config.account_store->kind, StoreSpec::Kind::aws_secrets_manager);
    EXPECT_EQ(config.account_store->location, "renewer/account");
    EXPECT_EQ(config.spool_dir, "/var/spool/renewer");
    EXPECT_EQ(config.allow,
              (std::vector<std::string>{"example.com", ".example.com", ".xn--bcher-kva.example", "shop.example.net"}));
    EXPECT_EQ(config.concurrency, 8);
    EXPECT_DOUBLE_EQ(config.renew.fraction, 0.25);
    EXPECT_DOUBLE_EQ(config.renew.short_lifetime_fraction, 0.6);
    EXPECT_EQ(config.renew.short_lifetime_days, 7);
    EXPECT_EQ(config.jitter, std::chrono::seconds(600));
    ASSERT_EQ(config.certificates.size(), 6U);

    const auto& first = config.certificates[0];
    EXPECT_EQ(first.id, "example.com");
    EXPECT_EQ(first.domains, (std::vector<std::string>{"example.com", "*.example.com"}));
    EXPECT_EQ(first.key_type, core::KeyType::ec384);
    EXPECT_EQ(first.store.kind, StoreSpec::Kind::aws_secrets_manager);
    EXPECT_EQ(first.store.location, "certs/example.com");
    EXPECT_EQ(first.store.spec, "aws-sm:certs/example.com");
    EXPECT_EQ(first.dns.provider_name(), "route53");
    EXPECT_EQ(std::get<dns::Route53Settings>(first.dns.provider).hosted_zone_id, "Z123");
    EXPECT_DOUBLE_EQ(std::get<dns::Route53Settings>(first.dns.provider).requests_per_second, 2.5);
    EXPECT_EQ(first.dns.resolver, "127.0.0.1:5353");
    EXPECT_EQ(first.dns.propagation_timeout, std::chrono::seconds(120));
    EXPECT_EQ(first.replace.type, ReplaceType::autoscaling);
    EXPECT_EQ(first.replace.group, "web");
    EXPECT_EQ(first.replace.min_healthy_percentage, 80);
    EXPECT_EQ(first.replace.instance_warmup, 60);
    EXPECT_EQ(first.profile, "tlsserver");

    const auto& shop = config.certificates[1];
    EXPECT_EQ(shop.id, "shop");
    EXPECT_EQ(shop.key_type, core::KeyType::rsa2048);
    EXPECT_EQ(shop.store.kind, StoreSpec::Kind::directory);
    EXPECT_EQ(shop.store.location, "/srv/certs/shop");
    EXPECT_EQ(shop.dns.provider_name(), "rfc2136");
    EXPECT_EQ(std::get<dns::Rfc2136Settings>(shop.dns.provider).nameserver, "127.0.0.1:53");
    EXPECT_EQ(std::get<dns::Rfc2136Settings>(shop.dns.provider).tsig_key, "renewer.");
    EXPECT_EQ(std::get<dns::Rfc2136Settings>(shop.dns.provider).tsig_algorithm, "hmac-sha512");
    EXPECT_EQ(std::get<dns::Rfc2136Settings>(shop.dns.provider).tsig_secret, "c2VjcmV0LXRzaWcta2V5LXZhbHVl");
    EXPECT_EQ(std::get<dns::Rfc2136Settings>(shop.dns.provider).ttl, 30U);
    EXPECT_EQ(shop.dns.nameservers, "127.0.0.1:5300,[::1]:5300");
    // A different provider inherits only the provider-independent keys.
    EXPECT_EQ(std::holds_alternative<dns::Route53Settings>(shop.dns.provider), false);  // no route53 keys inherited
    EXPECT_EQ(shop.dns.resolver, "127.0.0.1:5353");
    EXPECT_EQ(shop.dns.propagation_timeout, std::chrono::seconds(120));
    EXPECT_EQ(shop.replace.type, ReplaceType::ec2_tag);
    EXPECT_EQ(shop.replace.tag_key, "role");
    EXPECT_EQ(shop.replace.tag_value, "shop");
    EXPECT_EQ(shop.replace.max_terminate, 2);
    EXPECT_EQ(shop.replace.group, "");

    const auto& books = config.certificates[2];
    EXPECT_EQ(books.id, "www.xn--bcher-kva.example");
    EXPECT_EQ(books.domains, (std::vector<std::string>{"www.xn--bcher-kva.example"}));
    EXPECT_EQ(std::get<dns::Route53Settings>(books.dns.provider).hosted_zone_id,
              "Z123");  // same provider: merged key by key
    EXPECT_EQ(std::get<dns::Route53Settings>(books.dns.provider).assume_role_arn, "arn:aws:iam::123456789012:role/dns");
    EXPECT_EQ(std::get<dns::Route53Settings>(books.dns.provider).zone_visibility, dns::ZoneVisibility::prefer_private);
    EXPECT_EQ(books.dns.cname, dns::CnameMode::ignore);
    EXPECT_EQ(books.replace.type, ReplaceType::autoscaling);  // type from defaults, group overridden
    EXPECT_EQ(books.replace.group, "books");
    EXPECT_EQ(books.replace.min_healthy_percentage, 80);
    EXPECT_EQ(books.profile, "classic");

    const auto& api = config.certificates[3];
    EXPECT_EQ(api.dns.provider_name(), "exec");
    EXPECT_EQ(std::get<dns::ExecSettings>(api.dns.provider).path, "/bin/true");
    EXPECT_EQ(api.replace.type, ReplaceType::hook);
    EXPECT_EQ(api.replace.command, "systemctl reload nginx");
    EXPECT_EQ(api.replace.timeout, std::chrono::seconds(30));
    EXPECT_EQ(api.replace.group, "");
    // The hook never sees the variables that hold our secrets.
    EXPECT_EQ(api.replace.hidden_env, (std::vector<std::string>{"TEST_EAB_HMAC", "TEST_TSIG_SECRET"}));

    EXPECT_EQ(config.certificates[4].replace.type, ReplaceType::ecs);
    EXPECT_EQ(config.certificates[4].replace.cluster, "c1");
    EXPECT_EQ(config.certificates[5].replace.type, ReplaceType::none);
}

TEST_F(ConfigFile, MinimalFileGetsBuiltInDefaults) {
    const Config config = parsed(minimal());
    EXPECT_EQ(config.server, k_default_server);
    EXPECT_EQ(config.concurrency, 16);
    EXPECT_NEAR(config.renew.fraction, 1.0 / 3.0, 1e-9);
    EXPECT_DOUBLE_EQ(config.renew.short_lifetime_fraction, 0.5);
    EXPECT_EQ(config.renew.short_lifetime_days, 10);
    EXPECT_EQ(config.jitter, std::chrono::seconds(0));
    EXPECT_FALSE(config.agree_tos);
    EXPECT_FALSE(config.account_store.has_value());
    EXPECT_TRUE(config.allow.empty());
    ASSERT_EQ(config.certificates.size(), 1U);
    const auto& cert = config.certificates[0];
    EXPECT_EQ(cert.key_type, core::KeyType::ec256);
    EXPECT_EQ(cert.dns.provider_name(), "route53");
    EXPECT_EQ(cert.dns.cname, dns::CnameMode::follow);
    EXPECT_EQ(cert.dns.propagation_timeout, std::chrono::seconds(300));
    EXPECT_EQ(cert.replace.type, ReplaceType::none);
    EXPECT_EQ(cert.replace.min_healthy_percentage, 90);
    EXPECT_EQ(cert.replace.max_terminate, 1);
}

TEST_F(ConfigFile, WildcardIdExpandsSafelyInStore) {
    json doc = minimal();
    doc["certificates"][0] = {{"domains", {"*.example.com"}}, {"store", "dir:/srv/{name}"}};
    const Config config = parsed(doc);
    EXPECT_EQ(config.certificates[0].id, "*.example.com");
    EXPECT_EQ(config.certificates[0].store.location, "/srv/_.example.com");
}

TEST_F(ConfigFile, UnknownKeysAreNamedByPath) {
    json doc = minimal();
    doc["certificates"].push_back(
        {{"domains", {"b.example.com"}}, {"store", "aws-sm:b"}, {"dns", {{"zone_idd", "Z1"}}}});
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[1].dns.zone_idd: unknown key (did you mean \"zone_id\"?)");

    doc = minimal();
    doc["serverr"] = "https://x";
    EXPECT_EQ(error_of(doc), "renewer.json: serverr: unknown key (did you mean \"server\"?)");

    doc = minimal();
    doc["certificates"][0]["replace"] = {{"type", "autoscaling"}, {"group", "g"}, {"colour", "blue"}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].replace.colour: unknown key");

    doc = minimal();
    doc["defaults"] = {{"dns", {{"providr", "route53"}}}};
    EXPECT_EQ(error_of(doc), "renewer.json: defaults.dns.providr: unknown key (did you mean \"provider\"?)");

    doc = minimal();
    doc["renew"] = {{"fractoin", 0.3}};
    EXPECT_NE(error_of(doc).find("renew.fractoin: unknown key"), std::string::npos);

    doc = minimal();
    doc["eab"] = {{"kid", "k"}, {"hmac_key_env", "TEST_EAB_HMAC"}, {"extra", 1}};
    EXPECT_NE(error_of(doc).find("eab.extra: unknown key"), std::string::npos);

    doc = minimal();
    doc["certificates"][0]["domain"] = {"x.example.com"};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].domain: unknown key (did you mean \"domains\"?)");
}

TEST_F(ConfigFile, WrongTypesAreNamedByPath) {
    json doc = minimal();
    doc["concurrency"] = "4";
    EXPECT_EQ(error_of(doc), "renewer.json: concurrency: expected an integer, got string");

    doc = minimal();
    doc["agree_tos"] = "yes";
    EXPECT_EQ(error_of(doc), "renewer.json: agree_tos: expected true or false, got string");

    doc = minimal();
    doc["certificates"][0]["domains"] = "example.com";
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].domains: expected a list of strings, got string");

    doc = minimal();
    doc["certificates"][0]["domains"] = {"example.com", 7};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].domains[1]: expected a string, got number");

    doc = minimal();
    doc["certificates"][0]["dns"] = {{"propagation_timeout", 1.5}};
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[0].dns.propagation_timeout: expected an integer, got a fraction");

    doc = minimal();
    doc["certificates"][0]["dns"] = "route53";
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].dns: expected an object, got string");

    doc = minimal();
    doc["certificates"] = json::object({{"domains", {"a.example.com"}}});
    EXPECT_EQ(error_of(doc), "renewer.json: certificates: expected a list, got object");

    doc = minimal();
    doc["certificates"][0]["replace"] = {{"type", "autoscaling"}, {"group", "g"}, {"min_healthy_percentage", 120}};
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[0].replace.min_healthy_percentage: must be between 0 and 100, got 120");

    doc = minimal();
    doc["renew"] = {{"fraction", 1.5}};
    EXPECT_NE(error_of(doc).find("renew.fraction: must be greater than 0 and less than 1"), std::string::npos);

    EXPECT_EQ(error_of(json::array()), "renewer.json: (top level): expected an object, got array");
}

TEST_F(ConfigFile, KmsKeyOfCreatedSecretsIsCheckedAndReachesTheStore) {
    json doc = minimal();
    const std::string arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    doc["defaults"] = {{"kms_key_id", arn}};
    doc["certificates"].push_back(
        {{"domains", {"b.example.com"}}, {"store", "aws-sm:certs/b"}, {"kms_key_id", "alias/certificates"}});
    doc["certificates"].push_back({{"domains", {"c.example.com"}}, {"store", "dir:/srv/c"}});
    const auto config = parsed(doc);
    ASSERT_EQ(config.certificates.size(), 3U);
    EXPECT_EQ(config.certificates[0].store.kms_key_id, arn);
    EXPECT_EQ(renewer::store_config_for(config.certificates[0].store).kms_key_id, arn);
    EXPECT_EQ(config.certificates[1].store.kms_key_id, "alias/certificates");
    EXPECT_EQ(config.certificates[2].store.kms_key_id, "") << "a folder has no KMS key";
    for (const auto* good : {"1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab",
                             "arn:aws:kms:us-east-1:111122223333:alias/certs"}) {
        doc = minimal();
        doc["certificates"][0]["kms_key_id"] = good;
        EXPECT_EQ(parsed(doc).certificates[0].store.kms_key_id, good);
    }
    doc = minimal();
    doc["certificates"][0]["kms_key_id"] = "my key";
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[0].kms_key_id: \"my key\" is not a KMS key (a key ARN, "
              "alias ARN, alias/NAME or key id)");
}

TEST_F(ConfigFile, SyntaxErrorsGiveLineAndColumn) {
    auto config = parse_config("{\n  \"certificates\": [,]\n}", "renewer.json");
    ASSERT_FALSE(config.ok());
    EXPECT_NE(config.error().message.find("renewer.json: parse error at line 2"), std::string::npos)
        << config.error().message;
}

TEST_F(ConfigFile, InvalidNamesAreRefusedWithTheirIndex) {
    json doc = minimal();
    doc["certificates"][0]["domains"] = {"example.com", "a.*.example.com"};
    const std::string wildcard = error_of(doc);
    EXPECT_NE(wildcard.find("certificates[0].domains[1]: invalid name \"a.*.example.com\""), std::string::npos)
        << wildcard;

    doc["certificates"][0]["domains"] = {std::string(64, 'a') + ".example.com"};
    EXPECT_NE(error_of(doc).find("certificates[0].domains[0]: invalid name"), std::string::npos);

    doc["certificates"][0]["domains"] = {"192.0.2.7"};
    EXPECT_NE(error_of(doc).find("IP address"), std::string::npos);

    doc["certificates"][0]["domains"] = json::array();
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[0].domains: empty list (a certificate needs at least one name)");

    doc["certificates"][0].erase("domains");
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].domains: required (a list of names)");
}

TEST_F(ConfigFile, DuplicatesAreRefused) {
    json doc = minimal();
    doc["certificates"][0]["domains"] = {"example.com", "www.example.com", "Example.COM."};
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[0].domains[2]: duplicate name \"Example.COM.\" (same as "
              "certificates[0].domains[0] once normalized to \"example.com\")");

    doc = minimal();
    doc["certificates"].push_back({{"domains", {"example.com", "www.example.com"}}, {"store", "aws-sm:other"}});
    const std::string same_id = error_of(doc);
    EXPECT_NE(same_id.find("certificates[1].name: certificate id \"example.com\" is used twice (also certificates[0]"),
              std::string::npos)
        << same_id;

    doc = minimal();
    doc["certificates"].push_back({{"domains", {"b.example.com"}}, {"store", "aws-sm:certs/example"}});
    EXPECT_NE(
        error_of(doc).find("certificates[1].store: \"aws-sm:certs/example\" is also the store of certificates[0]"),
        std::string::npos);
}

TEST_F(ConfigFile, AllowlistRefusesOtherNames) {
    json doc = minimal();
    doc["allow"] = {".example.com"};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].domains[0]: name \"example.com\" is not in the allowlist");

    doc["allow"] = {".example.com", "example.com"};
    EXPECT_TRUE(parse_config(doc.dump(), "renewer.json").ok());

    doc["allow"] = json::array();
    EXPECT_NE(error_of(doc).find("allow: empty list"), std::string::npos);

    doc["allow"] = {"example.com", "a.*.example.com"};
    EXPECT_NE(error_of(doc).find("allow[1]: allowlist entry \"a.*.example.com\""), std::string::npos);
}

// What a provider's constructor would refuse is refused while reading, named
// after the key the user wrote (not after an environment variable).
TEST_F(ConfigFile, ProviderSettingsAreCheckedWhileReading) {
    json doc = minimal();
    doc["certificates"][0]["dns"] = {{"provider", "exec"}, {"exec_path", "/nonexistent/dns-hook"}};
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[0].dns.exec_path: \"/nonexistent/dns-hook\" is not an executable file");
    doc["certificates"][0]["dns"]["exec_path"] = "true";  // on PATH
    EXPECT_TRUE(parse_config(doc.dump(), "renewer.json").ok());

    doc["certificates"][0]["dns"] = {{"provider", "rfc2136"},
                                     {"server", "127.0.0.1:53"},
                                     {"tsig_key", std::string(64, 'k') + ".example."},
                                     {"tsig_secret_env", "TEST_TSIG_SECRET"}};
    EXPECT_NE(error_of(doc).find("certificates[0].dns.tsig_key: not a DNS name: label longer than 63 octets"),
              std::string::npos);
}

TEST_F(ConfigFile, IdsAndSecretNamesThatWouldClashAreRefused) {
    for (const char* id : {".", ".."}) {
        json doc = minimal();
        doc["certificates"][0]["name"] = id;
        EXPECT_EQ(error_of(doc), fmt::format("renewer.json: certificates[0].name: \"{}\" is not a certificate id (it "
                                             "names a folder)",
                                             id));
    }
    json doc = minimal();
    doc["certificates"].push_back({{"domains", {"www.example.com"}}, {"store", "aws-sm:certs/example-lock"}});
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[1].store: \"aws-sm:certs/example-lock\" is the lease secret of "
              "certificates[0] (choose another name)");
    doc["certificates"][1]["store"] = "aws-sm:certs/example-account";
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[1].store: \"aws-sm:certs/example-account\" is the account secret of "
              "certificates[0] (choose another name)");
    doc = minimal();
    doc["account_store"] = "aws-sm:certs/example-lock";
    EXPECT_EQ(error_of(doc),
              "renewer.json: account_store: \"aws-sm:certs/example-lock\" is the lease secret of certificates[0]");
    doc["account_store"] = "aws-sm:certs/example-account";
    EXPECT_TRUE(parse_config(doc.dump(), "renewer.json").ok()) << "where the certificate keeps its account anyway";
    doc["account_store"] = "aws-sm:certs/example";
    EXPECT_EQ(error_of(doc),
              "renewer.json: account_store: \"aws-sm:certs/example\" is also the store of certificates[0]");
    doc["account_store"] = "aws-sm:acme/account";
    doc["certificates"][0]["store"] = "aws-sm:acme/account-lock";
    EXPECT_TRUE(parse_config(doc.dump(), "renewer.json").ok()) << "the account secret has no lease of its own";
}

TEST_F(ConfigFile, RequiredFieldsPerProviderAndReplaceType) {
    json doc = minimal();
    doc["certificates"][0]["dns"] = {{"provider", "rfc2136"}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].dns.server: required by provider rfc2136 (host:port)");

    doc["certificates"][0]["dns"] = {{"provider", "rfc2136"}, {"server", "127.0.0.1:53"}, {"tsig_key", "k."}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].dns.tsig_key: needs tsig_secret_env or tsig_secret_file");

    doc["certificates"][0]["dns"] = {{"provider", "exec"}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].dns.exec_path: required by provider exec");

    doc["certificates"][0]["dns"] = {{"provider", "cloudflare"}};
    EXPECT_NE(error_of(doc).find("certificates[0].dns.provider: unknown provider \"cloudflare\""), std::string::npos);

    doc["certificates"][0]["dns"] = {{"provider", "route53"}, {"tsig_key", "k."}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].dns.tsig_key: not used by provider route53");

    doc["certificates"][0]["dns"] = {{"provider", "rfc2136"}, {"server", "127.0.0.1:99999"}};
    EXPECT_NE(error_of(doc).find("certificates[0].dns.server: \"127.0.0.1:99999\" is not host:port"),
              std::string::npos);

    doc = minimal();
    doc["certificates"][0]["replace"] = {{"type", "autoscaling"}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].replace.group: required by replace type autoscaling");
    doc["certificates"][0]["replace"] = {{"type", "ec2-tag"}, {"tag_key", "role"}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].replace.tag_value: required by replace type ec2-tag");
    doc["certificates"][0]["replace"] = {{"type", "ecs"}, {"cluster", "c"}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].replace.service: required by replace type ecs");
    doc["certificates"][0]["replace"] = {{"type", "hook"}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].replace.command: required by replace type hook");
    doc["certificates"][0]["replace"] = {{"type", "ecs"}, {"cluster", "c"}, {"service", "s"}, {"group", "g"}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].replace.group: not used by replace type ecs");
    doc["certificates"][0]["replace"] = {{"type", "reboot"}};
    EXPECT_NE(error_of(doc).find("certificates[0].replace.type: unknown type \"reboot\""), std::string::npos);
    doc["certificates"][0]["replace"] = {
        {"type", "ec2-tag"}, {"tag_key", "r"}, {"tag_value", "v"}, {"max_terminate", 0}};
    EXPECT_NE(error_of(doc).find("certificates[0].replace.max_terminate: must be between 1 and 1000"),
              std::string::npos);

    doc = minimal();
    doc["certificates"][0].erase("store");
    EXPECT_NE(error_of(doc).find("certificates[0].store: required here or in defaults"), std::string::npos);
    doc["certificates"][0]["store"] = "s3:bucket";
    EXPECT_NE(error_of(doc).find("certificates[0].store: \"s3:bucket\": unknown store"), std::string::npos);
    doc["certificates"][0]["store"] = "aws-sm:bad name";
    EXPECT_NE(error_of(doc).find("certificates[0].store: \"aws-sm:bad name\""), std::string::npos);

    doc = minimal();
    doc["certificates"][0]["key_type"] = "ec521";
    EXPECT_NE(error_of(doc).find("certificates[0].key_type: unknown key type \"ec521\""), std::string::npos);
}

TEST_F(ConfigFile, ErrorsInDefaultsPointAtDefaults) {
    json doc = minimal();
    doc["defaults"] = {{"dns", {{"provider", "rfc2136"}, {"ttl", "60"}}}};
    EXPECT_EQ(error_of(doc), "renewer.json: defaults.dns.ttl: expected an integer, got string");

    doc["defaults"] = {{"replace", {{"type", "autoscaling"}, {"tag_key", "x"}}}};
    EXPECT_EQ(error_of(doc), "renewer.json: defaults.replace.tag_key: not used by replace type autoscaling");

    // Missing required key after merging: named at the certificate's block.
    doc["defaults"] = {{"replace", {{"type", "autoscaling"}}}};
    EXPECT_EQ(error_of(doc), "renewer.json: certificates[0].replace.group: required by replace type autoscaling");
}

TEST_F(ConfigFile, SecretsAreNeverInline) {
    json doc = minimal();
    doc["certificates"][0]["dns"] = {
        {"provider", "rfc2136"}, {"server", "127.0.0.1:53"}, {"tsig_key", "k."}, {"tsig_secret", "c2VjcmV0"}};
    EXPECT_EQ(error_of(doc),
              "renewer.json: certificates[0].dns.tsig_secret: secrets are never written in the config "
              "file; use tsig_secret_env or tsig_secret_file");

    doc = minimal();
    doc["eab"] = {{"kid", "k"}, {"hmac_key", "abc"}};
    EXPECT_EQ(error_of(doc),
              "renewer.json: eab.hmac_key: secrets are never written in the config file; use "
              "hmac_key_env or hmac_key_file");

    doc = minimal();
    doc["eab"] = {{"kid", "k"}, {"hmac_key_env", "TEST_UNSET_SECRET"}};
    EXPECT_EQ(error_of(doc), "renewer.json: eab.hmac_key_env: environment variable TEST_UNSET_SECRET is not set");

    doc["eab"] = {{"kid", "k"}};
    EXPECT_EQ(error_of(doc), "renewer.json: eab: give one of hmac_key_env and hmac_key_file");

    doc["eab"] = {{"hmac_key_env", "TEST_EAB_HMAC"}};
    EXPECT_EQ(error_of(doc), "renewer.json: eab.kid: required when eab is given");

    doc = minimal();
    doc["certificates"][0]["dns"] = {{"provider", "rfc2136"},
                                     {"server", "127.0.0.1:53"},
                                     {"tsig_key", "k."},
                                     {"tsig_secret_file", "/nonexistent/tsig.key"}};
    EXPECT_NE(error_of(doc).find("certificates[0].dns.tsig_secret_file: cannot read \"/nonexistent/tsig.key\""),
              std::string::npos);
}

TEST_F(ConfigFile, SecretFromFileIsTrimmed) {
    const auto path = std::filesystem::temp_directory_path() / ("renewer-test-tsig-" + std::to_string(::getpid()));
    {
        std::ofstream out(path);
        out << "ZmlsZS1zZWNyZXQtdmFsdWU=\n";
    }
    json doc = minimal();
    doc["certificates"][0]["dns"] = {
        {"provider", "rfc2136"}, {"server", "127.0.0.1"}, {"tsig_key", "k."}, {"tsig_secret_file", path.string()}};
    const Config config = parsed(doc);
    std::filesystem::remove(path);
    ASSERT_EQ(config.certificates.size(), 1U);
    EXPECT_EQ(std::get<dns::Rfc2136Settings>(config.certificates[0].dns.provider).tsig_secret,
              "ZmlsZS1zZWNyZXQtdmFsdWU=");
}

TEST_F(ConfigFile, LoadConfigReportsMissingFile) {
    auto config = load_config("/nonexistent/renewer.json");
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.error().kind, core::ErrorKind::io);
    EXPECT_NE(config.error().message.find("/nonexistent/renewer.json"), std::string::npos);
}

TEST_F(ConfigFile, LoadConfigReadsAFile) {
    const auto path = std::filesystem::temp_directory_path() / ("renewer-test-config-" + std::to_string(::getpid()));
    {
        std::ofstream out(path);
        out << k_full;
    }
    auto config = load_config(path.string());
    std::filesystem::remove(path);
    ASSERT_TRUE(config.ok()) << config.error().message;
    EXPECT_EQ(config->source, path.string());
    EXPECT_EQ(config->certificates.size(), 6U);
}

TEST_F(ConfigFile, GroupReplacementsOncePerDistinctTarget) {
    const Config config = parsed(json::parse(k_full));
    const std::vector<ChangedCertificate> changed = {
        {"example.com", {"example.com"}, "01", "aws-sm:certs/example.com", std::nullopt},
        {"none", {"plain.example.com"}, "02", "aws-sm:certs/none", std::nullopt},
        {"shop", {"shop.example.net"}, "03", "dir:/srv/certs/shop", std::nullopt},
        {"api", {"api.example.com"}, "04", "aws-sm:certs/api", std::nullopt},
    };
    const auto batches = group_replacements(config, changed);
    ASSERT_EQ(batches.size(), 3U);
    EXPECT_EQ(batches[0].target.type, ReplaceType::autoscaling);
    EXPECT_EQ(batches[0].changed.size(), 1U);
    EXPECT_EQ(batches[1].target.type, ReplaceType::ec2_tag);
    EXPECT_EQ(batches[2].target.type, ReplaceType::hook);
    EXPECT_TRUE(group_replacements(config, {}).empty());
}

// An environment of our own, so the tests do not touch the process's.
core::settings::EnvLookup env_of(std::map<std::string, std::string> values) {
    return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
        const auto it = values.find(std::string(name));
        return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

core::settings::Value flag_value(nlohmann::json value, const char* flag) { return {std::move(value), flag}; }

std::string zone_of(const Config& config) {
    return std::get<dns::Route53Settings>(config.certificates[0].dns.provider).hosted_zone_id;
}

TEST(Precedence, FlagBeatsEnvBeatsFileBeatsDefault) {
    const std::string with_zone =
        R"({"certificates": [{"domains": ["example.com"], "store": "dir:/tmp/x", "dns": {"zone_id": "FILE"}}]})";
    const std::string without_zone = R"({"certificates": [{"domains": ["example.com"], "store": "dir:/tmp/x"}]})";
    CommandLine flags;
    flags.dns.emplace("zone_id", flag_value("FLAG", "--route53-zone-id"));
    const auto env = env_of({{"AWS_HOSTED_ZONE_ID", "ENV"}});
    const auto no_env = env_of({});

    auto all = parse_config(with_zone, "renewer.json", flags, env);
    ASSERT_TRUE(all.ok()) << all.error().message;
    EXPECT_EQ(zone_of(*all), "FLAG");
    auto env_and_file = parse_config(with_zone, "renewer.json", {}, env);
    ASSERT_TRUE(env_and_file.ok());
    EXPECT_EQ(zone_of(*env_and_file), "ENV");
    auto file_only = parse_config(with_zone, "renewer.json", {}, no_env);
    ASSERT_TRUE(file_only.ok());
    EXPECT_EQ(zone_of(*file_only), "FILE");
    auto none = parse_config(without_zone, "renewer.json", {}, no_env);
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(zone_of(*none), "");
}

TEST(Precedence, FlagsBeatTheFileForEveryCertificateSetting) {
    const std::string doc = R"({"defaults": {"store": "aws-sm:certs/{name}", "key_type": "ec256",
        "dns": {"provider": "route53", "zone_id": "Z1"}, "replace": {"type": "ecs", "cluster": "c", "service": "s"}},
        "certificates": [{"domains": ["a.example.com"]}, {"domains": ["b.example.com"], "profile": "file"}]})";
    CommandLine flags;
    flags.certificate.emplace("key_type", flag_value("rsa2048", "--key-type"));
    flags.certificate.emplace("profile", flag_value("flag", "--profile"));
    flags.out = flag_value("/srv/out", "--out");
    flags.dns.emplace("provider", flag_value("rfc2136", "--dns"));
    flags.dns.emplace("server", flag_value("127.0.0.1:5353", "--rfc2136-server"));
    flags.replace.emplace("type", flag_value("hook", "--deploy-hook"));
    flags.replace.emplace("command", flag_value("true", "--deploy-hook"));
    auto config = parse_config(doc, "renewer.json", flags, env_of({}));
    ASSERT_TRUE(config.ok()) << config.error().message;
    for (const auto& cert : config->certificates) {
        EXPECT_EQ(cert.key_type, core::KeyType::rsa2048);
        EXPECT_EQ(cert.profile, "flag");
        EXPECT_EQ(cert.store.spec, "dir:/srv/out/" + cert.id);  // several certificates: a folder each
        ASSERT_EQ(cert.dns.provider_name(), "rfc2136");         // the file's route53 keys are dropped with it
        EXPECT_EQ(std::get<dns::Rfc2136Settings>(cert.dns.provider).nameserver, "127.0.0.1:5353");
        EXPECT_EQ(cert.replace.type, ReplaceType::hook);
        EXPECT_EQ(cert.replace.cluster, "");
    }
}

TEST(Precedence, TheEnvironmentIsReadAndChecked) {
    const std::string doc = R"({"certificates": [{"domains": ["example.com"], "store": "dir:/tmp/x",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1:53", "ttl": 30}}]})";
    auto ttl = parse_config(doc, "renewer.json", {}, env_of({{"RFC2136_TTL", "120"}}));
    ASSERT_TRUE(ttl.ok()) << ttl.error().message;
    EXPECT_EQ(std::get<dns::Rfc2136Settings>(ttl->certificates[0].dns.provider).ttl, 120U);

    auto bad_ttl = parse_config(doc, "renewer.json", {}, env_of({{"RFC2136_TTL", "notanumber"}}));
    ASSERT_FALSE(bad_ttl.ok());
    EXPECT_EQ(bad_ttl.error().message, "renewer.json: RFC2136_TTL: 'notanumber' is not a whole number");
    auto bad_rps = parse_config(doc, "renewer.json", {}, env_of({{"AWS_ROUTE53_REQUESTS_PER_SECOND", "fast"}}));
    ASSERT_FALSE(bad_rps.ok());
    EXPECT_NE(bad_rps.error().message.find("AWS_ROUTE53_REQUESTS_PER_SECOND: 'fast' is not a number"),
              std::string::npos);

    // A flag beats the variable (RFC2136_TSIG_ALGORITHM used to win).
    CommandLine flags;
    flags.dns.emplace("tsig_algorithm", flag_value("hmac-sha256", "--rfc2136-tsig-algorithm"));
    auto algorithm = parse_config(doc, "renewer.json", flags, env_of({{"RFC2136_TSIG_ALGORITHM", "hmac-sha512"}}));
    ASSERT_TRUE(algorithm.ok()) << algorithm.error().message;
    EXPECT_EQ(std::get<dns::Rfc2136Settings>(algorithm->certificates[0].dns.provider).tsig_algorithm, "hmac-sha256");

    // Variables of another provider are ambient, not errors; flags of another provider are.
    EXPECT_TRUE(parse_config(doc, "renewer.json", {}, env_of({{"AWS_HOSTED_ZONE_ID", "Z9"}})).ok());
    CommandLine foreign;
    foreign.dns.emplace("zone_id", flag_value("Z9", "--route53-zone-id"));
    auto wrong = parse_config(doc, "renewer.json", foreign, env_of({}));
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.error().message, "renewer.json: --route53-zone-id: not used by provider rfc2136");
}

TEST(Precedence, CommandLineOnlyNamesTheFlags) {
    CommandLine flags;
    flags.certificates = {{"example.com"}};
    flags.out = flag_value("/srv/out", "--out");
    flags.dns.emplace("provider", flag_value("rfc2136", "--dns"));
    auto missing = build_config(nullptr, "", flags, env_of({}));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().message,
              "--rfc2136-server (or RFC2136_NAMESERVER): required by provider rfc2136 (host:port)");

    flags.dns.emplace("server", flag_value("127.0.0.1", "--rfc2136-server"));
    flags.dns.emplace("tsig_key", flag_value("renewer.", "--rfc2136-tsig-key"));
    auto half_key = build_config(nullptr, "", flags, env_of({}));
    ASSERT_FALSE(half_key.ok());
    EXPECT_EQ(half_key.error().message, "--rfc2136-tsig-key: needs --rfc2136-tsig-secret-file or RFC2136_TSIG_SECRET");

    auto with_secret = build_config(nullptr, "", flags, env_of({{"RFC2136_TSIG_SECRET", "c2VjcmV0"}}));
    ASSERT_TRUE(with_secret.ok()) << with_secret.error().message;
    EXPECT_EQ(with_secret->certificates[0].store.spec, "dir:/srv/out");  // one certificate: straight in --out
}

TEST(StoreSpec, ParsesBothKinds) {
    auto sm = parse_store_spec("aws-sm:prod/certs/example.com");
    ASSERT_TRUE(sm.ok());
    EXPECT_EQ(sm->kind, StoreSpec::Kind::aws_secrets_manager);
    EXPECT_EQ(sm->location, "prod/certs/example.com");
    auto dir = parse_store_spec("dir:/var/lib/renewer/x");
    ASSERT_TRUE(dir.ok());
    EXPECT_EQ(dir->kind, StoreSpec::Kind::directory);
    EXPECT_EQ(dir->location, "/var/lib/renewer/x");
    EXPECT_FALSE(parse_store_spec("aws-sm:").ok());
    EXPECT_FALSE(parse_store_spec("dir:").ok());
    EXPECT_FALSE(parse_store_spec("/plain/path").ok());
    EXPECT_FALSE(parse_store_spec("aws-sm:" + std::string(513, 'a')).ok());
}

}  // namespace
}  // namespace renewer
