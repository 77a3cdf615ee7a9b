// Settings of one `renewer run` / `renewer dns-test`, filled from flags and
// environment by the CLI and validated before any network call.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace renewer {

struct DnsOptions {
    std::string provider = "route53";   // route53 | rfc2136 | exec
    std::string resolver;               // host:port of a recursive resolver for SOA/NS/CNAME look-ups
    std::string nameservers;            // host:port[,host:port]: replaces the authoritative servers' addresses
    bool follow_cname = true;           // _acme-challenge CNAME delegation
    std::chrono::seconds propagation_timeout{300};
    // route53
    std::string route53_zone_id;
    std::string route53_assume_role_arn;
    std::string route53_external_id;
    double route53_requests_per_second = 4.0;
    bool route53_private_zone = false;
    // rfc2136
    std::string rfc2136_server;         // host:port
    std::string rfc2136_tsig_key;       // key name
    std::string rfc2136_tsig_algorithm = "hmac-sha256";
    std::string rfc2136_tsig_secret;    // base64, from env or file (never argv)
    int rfc2136_ttl = 60;
    // exec
    std::string exec_path;
};

struct CertificateRequest {
    std::vector<std::string> names;  // first name names the certificate
};

struct RunOptions {
    std::vector<CertificateRequest> certificates;
    std::string server;                 // ACME directory URL
    std::string ca_bundle;              // extra trusted roots for the ACME server (Pebble)
    std::string email;
    bool agree_tos = false;
    std::string eab_kid;
    std::string eab_hmac_key;           // base64url, from env or file preferred
    std::string key_type = "ec256";
    std::string account_key_type = "ec256";
    bool reuse_key = false;
    std::string preferred_chain;
    std::string profile;
    std::string out_dir;
    std::string account_file;           // default: <out>/account.json
    std::string trust_root;             // PEM of the CA's issuing root(s) to verify chains against
    int concurrency = 4;
    std::chrono::seconds order_timeout{600};
    DnsOptions dns;
};

}  // namespace renewer
