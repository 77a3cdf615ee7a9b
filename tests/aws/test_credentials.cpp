// The default credentials chain: each source against tests/fakeaws (STS
// AssumeRole / AssumeRoleWithWebIdentity, the ECS endpoint, IMDSv2), their
// precedence, caching, the "nothing found" error and secret redaction.
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws/client.hpp"
#include "aws/credentials.hpp"
#include "core/log.hpp"
#include "fakeaws_fixture.hpp"

namespace {

constexpr const char* k_role_arn = "arn:aws:iam::123456789012:role/renewer-dns";
// A syntactically valid JWT (header.payload.signature, base64url): {"alg":"none"}.{"sub":"system:serviceaccount:web:renewer"}.
constexpr const char* k_jwt =
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6d2ViOnJlbmV3ZXIifQ.c2lnbmF0dXJl";

class AwsCredentials : public ::testing::Test {
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
        fake_->control("DELETE", "/_fake/calls");
    }
    void TearDown() override { env_.reset(); }

    // Proves the credentials work: a signed STS GetCallerIdentity with them; returns the Arn.
    std::string caller_arn(const aws::Credentials& credentials) {
        aws::ClientSettings settings;
        settings.region = "us-east-1";
        settings.credentials = aws::static_credentials(credentials);
        aws::Client client(std::move(settings));
        auto xml = client.query(aws::sts, "GetCallerIdentity", {});
        EXPECT_TRUE(xml.ok()) << (xml.ok() ? "" : xml.error().message);
        if (!xml.ok()) {
            return {};
        }
        const std::size_t begin = xml->find("<Arn>");
        const std::size_t end = xml->find("</Arn>");
        return begin == std::string::npos ? *xml : xml->substr(begin + 5, end - begin - 5);
    }

    void write_files(const std::string& config, const std::string& credentials) {
        aws_test::write_text(dir_ / "config", config);
        aws_test::write_text(dir_ / "credentials", credentials);
        env_->set("AWS_CONFIG_FILE", (dir_ / "config").string());
        env_->set("AWS_SHARED_CREDENTIALS_FILE", (dir_ / "credentials").string());
    }

    static aws_test::FakeAws* fake_;
    static std::string start_error_;
    std::unique_ptr<aws_test::AwsEnv> env_;
    aws_test::TempDir dir_;
};

aws_test::FakeAws* AwsCredentials::fake_ = nullptr;
std::string AwsCredentials::start_error_;

}  // namespace

TEST(AwsCredentialsUnit, ParseIso8601) {
    using namespace std::chrono;
    const auto base = aws::parse_iso8601("2026-11-23T20:00:00Z");
    ASSERT_TRUE(base.ok());
    EXPECT_EQ(duration_cast<seconds>(base->time_since_epoch()).count(), 1795464000);
    EXPECT_EQ(*aws::parse_iso8601("2026-11-23T20:00:00.123Z"), *base);
    EXPECT_EQ(*aws::parse_iso8601("2026-11-23T21:00:00+01:00"), *base);
    EXPECT_FALSE(aws::parse_iso8601("tomorrow").ok());
}

TEST(AwsCredentialsUnit, EnvironmentSource) {
    aws_test::AwsEnv env;
    env.set("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT0001");
    env.set("AWS_SECRET_ACCESS_KEY", "environment-secret-key-0123456789");
    env.set("AWS_SESSION_TOKEN", "environment-session-token-0123456789");
    auto chain = aws::default_credentials_chain();
    auto c = chain->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->access_key_id, "AKIAENVIRONMENT0001");
    EXPECT_EQ(c->session_token, "environment-session-token-0123456789");
    EXPECT_EQ(c->source, "environment");
    // Secrets obtained are registered for redaction.
    const std::string line = core::log::redact(
        "key environment-secret-key-0123456789 token "
        "environment-session-token-0123456789");
    EXPECT_EQ(line.find("environment-secret-key"), std::string::npos) << line;
    EXPECT_EQ(line.find("environment-session-token"), std::string::npos) << line;

    // Cached until invalidated.
    env.set("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT0002");
    EXPECT_EQ(chain->get()->access_key_id, "AKIAENVIRONMENT0001");
    chain->invalidate();
    EXPECT_EQ(chain->get()->access_key_id, "AKIAENVIRONMENT0002");
}

TEST(AwsCredentialsUnit, HalfConfiguredEnvironmentIsAnError) {
    aws_test::AwsEnv env;
    env.set("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT0001");
    auto c = aws::default_credentials_chain()->get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind, core::ErrorKind::auth);
    EXPECT_NE(c.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << c.error().message;
}

