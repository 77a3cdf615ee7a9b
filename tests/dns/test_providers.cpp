// The provider table, settings from named environment constants, and the exec
// provider against small shell scripts.
#include <gtest/gtest.h>

#include <map>

#include "dns/config.hpp"
#include "dns/exec.hpp"
#include "dns/provider.hpp"
#include "dns/rfc2136.hpp"
#include "dns/route53.hpp"
#include "test_util.hpp"

namespace {

dns::Env env_of(std::map<std::string, std::string> values) {
    return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
        auto it = values.find(std::string(name));
        if (it == values.end()) {
            return std::nullopt;
        }
        return it->second;
    };
}

}  // namespace

TEST(DnsProviders, TableNamesEveryProvider) {
    std::vector<std::string> names;
    for (const auto& f : dns::provider_factories()) {
        names.emplace_back(f.name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"route53", "rfc2136", "exec"}));
    auto unknown = dns::make_provider("cloudflare", env_of({}));
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message.find("known: route53, rfc2136, exec"), std::string::npos);
}

TEST(DnsProviders, Rfc2136SettingsFromEnv) {
    auto s = dns::Rfc2136Settings::from_env(env_of({{"RFC2136_NAMESERVER", "127.0.0.1:5353"},
                                                    {"RFC2136_TSIG_KEY", "k."},
                                                    {"RFC2136_TSIG_SECRET", "c2VjcmV0"},
                                                    {"RFC2136_TSIG_ALGORITHM", "hmac-sha512."},
                                                    {"RFC2136_TTL", "120"}}));
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->nameserver, "127.0.0.1:5353");
    EXPECT_EQ(s->ttl, 120U);
    EXPECT_EQ(s->tsig_algorithm, "hmac-sha512.");
    EXPECT_TRUE(dns::make_rfc2136(*s).ok());

    auto missing = dns::make_provider("rfc2136", env_of({}));
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().message.find("RFC2136_NAMESERVER"), std::string::npos);
    auto half_key =
        dns::make_provider("rfc2136", env_of({{"RFC2136_NAMESERVER", "127.0.0.1"}, {"RFC2136_TSIG_KEY", "k"}}));
    ASSERT_FALSE(half_key.ok());
    EXPECT_NE(half_key.error().message.find("RFC2136_TSIG_SECRET"), std::string::npos);
    auto bad_ttl =
        dns::make_provider("rfc2136", env_of({{"RFC2136_NAMESERVER", "127.0.0.1"}, {"RFC2136_TTL", "soon"}}));
    ASSERT_FALSE(bad_ttl.ok());
    EXPECT_NE(bad_ttl.error().message.find("RFC2136_TTL"), std::string::npos);
    auto bad_alg = dns::make_provider("rfc2136", env_of({{"RFC2136_NAMESERVER", "127.0.0.1"},
                                                         {"RFC2136_TSIG_KEY", "k"},
                                                         {"RFC2136_TSIG_SECRET", "c2VjcmV0"},
                                                         {"RFC2136_TSIG_ALGORITHM", "hmac-md5"}}));
    ASSERT_FALSE(bad_alg.ok());
    EXPECT_NE(bad_alg.error().message.find("hmac-md5"), std::string::npos);
}

