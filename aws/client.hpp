// The AWS call shapes shared by every service we use: Query (EC2, AutoScaling,
// STS), JSON 1.1 (Secrets Manager, ECS), JSON 1.0 (DynamoDB) and REST-XML (Route53), each signed
// with SigV4, retried by the same rules, and with errors parsed into
// core::Error (code = the AWS error code, e.g. "Throttling", "AccessDenied").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "aws/credentials.hpp"
#include "core/http.hpp"
#include "core/result.hpp"
#include "core/retry.hpp"

namespace aws {

// How a service is named on the wire and in the environment.
struct Service {
    const char* signing_name;     // SigV4 service name ("route53")
    const char* endpoint_prefix;  // host prefix ("route53", "secretsmanager")
    const char* env_name;         // AWS_ENDPOINT_URL_<env_name> ("ROUTE_53")
    const char* api_version;      // Query API version / REST path version
    const char* json_target;      // JSON 1.1 X-Amz-Target prefix, or nullptr
    bool global;                  // one endpoint for all regions, signed for us-east-1
    // JSON protocol version: "1.1", or "1.0" for DynamoDB (Content-Type
    // application/x-amz-json-<version>; the service model's jsonVersion).
    const char* json_version = "1.1";
};

extern const Service route53;
extern const Service secrets_manager;
extern const Service ec2;
extern const Service autoscaling;
extern const Service ecs;
extern const Service sts;
extern const Service dynamodb;

// A token bucket shared by every client that talks to one rate-limited API
// (Route53 allows an account a few requests per second). Thread-safe.
class RateLimiter {
public:
    explicit RateLimiter(double requests_per_second);
    // Blocks until a request may go, or fails when `deadline` comes first / on cancel.
    core::Status acquire(const core::Deadline& deadline = core::Deadline::never());
    ~RateLimiter();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

struct ClientSettings {
    std::string region;  // empty = resolve_region()
    // null = a new default_credentials_chain() for this client; share one
    // provider between clients to share its cache.
    std::shared_ptr<CredentialsProvider> credentials;
    core::http::ClientOptions http;
    core::RetryPolicy retry;
    std::shared_ptr<RateLimiter> rate_limiter;  // null = unlimited
    // Every call of this client ends by then, retries and their waits
    // included: no attempt or backoff starts that the deadline would cut
    // short, and each attempt's HTTP timeout is at most the time left. A
    // renewer run gives its stores and DNS provider its hard end, so the work
    // after the orders cannot outlast it (docs/configuration.md#time-limits).
    core::Deadline deadline = core::Deadline::never();
    std::string deadline_name;  // the setting it comes from, named in the error ("--deadline 40 s")
};

using Params = std::vector<std::pair<std::string, std::string>>;

// One client per thread (it owns one HTTP connection); the credentials
// provider and rate limiter may be shared.
class Client {
public:
    explicit Client(ClientSettings settings);
    ~Client();
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;

    // Query protocol: POST form "Action=...&Version=...&<params>"; returns the response XML.
    core::Result<std::string> query(const Service& service, std::string_view action, const Params& params);
    // JSON 1.1 / 1.0: POST with X-Amz-Target "<json_target>.<action>"; returns the response JSON.
    core::Result<nlohmann::json> json(const Service& service, std::string_view action, const nlohmann::json& body);
    // REST-XML: `path` is already URI-encoded ("/2013-04-01/hostedzone/Z1/rrset");
    // `query` unencoded pairs; `body` XML or empty. Returns the response XML.
    core::Result<std::string> rest_xml(const Service& service, std::string_view method, std::string_view path,
                                       const Params& query, std::string_view body);
    // The same, naming the API action for logs and error messages
    // ("route53 ChangeResourceRecordSets: ..."). The form above derives the
    // name from Route53's paths, else uses "<METHOD> <path>".
    core::Result<std::string> rest_xml(const Service& service, std::string_view action, std::string_view method,
                                       std::string_view path, const Params& query, std::string_view body);

    const std::string& region() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's `region` in the config
// file, else "us-east-1".
std::string resolve_region();

// Endpoint URL for a service: AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL,
// else the profile's endpoint_url, else the public endpoint for the region.
std::string resolve_endpoint(const Service& service, const std::string& region);

}  // namespace aws