TEST(AwsCredentialsUnit, NothingConfiguredNamesEverySource) {
    aws_test::AwsEnv env;
    auto c = aws::default_credentials_chain()->get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind, core::ErrorKind::auth);
    const std::string& m = c.error().message;
    for (const char* source : {"environment", "web identity", "shared files", "container endpoint",
                               "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"}) {
        EXPECT_NE(m.find(source), std::string::npos) << source << " missing from: " << m;
    }
}

TEST(AwsCredentialsUnit, ContainerFullUriMustBeLoopbackOrHttps) {
    aws_test::AwsEnv env;
    env.set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.10/creds");
    auto c = aws::default_credentials_chain()->get();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("loopback"), std::string::npos) << c.error().message;
}

TEST_F(AwsCredentials, SharedFilesProfiles) {
    write_files(
        "[default]\nregion = eu-west-1\n\n[profile dev]\nregion = eu-west-2\n"
        "aws_access_key_id = AKIACONFIGDEV00000\naws_secret_access_key = config-dev-secret-000000\n\n"
        "[profile cfgonly]\naws_access_key_id = AKIACONFIGONLY0000\n"
        "aws_secret_access_key = config-only-secret-000000\n",
        "# comment\n[default]\naws_access_key_id = AKIDEXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n\n"
        "[dev]\naws_access_key_id = AKIACREDSDEV000000\naws_secret_access_key = creds-dev-secret-0000000\n"
        "aws_session_token = creds-dev-token-00000000\n");
    auto c = aws::default_credentials_chain()->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->access_key_id, "AKIDEXAMPLE");
    EXPECT_EQ(c->source, "shared-config:default");
    EXPECT_NE(caller_arn(*c).find("arn:aws:"), std::string::npos);

    // AWS_PROFILE; the credentials file wins over the config file.
    env_->set("AWS_PROFILE", "dev");
    c = aws::default_credentials_chain()->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->access_key_id, "AKIACREDSDEV000000");
    EXPECT_EQ(c->session_token, "creds-dev-token-00000000");

    env_->set("AWS_PROFILE", "cfgonly");
    c = aws::default_credentials_chain()->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->access_key_id, "AKIACONFIGONLY0000");

    // A named profile that does not exist is an error, not a fall-through.
    env_->set("AWS_PROFILE", "nosuch");
    c = aws::default_credentials_chain()->get();
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message.find("nosuch"), std::string::npos) << c.error().message;
}

TEST_F(AwsCredentials, ProfileRoleArnWithSourceProfile) {
    fake_->control("POST", "/_fake/roles", {{"arn", k_role_arn}, {"external_id", "ext-42"}});
    write_files(std::string("[profile dns]\nrole_arn = ") + k_role_arn +
                    "\nsource_profile = base\nexternal_id = ext-42\nrole_session_name = renewer-test\n",
                "[base]\naws_access_key_id = AKIDEXAMPLE\n"
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n");
    env_->set("AWS_PROFILE", "dns");
    auto c = aws::default_credentials_chain()->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->source, "assume-role:dns");
    EXPECT_FALSE(c->session_token.empty());
    ASSERT_TRUE(c->expiration.has_value());
    EXPECT_GT(*c->expiration, std::chrono::system_clock::now() + std::chrono::minutes(10));
    EXPECT_NE(caller_arn(*c).find("assumed-role/renewer-dns/renewer-test"), std::string::npos);
    const auto calls = fake_->calls("AssumeRole");
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].dump().find("ext-42") != std::string::npos, true) << calls[0].dump();

    // Wrong external id: AccessDenied from STS, reported with the profile.
    write_files(
        std::string("[profile dns]\nrole_arn = ") + k_role_arn + "\nsource_profile = base\nexternal_id = wrong\n",
        "[base]\naws_access_key_id = AKIDEXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n");
    c = aws::default_credentials_chain()->get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, "AccessDenied");
    EXPECT_EQ(c.error().kind, core::ErrorKind::auth);
    EXPECT_NE(c.error().message.find("sts AssumeRole"), std::string::npos) << c.error().message;
}

