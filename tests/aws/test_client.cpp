// aws::Client against tests/fakeaws: one real signed call per call shape,
// retries (throttling, 500), AccessDenied, a bad secret, expired credentials,
// endpoint/region resolution and the rate limiter.
#include <atomic>
#include <chrono>

#include <gtest/gtest.h>

#include "aws/client.hpp"
#include "aws/credentials.hpp"
#include "fakeaws_fixture.hpp"

namespace {

aws::Credentials fake_credentials(const std::string& secret = aws_test::FakeAws::k_secret_key) {
    aws::Credentials c;
    c.access_key_id = aws_test::FakeAws::k_access_key;
    c.secret_access_key = secret;
    c.source = "test";
    return c;
}

core::RetryPolicy fast_retry() {
    core::RetryPolicy policy;
    policy.max_attempts = 4;
    policy.base_delay = std::chrono::milliseconds(5);
    policy.max_delay = std::chrono::milliseconds(20);
    return policy;
}

class AwsClient : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        std::string error;
        fake_ = aws_test::FakeAws::start(error).release();
        if (fake_ == nullptr) {
            start_error_ = error;
        }
    }
    static void TearDownTestSuite() {
        delete fake_;
        fake_ = nullptr;
    }
    void SetUp() override {
        ASSERT_NE(fake_, nullptr) << start_error_;
        env_ = std::make_unique<aws_test::AwsEnv>(fake_->endpoint);
        fake_->control("DELETE", "/_fake/faults");
        fake_->control("DELETE", "/_fake/deny");
        fake_->control("DELETE", "/_fake/calls");
    }
    void TearDown() override { env_.reset(); }

    aws::Client client(std::shared_ptr<aws::CredentialsProvider> credentials = nullptr) {
        aws::ClientSettings settings;
        settings.region = "us-east-1";
        settings.credentials = credentials ? credentials : aws::static_credentials(fake_credentials());
        settings.retry = fast_retry();
        return aws::Client(std::move(settings));
    }

    static aws_test::FakeAws* fake_;
    static std::string start_error_;
    std::unique_ptr<aws_test::AwsEnv> env_;
};

aws_test::FakeAws* AwsClient::fake_ = nullptr;
std::string AwsClient::start_error_;

// Provider that hands out `first` until invalidated, then `second`.
class SwitchingProvider : public aws::CredentialsProvider {
public:
    SwitchingProvider(aws::Credentials first, aws::Credentials second)
        : first_(std::move(first)), second_(std::move(second)) {}
    core::Result<aws::Credentials> get() override { return invalidations_ > 0 ? second_ : first_; }
    void invalidate() override { ++invalidations_; }
    int invalidations() const { return invalidations_; }

private:
    aws::Credentials first_;
    aws::Credentials second_;
    std::atomic<int> invalidations_{0};
};

}  // namespace

TEST_F(AwsClient, QueryStsGetCallerIdentity) {
    auto c = client();
    auto xml = c.query(aws::sts, "GetCallerIdentity", {});
    ASSERT_TRUE(xml.ok()) << xml.error().message;
    EXPECT_NE(xml->find("<Account>"), std::string::npos) << *xml;
    EXPECT_NE(xml->find("<Arn>"), std::string::npos) << *xml;
}

TEST_F(AwsClient, JsonSecretsManagerCreateAndGet) {
    auto c = client();
    const std::string name = "renewer/test/example.com";
    auto created = c.json(aws::secrets_manager, "CreateSecret",
                          {{"Name", name}, {"SecretString", R"({"certificate":"x","private_key":"y"})"}});
    ASSERT_TRUE(created.ok()) << created.error().message;
    EXPECT_EQ(created->value("Name", ""), name);
    auto got = c.json(aws::secrets_manager, "GetSecretValue", {{"SecretId", name}});
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_EQ(got->value("SecretString", ""), R"({"certificate":"x","private_key":"y"})");
    auto stages = got->value("VersionStages", nlohmann::json::array());
    EXPECT_NE(std::find(stages.begin(), stages.end(), "AWSCURRENT"), stages.end());

    // JSON protocol error: code, kind, message naming service and action.
    auto missing = c.json(aws::secrets_manager, "GetSecretValue", {{"SecretId", "renewer/test/missing"}});
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, "ResourceNotFoundException");
    EXPECT_EQ(missing.error().kind, core::ErrorKind::not_found);
    EXPECT_EQ(missing.error().http_status, 400);
    EXPECT_EQ(missing.error().message.rfind("secretsmanager GetSecretValue: ResourceNotFoundException: ", 0), 0u)
        << missing.error().message;
}

