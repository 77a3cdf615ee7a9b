// The shared config/credentials file parser and profile resolution.
#include <gtest/gtest.h>

#include "aws/config_file.hpp"
#include "fakeaws_fixture.hpp"

using aws::config::parse_ini;
using aws::config::SharedConfig;

TEST(AwsConfigFile, ParsesSectionsKeysCommentsAndNestedBlocks) {
    const auto parsed = parse_ini(
        "# leading comment\n"
        "; another\n"
        "[default]\n"
        "Region = us-west-2   \n"
        "  \n"
        "aws_secret_access_key=abc#def;ghi\n"
        "[ profile   dev ]\n"
        "role_arn = arn:aws:iam::123456789012:role/x\n"
        "s3 =\n"
        "  max_concurrent_requests = 20\n"
        "\tsignature_version = s3v4\n"
        "region = eu-west-1\r\n"
        "[services local]\n"
        "route_53 =\n"
        "  endpoint_url = http://127.0.0.1:4566\n");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    const auto& sections = *parsed;
    ASSERT_EQ(sections.size(), 3u);
    EXPECT_EQ(sections.at("default").at("region"), "us-west-2");                   // keys lower-cased, values trimmed
    EXPECT_EQ(sections.at("default").at("aws_secret_access_key"), "abc#def;ghi");  // no inline comments
    const auto& dev = sections.at("profile dev");
    EXPECT_EQ(dev.at("s3.max_concurrent_requests"), "20");
    EXPECT_EQ(dev.at("s3.signature_version"), "s3v4");
    EXPECT_EQ(dev.at("region"), "eu-west-1");
    EXPECT_EQ(sections.at("services local").at("route_53.endpoint_url"), "http://127.0.0.1:4566");
}

TEST(AwsConfigFile, ErrorsNameTheLine) {
    auto outside = parse_ini("region = x\n", "cfg");
    ASSERT_FALSE(outside.ok());
    EXPECT_EQ(outside.error().message, "cfg line 1: property outside any [section]");
    auto bad_header = parse_ini("[default\n", "cfg");
    ASSERT_FALSE(bad_header.ok());
    EXPECT_NE(bad_header.error().message.find("line 1"), std::string::npos);
    auto no_equals = parse_ini("[default]\n\njust words\n", "cfg");
    ASSERT_FALSE(no_equals.ok());
    EXPECT_NE(no_equals.error().message.find("line 3"), std::string::npos);
}

TEST(AwsConfigFile, ProfileLookupAndOverlay) {
    const SharedConfig shared = SharedConfig::from_text(
        "[default]\nregion = us-east-2\n[profile default]\nregion = ignored\n"
        "[profile dev]\nregion = eu-west-3\naws_access_key_id = FROMCONFIG\n"
        "[dev]\nregion = not-a-profile-in-config\n",
        "[dev]\naws_access_key_id = FROMCREDENTIALS\naws_secret_access_key = s\n[only-creds]\nx = 1\n");
    auto def = shared.profile("default");
    ASSERT_TRUE(def.has_value());
    EXPECT_EQ(def->at("region"), "us-east-2");
    auto dev = shared.profile("dev");
    ASSERT_TRUE(dev.has_value());
    EXPECT_EQ(dev->at("region"), "eu-west-3");                   // "[dev]" in the config file is not profile dev
    EXPECT_EQ(dev->at("aws_access_key_id"), "FROMCREDENTIALS");  // credentials file wins
    EXPECT_TRUE(shared.profile("only-creds").has_value());
    EXPECT_FALSE(shared.profile("missing").has_value());
    EXPECT_FALSE(shared.services("none").has_value());
}

TEST(AwsConfigFile, LocationsFromEnvironment) {
    aws_test::ScopedEnv env;
    env.set("HOME", "/home/tester");
    env.unset("AWS_CONFIG_FILE");
    env.unset("AWS_SHARED_CREDENTIALS_FILE");
    env.unset("AWS_PROFILE");
    env.unset("AWS_DEFAULT_PROFILE");
    EXPECT_EQ(aws::config::config_file_path(), "/home/tester/.aws/config");
    EXPECT_EQ(aws::config::credentials_file_path(), "/home/tester/.aws/credentials");
    EXPECT_EQ(aws::config::profile_name(), "default");
    env.set("AWS_CONFIG_FILE", "~/cfg");
    env.set("AWS_SHARED_CREDENTIALS_FILE", "/etc/creds");
    env.set("AWS_PROFILE", "ops");
    EXPECT_EQ(aws::config::config_file_path(), "/home/tester/cfg");
    EXPECT_EQ(aws::config::credentials_file_path(), "/etc/creds");
    EXPECT_EQ(aws::config::profile_name(), "ops");
}

TEST(AwsConfigFile, LoadReadsBothFilesAndToleratesMissingOnes) {
    aws_test::TempDir dir;
    aws_test::ScopedEnv env;
    aws_test::write_text(dir / "config", "[profile a]\nregion = ap-south-1\n");
    env.set("AWS_CONFIG_FILE", (dir / "config").string());
    env.set("AWS_SHARED_CREDENTIALS_FILE", (dir / "missing").string());
    env.set("AWS_PROFILE", "a");
    auto shared = SharedConfig::load();
    ASSERT_TRUE(shared.ok()) << shared.error().message;
    EXPECT_EQ(shared->profile("a")->at("region"), "ap-south-1");
    EXPECT_EQ(aws::config::profile_value("region"), "ap-south-1");
    EXPECT_EQ(aws::config::profile_value("nothing"), "");

    aws_test::write_text(dir / "config", "oops\n");
    auto broken = SharedConfig::load();
    ASSERT_FALSE(broken.ok());
    EXPECT_NE(broken.error().message.find((dir / "config").string()), std::string::npos);
}