TEST_F(AwsCredentials, AssumeRoleCredentialsApi) {
    aws::Credentials base;
    base.access_key_id = aws_test::FakeAws::k_access_key;
    base.secret_access_key = aws_test::FakeAws::k_secret_key;
    aws::AssumeRoleOptions options;
    options.role_arn = "arn:aws:iam::210987654321:role/zone-owner";
    options.session_name = "cross-account";
    auto provider = aws::assume_role_credentials(aws::static_credentials(base), options);
    auto c = provider->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_NE(caller_arn(*c).find("assumed-role/zone-owner/cross-account"), std::string::npos);
    // Cached: a second get() does not call STS again; invalidate() does.
    EXPECT_EQ(provider->get()->access_key_id, c->access_key_id);
    EXPECT_EQ(fake_->calls("AssumeRole").size(), 1u);
    provider->invalidate();
    EXPECT_NE(provider->get()->access_key_id, c->access_key_id);
    EXPECT_EQ(fake_->calls("AssumeRole").size(), 2u);
}

TEST_F(AwsCredentials, WebIdentityFromEnvironment) {
    aws_test::write_text(dir_ / "token", std::string(k_jwt) + "\n");
    env_->set("AWS_WEB_IDENTITY_TOKEN_FILE", (dir_ / "token").string());
    env_->set("AWS_ROLE_ARN", k_role_arn);
    env_->set("AWS_ROLE_SESSION_NAME", "web-session");
    auto c = aws::default_credentials_chain()->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->source, "web-identity");
    EXPECT_NE(caller_arn(*c).find("assumed-role/renewer-dns/web-session"), std::string::npos);
    // The call went out unsigned (the token is the proof).
    const auto calls = fake_->calls("AssumeRoleWithWebIdentity");
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_TRUE(calls[0].value("access_key", nlohmann::json()).is_null()) << calls[0].dump();
    // The token never reaches a log line.
    EXPECT_EQ(core::log::redact(k_jwt).find(k_jwt), std::string::npos);

    // A configured source that fails ends the search with its error.
    aws_test::write_text(dir_ / "token", "not-a-jwt-token");
    auto bad = aws::default_credentials_chain()->get();
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, "InvalidIdentityToken");
}

TEST_F(AwsCredentials, ContainerFullUriWithToken) {
    fake_->control("POST", "/_fake/metadata", {{"ecs_id", "task-1"}, {"ecs_token", "container-auth-token-0123"}});
    env_->set("AWS_CONTAINER_CREDENTIALS_FULL_URI", fake_->endpoint + "/ecs/credentials/task-1");
    env_->set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token-0123");
    auto c = aws::default_credentials_chain()->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->source, "container");
    EXPECT_TRUE(c->expiration.has_value());
    EXPECT_NE(caller_arn(*c).find("ecs-task-role"), std::string::npos);

    // The token file wins over the variable (as in the SDKs).
    aws_test::write_text(dir_ / "ecs-token", "container-auth-token-0123\n");
    env_->set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token-000000000");
    env_->set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", (dir_ / "ecs-token").string());
    c = aws::default_credentials_chain()->get();
    ASSERT_TRUE(c.ok()) << c.error().message;

    // A wrong token: the endpoint answers 401, an auth error.
    env_->unset("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    c = aws::default_credentials_chain()->get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().kind, core::ErrorKind::auth);
}