TEST_F(AwsClient, RestXmlRoute53ListHostedZones) {
    fake_->control("POST", "/_fake/zones", {{"name", "client-test.example."}});
    auto c = client();
    auto xml = c.rest_xml(aws::route53, "GET", "/2013-04-01/hostedzone", {{"maxitems", "100"}}, "");
    ASSERT_TRUE(xml.ok()) << xml.error().message;
    EXPECT_NE(xml->find("client-test.example."), std::string::npos) << *xml;

    // REST-XML error: Route53's NoSuchHostedZone, action derived from the path.
    auto missing = c.rest_xml(aws::route53, "GET", "/2013-04-01/hostedzone/ZNOSUCHZONE", {}, "");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, "NoSuchHostedZone");
    EXPECT_EQ(missing.error().kind, core::ErrorKind::not_found);
    EXPECT_EQ(missing.error().message.rfind("route53 GetHostedZone: NoSuchHostedZone: ", 0), 0u)
        << missing.error().message;
}

TEST_F(AwsClient, ThrottledTwiceThenSuccess) {
    fake_->control("POST", "/_fake/faults", {{"action", "GetCallerIdentity"}, {"kind", "throttle"}, {"count", 2}});
    auto c = client();
    auto xml = c.query(aws::sts, "GetCallerIdentity", {});
    ASSERT_TRUE(xml.ok()) << xml.error().message;
    EXPECT_EQ(fake_->calls("GetCallerIdentity").size(), 3u);
}

TEST_F(AwsClient, ThrottlingGivesUpAfterMaxAttempts) {
    fake_->control("POST", "/_fake/faults", {{"action", "ListHostedZones"}, {"kind", "throttle"}, {"count", 10}});
    auto c = client();
    auto xml = c.rest_xml(aws::route53, "ListHostedZones", "GET", "/2013-04-01/hostedzone", {}, "");
    ASSERT_FALSE(xml.ok());
    EXPECT_TRUE(xml.error().retryable);
    EXPECT_EQ(xml.error().code, "Throttling");
    EXPECT_EQ(fake_->calls("ListHostedZones").size(), 4u);  // fast_retry().max_attempts
}

TEST_F(AwsClient, ServerError500IsRetried) {
    fake_->control("POST", "/_fake/faults", {{"action", "ListSecrets"}, {"kind", "error500"}, {"count", 1}});
    fake_->control("POST", "/_fake/faults", {{"action", "GetCallerIdentity"}, {"kind", "error500"}, {"count", 1}});
    auto c = client();
    auto xml = c.query(aws::sts, "GetCallerIdentity", {});
    ASSERT_TRUE(xml.ok()) << xml.error().message;
    EXPECT_EQ(fake_->calls("GetCallerIdentity").size(), 2u);
}

TEST_F(AwsClient, PriorRequestNotCompleteIsRetried) {
    fake_->control("POST", "/_fake/faults", {{"action", "ListHostedZones"}, {"kind", "prior"}, {"count", 1}});
    auto c = client();
    auto xml = c.rest_xml(aws::route53, "GET", "/2013-04-01/hostedzone", {}, "");
    ASSERT_TRUE(xml.ok()) << xml.error().message;
    EXPECT_EQ(fake_->calls("ListHostedZones").size(), 2u);
}

TEST_F(AwsClient, DroppedConnectionIsRetried) {
    fake_->control("POST", "/_fake/faults", {{"action", "GetCallerIdentity"}, {"kind", "drop"}, {"count", 1}});
    auto c = client();
    auto xml = c.query(aws::sts, "GetCallerIdentity", {});
    ASSERT_TRUE(xml.ok()) << xml.error().message;
}

TEST_F(AwsClient, AccessDeniedIsAuthAndNotRetried) {
    fake_->control("POST", "/_fake/deny", {{"action", "ChangeResourceRecordSets"}});
    const auto zone = fake_->control("POST", "/_fake/zones", {{"name", "denied.example."}});
    const std::string zone_id = zone.at("id").get<std::string>();
    const std::string id = zone_id.substr(zone_id.rfind('/') + 1);
    auto c = client();
    const std::string body =
        R"(<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>_acme-challenge.denied.example.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"x"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>)";
    auto result = c.rest_xml(aws::route53, "POST", "/2013-04-01/hostedzone/" + id + "/rrset/", {}, body);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.error().code, "AccessDenied");
    EXPECT_EQ(result.error().kind, core::ErrorKind::auth);
    EXPECT_FALSE(result.error().retryable);
    EXPECT_EQ(result.error().message.rfind("route53 ChangeResourceRecordSets: AccessDenied: ", 0), 0u)
        << result.error().message;
    EXPECT_EQ(fake_->calls("ChangeResourceRecordSets").size(), 1u);
}

TEST_F(AwsClient, BadSecretGivesSignatureDoesNotMatch) {
    auto c = client(aws::static_credentials(fake_credentials("not-the-secret-key-at-all")));
    auto xml = c.query(aws::sts, "GetCallerIdentity", {});
    ASSERT_FALSE(xml.ok());
    EXPECT_EQ(xml.error().code, "SignatureDoesNotMatch");
    EXPECT_EQ(xml.error().http_status, 403);
    EXPECT_EQ(xml.error().kind, core::ErrorKind::auth);
    EXPECT_FALSE(xml.error().retryable);
    EXPECT_EQ(fake_->calls("GetCallerIdentity").size(), 1u);

    // The JSON protocol's own code for the same failure.
    auto json = c.json(aws::secrets_manager, "ListSecrets", nlohmann::json::object());
    ASSERT_FALSE(json.ok());
    EXPECT_EQ(json.error().code, "InvalidSignatureException");
    EXPECT_EQ(json.error().kind, core::ErrorKind::auth);
}

