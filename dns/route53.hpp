// Amazon Route53 provider over the REST-XML API (aws::Client, SigV4).
//
// Per present: the hosted zone of each name (longest matching suffix via
// ListHostedZonesByName, or AWS_HOSTED_ZONE_ID), a CREATE of each TXT set
// with our values; where a set exists, its current values
// (ListResourceRecordSets) and one ChangeResourceRecordSets per zone that
// DELETEs exactly the set read and CREATEs the union in one batch, a
// compare-and-swap that fails instead of losing a value another writer added
// meanwhile (then read again; values someone else put there survive byte for
// byte, their TTL kept), then GetChange until INSYNC. Cleanup swaps the set
// for the remainder the same way, or DELETEs it when nothing else remains.
//
// Settings (schema() in route53.cpp: JSON key, flag, lego's environment
// name, range): zone_id, private_zone, ttl, assume_role_arn, external_id,
// session name, requests_per_second, polling interval; plus the SDK
// conventions: AWS_REGION, AWS_PROFILE, credentials chain,
// AWS_ENDPOINT_URL_ROUTE_53 / AWS_ENDPOINT_URL. The INSYNC wait is bounded by
// the DNS block's propagation_timeout (dns/config.cpp).
//
// IAM: route53:ListHostedZonesByName, route53:ListResourceRecordSets,
// route53:ChangeResourceRecordSets, route53:GetChange (and sts:AssumeRole
// on the role when AWS_ASSUME_ROLE_ARN is used).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
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

    // The settings schema (docs/dns-providers.md).
    static std::span<const core::settings::Setting> schema();
    // From checked values of the schema's rows; `block_origin` names a
    // missing required setting (core::settings::missing_origin).
    static core::Result<Route53Settings> from_values(const core::settings::Values& values,
                                                     const std::string& block_origin);
    static core::Result<Route53Settings> from_env(const Env& env = process_env());

    // What the user set; the client plumbing and the shared limiter are not settings.
    bool operator==(const Route53Settings& other) const {
        return hosted_zone_id == other.hosted_zone_id && zone_visibility == other.zone_visibility && ttl == other.ttl &&
               assume_role_arn == other.assume_role_arn && external_id == other.external_id &&
               session_name == other.session_name && requests_per_second == other.requests_per_second &&
               change_timeout == other.change_timeout && initial_poll == other.initial_poll &&
               max_poll == other.max_poll;
    }
};

core::Result<std::unique_ptr<Provider>> make_route53(Route53Settings settings);

}  // namespace dns