TEST_F(AwsCredentials, ImdsV2) {
    env_->unset("AWS_EC2_METADATA_DISABLED");
    env_->set("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake_->endpoint + "/");
    auto chain = aws::default_credentials_chain();
    // Concurrent first use: one fetch, everyone gets the same keys.
    std::vector<std::string> keys(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        threads.emplace_back([&chain, &keys, i] {
            auto c = chain->get();
            keys[i] = c.ok() ? c->access_key_id : "error: " + c.error().message;
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& key : keys) {
        EXPECT_EQ(key, keys[0]);
    }
    auto c = chain->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->source, "imds");
    EXPECT_NE(caller_arn(*c).find("renewer-instance-role"), std::string::npos);
    EXPECT_EQ(fake_->calls("GetToken").size(), 1u);
    EXPECT_EQ(fake_->calls("GetRoleCredentials").size(), 1u);
}

TEST_F(AwsCredentials, ChainPrecedence) {
    // Every source configured at once, then removed one by one.
    env_->set("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT0001");
    env_->set("AWS_SECRET_ACCESS_KEY", "environment-secret-key-0123456789");
    aws_test::write_text(dir_ / "token", k_jwt);
    env_->set("AWS_WEB_IDENTITY_TOKEN_FILE", (dir_ / "token").string());
    env_->set("AWS_ROLE_ARN", k_role_arn);
    write_files("",
                "[default]\naws_access_key_id = AKIDEXAMPLE\n"
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n");
    fake_->control("POST", "/_fake/metadata", {{"ecs_id", "task-2"}, {"ecs_token", "container-auth-token-0123"}});
    env_->set("AWS_CONTAINER_CREDENTIALS_FULL_URI", fake_->endpoint + "/ecs/credentials/task-2");
    env_->set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token-0123");
    env_->unset("AWS_EC2_METADATA_DISABLED");
    env_->set("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake_->endpoint);

    auto source = [] {
        auto c = aws::default_credentials_chain()->get();
        return c.ok() ? c->source : "error: " + c.error().message;
    };
    EXPECT_EQ(source(), "environment");
    env_->unset("AWS_ACCESS_KEY_ID");
    env_->unset("AWS_SECRET_ACCESS_KEY");
    EXPECT_EQ(source(), "web-identity");
    env_->unset("AWS_WEB_IDENTITY_TOKEN_FILE");
    EXPECT_EQ(source(), "shared-config:default");
    env_->set("AWS_SHARED_CREDENTIALS_FILE", (dir_ / "missing").string());
    EXPECT_EQ(source(), "container");
    env_->unset("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    EXPECT_EQ(source(), "imds");
    env_->set("AWS_EC2_METADATA_DISABLED", "true");
    EXPECT_EQ(source().rfind("error: no AWS credentials found", 0), 0u);
}

TEST_F(AwsCredentials, ProfileWebIdentityTokenFile) {
    aws_test::write_text(dir_ / "token", k_jwt);
    write_files(std::string("[profile eks]\nrole_arn = ") + k_role_arn +
                    "\nweb_identity_token_file = " + (dir_ / "token").string() + "\nrole_session_name = profile-web\n",
                "");
    env_->set("AWS_PROFILE", "eks");
    auto c = aws::default_credentials_chain()->get();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->source, "assume-role-web-identity:eks");
    EXPECT_NE(caller_arn(*c).find("assumed-role/renewer-dns/profile-web"), std::string::npos);
}

TEST_F(AwsCredentials, RefreshesFiveMinutesBeforeExpiry) {
    env_->unset("AWS_EC2_METADATA_DISABLED");
    env_->set("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake_->endpoint);
    // Credentials valid for 200 s are inside the 5-minute window: every get() refreshes.
    fake_->control("POST", "/_fake/metadata", {{"duration", 200}});
    auto chain = aws::default_credentials_chain();
    ASSERT_TRUE(chain->get().ok());
    ASSERT_TRUE(chain->get().ok());
    EXPECT_EQ(fake_->calls("GetRoleCredentials").size(), 2u);
    // Six hours: cached.
    fake_->control("POST", "/_fake/metadata", {{"duration", 21600}});
    fake_->control("DELETE", "/_fake/calls");
    chain->invalidate();
    ASSERT_TRUE(chain->get().ok());
    ASSERT_TRUE(chain->get().ok());
    EXPECT_EQ(fake_->calls("GetRoleCredentials").size(), 1u);
}

// The metadata and container endpoints are this host's own: a proxy in the
// environment (set for the outbound AWS APIs) must not carry them. The proxy
// here is a closed port, so any request sent through it fails.
TEST_F(AwsCredentials, ImdsAndContainerGoDirectNotThroughTheProxy) {
    int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(probe, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&addr), len), 0);
    ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    ::close(probe);  // nothing listens there now
    const std::string proxy = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    // Only around the chain: the fake's control calls must still reach it.
    auto through_proxy_env = [&proxy] {
        auto chain = aws::default_credentials_chain();
        aws_test::ScopedEnv env;
        for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
            env.set(name, proxy);
        }
        env.unset("no_proxy");
        env.unset("NO_PROXY");
        return chain->get();
    };

    env_->unset("AWS_EC2_METADATA_DISABLED");
    env_->set("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake_->endpoint);
    auto c = through_proxy_env();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->source, "imds");
    EXPECT_EQ(fake_->calls("GetToken").size(), 1u);

    fake_->control("POST", "/_fake/metadata", {{"ecs_id", "task-3"}, {"ecs_token", "container-auth-token-0123"}});
    env_->set("AWS_CONTAINER_CREDENTIALS_FULL_URI", fake_->endpoint + "/ecs/credentials/task-3");
    env_->set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-auth-token-0123");
    c = through_proxy_env();
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_EQ(c->source, "container");
}
