// DNS settings of a certificate, filled from flags, environment or the
// configuration file and validated before any network call.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace renewer {

struct DnsOptions {
    std::string provider = "route53";  // route53 | rfc2136 | exec
    std::string resolver;              // host:port of a recursive resolver for SOA/NS/CNAME look-ups
    std::string nameservers;           // host:port[,host:port]: replaces the authoritative servers' addresses
    bool follow_cname = true;          // _acme-challenge CNAME delegation
    std::chrono::seconds propagation_timeout{300};
    // route53
    std::string route53_zone_id;
    std::string route53_assume_role_arn;
    std::string route53_external_id;
    double route53_requests_per_second = 4.0;
    bool route53_private_zone = false;
    // rfc2136
    std::string rfc2136_server;    // host:port
    std::string rfc2136_tsig_key;  // key name
    std::string rfc2136_tsig_algorithm = "hmac-sha256";
    std::string rfc2136_tsig_secret;  // base64, from env or file (never argv)
    int rfc2136_ttl = 60;
    // exec
    std::string exec_path;
};

}  // namespace renewer
