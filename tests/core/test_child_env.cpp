// core::child_environment: what hooks inherit has no secrets (docs/replacement.md#the-deploy-hook).
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/child_env.hpp"
#include "core/log.hpp"

namespace {

bool has(const std::vector<std::string>& block, const std::string& prefix) {
    for (const auto& entry : block) {
        if (entry.rfind(prefix, 0) == 0) {
            return true;
        }
    }
    return false;
}

TEST(ChildEnv, DropsSecretsKeepsTheRest) {
    ::setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
    ::setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEXAMPLETOKEN", 1);
    ::setenv("RFC2136_TSIG_SECRET", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", 1);
    ::setenv("ACME_EAB_HMAC_KEY", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajV", 1);
    ::setenv("MY_DNS_API_SECRET_NAME", "hidden-by-the-config", 1);
    ::setenv("SOMETHING_HOLDING_A_KEY", "x -----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n", 1);
    ::setenv("REGISTERED_ELSEWHERE", "prefix-a-registered-secret-value-suffix", 1);
    ::setenv("AWS_REGION", "eu-west-1", 1);
    ::setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    core::log::register_secret("a-registered-secret-value");

    auto block = core::child_environment({"MY_DNS_API_SECRET_NAME"});
    for (const auto* name :
         {"AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "RFC2136_TSIG_SECRET=", "ACME_EAB_HMAC_KEY=",
          "MY_DNS_API_SECRET_NAME=", "SOMETHING_HOLDING_A_KEY=", "REGISTERED_ELSEWHERE="}) {
        EXPECT_FALSE(has(block, name)) << name;
    }
    EXPECT_TRUE(has(block, "AWS_REGION=eu-west-1"));
    EXPECT_TRUE(has(block, "AWS_ACCESS_KEY_ID=AKIDEXAMPLE"));
    EXPECT_TRUE(has(block, "PATH=") || std::getenv("PATH") == nullptr);

    auto pointers = core::env_pointers(block);
    ASSERT_EQ(pointers.size(), block.size() + 1);
    EXPECT_EQ(pointers.back(), nullptr);
    EXPECT_EQ(std::string(pointers.front()), block.front());
}

}  // namespace