TEST(DnsProviders, Route53SettingsFromEnv) {
    auto s = dns::Route53Settings::from_env(env_of({{"AWS_HOSTED_ZONE_ID", "Z123"},
                                                    {"AWS_PRIVATE_ZONE", "true"},
                                                    {"AWS_TTL", "30"},
                                                    {"AWS_ASSUME_ROLE_ARN", "arn:aws:iam::1:role/dns"},
                                                    {"AWS_EXTERNAL_ID", "ext"},
                                                    {"AWS_ROUTE53_REQUESTS_PER_SECOND", "2.5"}}));
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->hosted_zone_id, "Z123");
    EXPECT_EQ(s->zone_visibility, dns::ZoneVisibility::prefer_private);
    EXPECT_EQ(s->ttl, 30U);
    EXPECT_EQ(s->assume_role_arn, "arn:aws:iam::1:role/dns");
    EXPECT_EQ(s->external_id, "ext");
    EXPECT_DOUBLE_EQ(s->requests_per_second, 2.5);
    auto defaults = dns::Route53Settings::from_env(env_of({}));
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->zone_visibility, dns::ZoneVisibility::prefer_public);
    EXPECT_DOUBLE_EQ(defaults->requests_per_second, 4.0);
    EXPECT_FALSE(dns::Route53Settings::from_env(env_of({{"AWS_PRIVATE_ZONE", "maybe"}})).ok());
}

TEST(DnsExec, RunsPresentAndCleanupWithArgv) {
    dns_test::TempDir dir;
    const std::string log = dir.file("calls.log");
    dir.write("hook.sh", "#!/bin/sh\necho \"$1|$2|$3\" >> '" + log + "'\necho hook says $1\n", 0755);
    auto provider = dns::make_exec({dir.file("hook.sh"), std::chrono::seconds(10)});
    ASSERT_TRUE(provider.ok());
    // A value with spaces and shell metacharacters reaches the hook as one argument.
    const std::vector<dns::TxtRecord> records{{"_acme-challenge.example.com.", "v1"},
                                              {"_acme-challenge.example.com.", "a b;$(x)"}};
    ASSERT_TRUE((*provider)->present(records).ok());
    ASSERT_TRUE((*provider)->cleanup(records).ok());
    EXPECT_EQ(dns_test::read_text(log),
              "present|_acme-challenge.example.com.|v1\n"
              "present|_acme-challenge.example.com.|a b;$(x)\n"
              "cleanup|_acme-challenge.example.com.|v1\n"
              "cleanup|_acme-challenge.example.com.|a b;$(x)\n");
}

TEST(DnsExec, NonZeroExitNamesCodeAndOutput) {
    dns_test::TempDir dir;
    dir.write("hook.sh", "#!/bin/sh\necho first line\necho 'api said: zone not found' >&2\nexit 3\n", 0755);
    auto provider = dns::make_exec({dir.file("hook.sh"), std::chrono::seconds(10)});
    ASSERT_TRUE(provider.ok());
    auto status = (*provider)->present({{"_acme-challenge.example.com.", "v"}});
    ASSERT_FALSE(status.ok());
    const std::string& m = status.error().message;
    EXPECT_NE(m.find("exited with code 3"), std::string::npos) << m;
    EXPECT_NE(m.find("api said: zone not found"), std::string::npos) << m;
    EXPECT_NE(m.find("_acme-challenge.example.com."), std::string::npos) << m;
}

TEST(DnsExec, TimeoutKillsTheCommand) {
    dns_test::TempDir dir;
    dir.write("hook.sh", "#!/bin/sh\necho started\nexec sleep 30\n", 0755);
    auto provider = dns::make_exec({dir.file("hook.sh"), std::chrono::milliseconds(300)});
    ASSERT_TRUE(provider.ok());
    const auto started = std::chrono::steady_clock::now();
    auto status = (*provider)->present({{"_acme-challenge.example.com.", "v"}});
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, core::ErrorKind::timeout);
    EXPECT_NE(status.error().message.find("killed after 300ms"), std::string::npos) << status.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST(DnsExec, MissingCommandIsClear) {
    auto provider = dns::make_exec({"/nonexistent/hook", std::chrono::seconds(5)});
    ASSERT_TRUE(provider.ok());
    auto status = (*provider)->present({{"_acme-challenge.example.com.", "v"}});
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.error().message.find("/nonexistent/hook"), std::string::npos);
    EXPECT_FALSE(dns::make_provider("exec", [](std::string_view) { return std::optional<std::string>(); }).ok());
}
