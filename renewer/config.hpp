// The configuration file: many certificates, each with its names, key type,
// store, DNS provider and replacement target. Parsed and fully validated
// before any network call; every error is one line naming the JSON path
// ("certificates[1].dns.zone_idd: unknown key").
//
// Schema (every key optional unless marked required; unknown keys are errors
// at every level; types are checked):
//
// {
//   "server":        string, ACME directory URL (https://), default Let's Encrypt
//   "ca_bundle":     string, PEM file of extra roots for the ACME server's TLS
//   "email":         string, account contact
//   "agree_tos":     bool, default false
//   "eab":           { "kid": string, "hmac_key_env": string | "hmac_key_file": string }
//                    (the HMAC key itself is never in the file)
//   "account_store": string, "aws-sm:NAME" or "dir:/path" (ACME account key + URL)
//   "spool_dir":     string, where issued-but-unstored certificates wait
//   "allow":         [string, ...] allowlist, see names.hpp; absent = every name
//   "concurrency":   int 1..64, default 16
//   "max_new_orders": int 0..100000, default 300 (renewer/plan_budget.hpp)
//   "renew":         { "fraction": number (0,1) default 0.333...,
//                      "short_lifetime_fraction": number (0,1) default 0.5,
//                      "short_lifetime_days": int 0..3650 default 10 }
//   "jitter_seconds": int 0..86400, default 0 (random delay before a scheduled run)
//   "customer_dns_zone": string, the zone customers' _acme-challenge CNAMEs point into
//                    (docs/customer-domains.md)
//   "defaults":      { "key_type", "store", "dns", "replace", "profile", "customer_dns" } as below
//   "certificates":  required, at least one:
//     [ { "name":     string, certificate id, default: its first (normalized) domain
//         "domains":  required, [string, ...] 1..100 names, wildcards allowed
//         "key_type": "ec256" | "ec384" | "rsa2048" | "rsa3072" | "rsa4096", default ec256
//         "store":    required (here or in defaults): "aws-sm:NAME" | "dir:/path";
//                     "{name}" in it is replaced by the certificate id ('*' -> '_')
//         "dns": {
//           "provider": "route53" (default) | "rfc2136" | "exec"
//           any provider: "resolver" host:port, "nameservers" host:port string or
//                         [host:port, ...], "follow_cname" bool (default true),
//                         "propagation_timeout" int seconds 1..3600 (default 300)
//           route53: "zone_id", "assume_role_arn", "external_id",
//                    "private_zone" bool, "requests_per_second" number (0,100]
//           rfc2136: "server" host:port (required), "tsig_key",
//                    "tsig_algorithm" "hmac-sha256" | "hmac-sha512",
//                    "tsig_secret_env" | "tsig_secret_file" (required with tsig_key),
//                    "ttl" int 1..86400 (default 60)
//           exec:    "exec_path" (required)
//         }
//         "replace": {
//           "type": "none" (default) | "autoscaling" | "ec2-tag" | "ecs" | "hook"
//           autoscaling: "group" (required), "min_healthy_percentage" 0..100 (default 90),
//                        "instance_warmup" seconds >= 0
//           ec2-tag:     "tag_key", "tag_value" (both required), "max_terminate" 1..1000 (default 1)
//           ecs:         "cluster", "service" (both required)
//           hook:        "command" (required), "timeout" seconds 1..3600 (default 300)
//         }
//         "profile":  string, ACME profile name
//         "customer_dns": bool, default true when customer_dns_zone is set: order
//                     only once every name's _acme-challenge is such a CNAME
//       } ]
// }
//
// A key that belongs to another provider or replacement type than the one
// chosen is an error ("certificates[0].dns.tsig_key: not used by provider route53").
//
// Merging "defaults" into each certificate: "key_type", "store" and "profile"
// are taken from defaults when the certificate does not set them. "dns" and
// "replace" are merged key by key (the certificate's keys win) when the
// certificate's "provider" / "type" is absent or the same as the defaults';
// when it names a different provider, only the provider-independent dns keys
// (resolver, nameservers, follow_cname, propagation_timeout) are inherited, and
// a different replace type inherits nothing.
//
// The rows behind every key (type, range, flag, environment variable) are in
// renewer/schema.cpp and, for the dns block, in dns/. Precedence, for every
// setting, certificates' store, DNS, replacement, key type and profile
// included: command-line flags > environment variables > config file >
// built-in defaults (build_config() below, core::settings::overlay()).
// Secrets are read only from the environment variable or file the config
// names, never inline: "tsig_secret", "hmac_key" and the like are refused
// with a hint.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "core/result.hpp"
#include "core/settings.hpp"
#include "dns/config.hpp"
#include "replace/replacer.hpp"

