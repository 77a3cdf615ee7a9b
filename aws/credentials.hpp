// AWS credentials and the SDKs' default provider chain, in their order and
// with their environment names: static env; web identity token + role ARN
// (STS AssumeRoleWithWebIdentity); shared config/credentials files with
// profiles (role_arn + source_profile via STS AssumeRole); ECS container
// endpoint (relative and full URI, auth token); EC2 IMDSv2.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/result.hpp"

namespace aws {

struct Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token;  // empty for long-term keys
    std::optional<std::chrono::system_clock::time_point> expiration;
    std::string source;  // where they came from ("environment", "imds", ...), for logs
};

// Thread-safe; caches and refreshes before expiry.
class CredentialsProvider {
public:
    virtual ~CredentialsProvider() = default;
    virtual core::Result<Credentials> get() = 0;
    // Drops any cached value (after an ExpiredToken answer), so the next get() refreshes.
    virtual void invalidate() = 0;
};

std::shared_ptr<CredentialsProvider> default_credentials_chain();
std::shared_ptr<CredentialsProvider> static_credentials(Credentials credentials);
// No credentials: the client sends the request unsigned (STS
// AssumeRoleWithWebIdentity, which authenticates with the token in its body).
std::shared_ptr<CredentialsProvider> anonymous_credentials();

// Parses the timestamps AWS returns for credential expiry
// ("2026-11-23T20:00:00Z", with optional fractional seconds or "+00:00") with
// core::parse_time, to whole seconds.
core::Result<std::chrono::system_clock::time_point> parse_iso8601(const std::string& text);

// Assumes `role_arn` with the given source credentials (Route53 zone in another account).
struct AssumeRoleOptions {
    std::string role_arn;
    std::string external_id;
    std::string session_name = "renewer";
    std::chrono::seconds duration{3600};
};
std::shared_ptr<CredentialsProvider> assume_role_credentials(std::shared_ptr<CredentialsProvider> source,
                                                             AssumeRoleOptions options);

}  // namespace aws
