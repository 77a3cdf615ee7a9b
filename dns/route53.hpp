// Amazon Route53 provider over the REST-XML API (aws::Client, SigV4).
//
// Per present: the hosted zone of each name (longest matching suffix via
// ListHostedZonesByName, or AWS_HOSTED_ZONE_ID), the current TXT set
// (ListResourceRecordSets), one ChangeResourceRecordSets per zone that
// UPSERTs the union (values someone else put there survive byte for byte,
// their TTL kept), then GetChange until INSYNC. Cleanup UPSERTs the remainder
// or DELETEs the exact current set when nothing else remains.
//
// Environment (lego's names where lego has one):
//   AWS_HOSTED_ZONE_ID          use this zone for every record instead of discovery
//   AWS_PRIVATE_ZONE            true: a private zone wins over a public one of the same name
//   AWS_TTL                     TTL of new TXT sets, seconds (default 60)
//   AWS_ASSUME_ROLE_ARN         assume this role (the zone's account) for all Route53 calls
//   AWS_EXTERNAL_ID             external id for that AssumeRole
//   AWS_ASSUME_ROLE_SESSION_NAME session name (default "renewer-dns")
//   AWS_ROUTE53_REQUESTS_PER_SECOND  cap on Route53 calls of this process (default 4)
//   AWS_PROPAGATION_TIMEOUT     seconds to wait for INSYNC (default 600)
//   AWS_POLLING_INTERVAL        seconds, cap of the GetChange backoff (default 4)
//   plus the SDK conventions: AWS_REGION, AWS_PROFILE, credentials chain,
//   AWS_ENDPOINT_URL_ROUTE_53 / AWS_ENDPOINT_URL.
//
// IAM: route53:ListHostedZonesByName, route53:ListResourceRecordSets,
// route53:ChangeResourceRecordSets, route53:GetChange (and sts:AssumeRole
// on the role when AWS_ASSUME_ROLE_ARN is used).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "aws/client.hpp"
#include "dns/provider.hpp"

namespace dns {

enum class ZoneVisibility {
    prefer_public,   // default: a public zone wins over a private one of the same name
    prefer_private,  // AWS_PRIVATE_ZONE=true
};

struct Route53Settings {
    std::string hosted_zone_id;
    ZoneVisibility zone_visibility = ZoneVisibility::prefer_public;
    std::uint32_t ttl = 60;
    std::string assume_role_arn;
    std::string external_id;
    std::string session_name = "renewer-dns";
    double requests_per_second = 4.0;  // Route53 allows an account 5 per second
    std::chrono::milliseconds change_timeout{600'000};
    std::chrono::milliseconds initial_poll{250};
    std::chrono::milliseconds max_poll{4'000};
    // Region, credentials (null = default chain), HTTP options, retry policy.
    // Its rate_limiter is ignored: see `rate_limiter`.
    aws::ClientSettings client;
    // Shared by every Route53 call; null = one process-wide limiter at
    // `requests_per_second` (the first provider created sets its rate).
    std::shared_ptr<aws::RateLimiter> rate_limiter;

    static core::Result<Route53Settings> from_env(const Env& env = process_env());
};

core::Result<std::unique_ptr<Provider>> make_route53(Route53Settings settings);

}  // namespace dns