namespace renewer {

// The replacement layer's types, as the configuration and the run name them.
using replace::ChangedCertificate;
using replace::DryRun;
using replace::ReplaceOutcome;
using replace::ReplaceTarget;
using replace::ReplaceType;

constexpr const char* k_default_server = "https://acme-v02.api.letsencrypt.org/directory";

// Where a certificate (or the ACME account) is kept.
struct StoreSpec {
    enum class Kind { aws_secrets_manager, directory, dynamodb };
    Kind kind = Kind::aws_secrets_manager;
    std::string location;     // secret name, directory path, or TABLE/KEY
    std::string spec;         // as written, "aws-sm:NAME" / "dir:/path", after "{name}" expansion
    std::string lease_table;  // aws-sm: the DynamoDB table of its lease (--lease-table); empty = NAME-lock
    std::string kms_key_id;  // aws-sm: the KMS key of the secrets it creates (--kms-key-id); empty = aws/secretsmanager

    bool operator==(const StoreSpec&) const = default;
};

// `spec` with every "{name}" replaced by the certificate id ('*' -> '_', so
// "*.example.com" gives "_.example.com").
std::string expand_store(std::string_view spec, const std::string& id);

// Parses "aws-sm:NAME" (NAME: 1..512 of A-Z a-z 0-9 / _ + = . @ -, the
// Secrets Manager rules) or "dir:/path".
core::Result<StoreSpec> parse_store_spec(std::string_view text);

struct RenewPolicy {
    double fraction = 1.0 / 3.0;           // renew when less than this part of the lifetime is left
    double short_lifetime_fraction = 0.5;  // ... for lifetimes of at most short_lifetime_days
    int short_lifetime_days = 10;
};

struct EabSettings {
    std::string kid;
    std::string hmac_key_env;   // name of the variable that holds the key
    std::string hmac_key_file;  // or a file that holds it
    std::string hmac_key;       // resolved value (registered with log redaction); empty without EAB
};

struct CertificateConfig {
    std::string id;                    // "name", default the first domain
    std::vector<std::string> domains;  // normalized (punycode, lower case), order kept
    core::KeyType key_type = core::KeyType::ec256;
    StoreSpec store;
    dns::DnsConfig dns;  // the TSIG secret resolved from its variable or file
    ReplaceTarget replace;
    std::string profile;
    // docs/customer-domains.md: order only once every name's _acme-challenge
    // is a CNAME into Config::customer_dns_zone ("customer_dns", default: true
    // when that zone is set).
    bool customer_dns = false;
};

// renewer/config.cpp: how a listed item becomes a certificate.
struct ListedTemplate;

struct Config {
    std::string source;  // file name, for messages
    std::string server = k_default_server;
    std::string ca_bundle;
    std::string email;
    bool agree_tos = false;
    EabSettings eab;
    std::optional<StoreSpec> account_store;
    std::string spool_dir;
    std::vector<std::string> allow;  // normalized entries ("example.com", ".example.com")
    // CA conversations in flight at once in each phase of the pipelined run
    // (acme/obtain.hpp); the DNS wait is shared by every certificate whatever
    // this is. 16 is for real CAs: a few requests per certificate, well inside
    // Let's Encrypt's per-account and per-IP request limits, and enough that
    // 100 certificates' orders and finalizations take seconds, not minutes
    // (docs/deployment.md#sizing). The tests and the bench cap it at 4:
    // Debian's Pebble 2.4 deadlocks under many orders in flight
    // (letsencrypt/pebble#554: Order() read-locks recursively).
    int concurrency = 16;
    // New orders per run that are not ARI renewals (renewer/plan_budget.hpp).
    // 300: Let's Encrypt's new-orders-per-account bucket (300 per 3 hours,
    // one back every 36 s) for the default schedule of one run a day: a run
    // may empty it, and it is full again long before the next. Runs that
    // share an account within 3 hours (parallel tasks, an hourly schedule)
    // share the bucket and divide it (docs/deployment.md).
    int max_new_orders = 300;
    RenewPolicy renew;
    std::chrono::seconds jitter{0};
    std::string customer_dns_zone;  // normalized ("acme.example.net"); empty = none (docs/customer-domains.md)
    std::vector<CertificateConfig> certificates;
    // Every run-wide setting as given (file, environment and flags laid
    // over each other), for the flag-only ones the command reads itself
    // (timeout, deadline, account key type, ...; renewer/schema.cpp).
    core::settings::Values run;
    // Environment variables the file names as holding secrets
    // (tsig_secret_env); a deploy hook's environment goes without them.
    std::vector<std::string> secret_variables;
    // "dynamodb:TABLE": the certificates are the table's items
    // (renewer/domain_list.hpp, docs/customer-domains.md#the-domain-list),
    // added by add_listed_certificates(); empty = the file's or -d's.
    std::string certificates_from;
    // What a listed item is laid over (defaults, environment, flags), kept
    // from build_config() for add_listed_certificates().
    std::shared_ptr<const ListedTemplate> listed_template;
};

// What the command line gives (renewer/cli_options.cpp), laid over the
// environment and the file. Each Values is one block's flags.
struct CommandLine {
    core::settings::Values global, eab, certificate, dns, replace;
    // -d/--cert: the certificates when there is no file; each a list of names.
    std::vector<std::vector<std::string>> certificates;
    // --out DIR: the store "dir:DIR" (one certificate) or "dir:DIR/{name}".
    std::optional<core::settings::Value> out;
};

// The configuration from the file's document (null: none), the environment
// and the command line, every setting checked before any network call.
// Errors are ErrorKind::invalid_input naming the flag, the variable or the
// JSON path the value came from ("renewer.json: certificates[1].dns.ttl: ...").
core::Result<Config> build_config(const nlohmann::json* document, const std::string& source,
                                  const CommandLine& command_line,
                                  const core::settings::EnvLookup& env = core::settings::process_env());

// The DNS settings of the command line and the environment alone
// (`renewer dns-test`).
core::Result<dns::DnsConfig> dns_config_from(const CommandLine& command_line,
                                             const core::settings::EnvLookup& env = core::settings::process_env());

// Reads and parses the file (no flags). I/O errors are ErrorKind::io,
// everything else ErrorKind::invalid_input; messages start with the path.
core::Result<Config> load_config(const std::string& path, const CommandLine& command_line = {},
                                 const core::settings::EnvLookup& env = core::settings::process_env());

// Parses `json_text`; `source_name` prefixes every message.
core::Result<Config> parse_config(std::string_view json_text, const std::string& source_name,
                                  const CommandLine& command_line = {},
                                  const core::settings::EnvLookup& env = core::settings::process_env());

// Distinct replacement targets of the changed certificates, each with its
// certificates, in first-seen order: run_replacement is called once per entry.
// Certificates whose target is "none" are left out.
struct ReplacementBatch {
    ReplaceTarget target;
    std::vector<ChangedCertificate> changed;
};
std::vector<ReplacementBatch> group_replacements(const Config& config, const std::vector<ChangedCertificate>& changed);

// One certificate of the domain list (renewer/domain_list.hpp): its key and
// the item in the shape of a "certificates" entry of the file ({"name",
// "domains", "key_type", "store", "profile", "customer_dns"}), or why the
// item could not be put in that shape.
struct ListedItem {
    std::string key;
    nlohmann::json certificate;
    std::string problem;  // not empty: refused as it is
};

struct RefusedItem {
    std::string key;
    std::string reason;
};

// Turns each item into a certificate of `config` exactly as a "certificates"
// entry of the file is (the allowlist, the name rules, defaults, environment
// and flags; unique ids and stores; no store on another's lease or account
// secret); an item that fails any of them is refused, and the others still
// go in. Returns the refused items in the order given.
std::vector<RefusedItem> add_listed_certificates(Config& config, const std::vector<ListedItem>& items);

// The store spec a listed item without its own "store" gets ("defaults.store",
// RENEWER_STORE/--store, --out), "{name}" unexpanded; empty when none.
std::string listed_store_template(const Config& config);

}  // namespace renewer