TEST_F(AwsClient, ExpiredTokenRefreshesCredentialsOnce) {
    // Temporary keys that the fake then expires: the first call answers
    // ExpiredToken, the client invalidates, the provider hands out good keys.
    fake_->control("POST", "/_fake/credentials",
                   {{"access_key", "ASIAEXPIREDTEST00001"},
                    {"secret_key", "expired-secret-key-0123456789"},
                    {"token", "expired-session-token-0123456789"}});
    fake_->control("POST", "/_fake/credentials/expire", {{"access_key", "ASIAEXPIREDTEST00001"}});
    aws::Credentials expired;
    expired.access_key_id = "ASIAEXPIREDTEST00001";
    expired.secret_access_key = "expired-secret-key-0123456789";
    expired.session_token = "expired-session-token-0123456789";
    auto provider = std::make_shared<SwitchingProvider>(expired, fake_credentials());
    auto c = client(provider);
    auto xml = c.query(aws::sts, "GetCallerIdentity", {});
    ASSERT_TRUE(xml.ok()) << xml.error().message;
    EXPECT_EQ(provider->invalidations(), 1);
}

TEST_F(AwsClient, EndpointResolutionOrder) {
    aws_test::ScopedEnv env;
    env.set("AWS_ENDPOINT_URL", "http://127.0.0.1:1/global/");
    env.set("AWS_ENDPOINT_URL_ROUTE_53", "http://127.0.0.1:2");
    EXPECT_EQ(aws::resolve_endpoint(aws::route53, "eu-west-1"), "http://127.0.0.1:2");
    EXPECT_EQ(aws::resolve_endpoint(aws::sts, "eu-west-1"), "http://127.0.0.1:1/global");
    env.set("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
    EXPECT_EQ(aws::resolve_endpoint(aws::route53, "eu-west-1"), "https://route53.amazonaws.com");
    EXPECT_EQ(aws::resolve_endpoint(aws::sts, "eu-west-1"), "https://sts.eu-west-1.amazonaws.com");
    EXPECT_EQ(aws::resolve_endpoint(aws::secrets_manager, "ap-south-1"),
              "https://secretsmanager.ap-south-1.amazonaws.com");
    EXPECT_EQ(aws::resolve_endpoint(aws::ec2, "cn-north-1"), "https://ec2.cn-north-1.amazonaws.com.cn");
}

TEST_F(AwsClient, EndpointAndRegionFromProfile) {
    aws_test::TempDir dir;
    aws_test::write_text(dir / "config",
                         "[profile dev]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:3\n"
                         "services = local\n\n[services local]\nroute_53 =\n  endpoint_url = http://127.0.0.1:4\n");
    aws_test::ScopedEnv env;
    env.unset("AWS_ENDPOINT_URL");
    env.unset("AWS_REGION");
    env.set("AWS_CONFIG_FILE", (dir / "config").string());
    env.set("AWS_PROFILE", "dev");
    EXPECT_EQ(aws::resolve_region(), "eu-central-1");
    EXPECT_EQ(aws::resolve_endpoint(aws::route53, "eu-central-1"), "http://127.0.0.1:4");
    EXPECT_EQ(aws::resolve_endpoint(aws::sts, "eu-central-1"), "http://127.0.0.1:3");
    env.set("AWS_DEFAULT_REGION", "sa-east-1");
    EXPECT_EQ(aws::resolve_region(), "sa-east-1");
    env.set("AWS_REGION", "ca-central-1");
    EXPECT_EQ(aws::resolve_region(), "ca-central-1");
}

TEST(AwsRateLimiter, SpacesRequests) {
    aws::RateLimiter limiter(20.0);  // burst 20, then one per 50 ms
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 23; ++i) {
        ASSERT_TRUE(limiter.acquire().ok());
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_GE(elapsed, std::chrono::milliseconds(140));
    // A deadline shorter than the next slot fails instead of waiting.
    auto late = limiter.acquire(core::Deadline::after(std::chrono::milliseconds(1)));
    EXPECT_FALSE(late.ok());
}

TEST_F(AwsClient, BadEndpointIsInvalidInputNamingTheCall) {
    aws_test::ScopedEnv env;
    env.set("AWS_ENDPOINT_URL_STS", "not a url");
    auto c = client();
    auto xml = c.query(aws::sts, "GetCallerIdentity", {});
    ASSERT_FALSE(xml.ok());
    EXPECT_EQ(xml.error().kind, core::ErrorKind::invalid_input);
    EXPECT_EQ(xml.error().message.rfind("sts GetCallerIdentity: endpoint not a url", 0), 0u) << xml.error().message;
}
