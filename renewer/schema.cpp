#include "renewer/schema.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "renewer/config.hpp"
#include "renewer/names.hpp"

namespace renewer {
namespace {

namespace settings = core::settings;
using settings::Setting;
using settings::Type;

std::optional<std::string> email_problem(std::string_view text) {
    const auto at = text.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == text.size() ||
        text.find_first_of(" \t,;<>") != std::string_view::npos) {
        return fmt::format("\"{}\" is not an e-mail address", text);
    }
    return std::nullopt;
}

std::optional<std::string> allow_entry_problem(std::string_view text) {
    if (auto entry = normalize_allow_entry(text); !entry) {
        return entry.error().message;
    }
    return std::nullopt;
}

// CloudWatch's rules for a namespace (PutMetricData): 1-255 characters of
// [0-9A-Za-z.-_/#: ], not only spaces, not starting with ':' or "AWS/".
std::optional<std::string> metrics_namespace_problem(std::string_view text) {
    constexpr std::size_t k_max_namespace = 255;
    const bool allowed = std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
               std::string_view(".-_/#: ").find(c) != std::string_view::npos;
    });
    if (text.empty() || text.size() > k_max_namespace || !allowed || text.front() == ':' || text.starts_with("AWS/") ||
        text.find_first_not_of(' ') == std::string_view::npos) {
        return fmt::format(
            "\"{}\" is not a CloudWatch namespace (1-255 of A-Z a-z 0-9 . - _ / # : and space, not "
            "starting with ':' or AWS/)",
            text);
    }
    return std::nullopt;
}

// A zone apex as the customers' CNAME targets name it.
std::optional<std::string> zone_problem(std::string_view text) {
    if (auto zone = normalize_name(text); !zone) {
        return zone.error().message;
    }
    return std::nullopt;
}

constexpr std::string_view k_key_types = "ec256|ec384|rsa2048|rsa3072|rsa4096";

// CreateTable's TableName rule: 3..255 of a-z A-Z 0-9 _ - .
std::optional<std::string> table_name_problem(std::string_view text) {
    const bool valid = text.size() >= 3 && text.size() <= 255 &&
                       text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
                           std::string_view::npos;
    return valid ? std::nullopt
                 : std::optional<std::string>(fmt::format("\"{}\" is not a DynamoDB table name (3..255 of a-z A-Z "
                                                          "0-9 _ - .)",
                                                          text));
}

// CreateSecret's KmsKeyId: a key ARN, an alias ARN, "alias/NAME", a key id
// (a UUID) or a multi-Region key id ("mrk-" and 32 hex digits), per the
// Secrets Manager API reference; at most 2048 characters.
std::optional<std::string> kms_key_problem(std::string_view text) {
    const auto hex_or_dash = [](std::string_view s) {
        return !s.empty() && s.find_first_not_of("0123456789abcdefABCDEF-") == std::string_view::npos;
    };
    const bool printable = std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
    const bool arn = text.starts_with("arn:") && text.find(":kms:") != std::string_view::npos &&
                     (text.find(":key/") != std::string_view::npos || text.find(":alias/") != std::string_view::npos);
    const bool alias = text.starts_with("alias/") && text.size() > 6;
    const bool key_id = (text.size() == 36 && hex_or_dash(text)) ||
                        (text.starts_with("mrk-") && text.size() == 36 && hex_or_dash(text.substr(4)));
    if (printable && text.size() <= 2048 && (arn || alias || key_id)) {
        return std::nullopt;
    }
    return fmt::format("\"{}\" is not a KMS key (a key ARN, alias ARN, alias/NAME or key id)", text);
}

// "dynamodb:TABLE": where the domain list lives (docs/customer-domains.md#the-domain-list).
std::optional<std::string> domain_list_problem(std::string_view text) {
    constexpr std::string_view k_scheme = "dynamodb:";
    if (!text.starts_with(k_scheme)) {
        return fmt::format("\"{}\": expected dynamodb:TABLE", text);
    }
    return table_name_problem(text.substr(k_scheme.size()));
}

const std::array<Setting, 26> k_global{{
    {.key = "server",
     .flag = "server",
     .env = "ACME_SERVER",
     .help = "ACME directory URL (default: Let's Encrypt)",
     .check = https_url_problem},
    {.key = "ca_bundle",
     .flag = "ca-bundle",
     .env = "ACME_CA_BUNDLE",
     .help = "PEM file of extra roots for the ACME server's TLS, added to the system's (e.g. Pebble)"},
    {.key = "email",
     .flag = "email",
     .env = "ACME_EMAIL",
     .help = "contact e-mail of the ACME account",
     .check = email_problem},
    {.key = "agree_tos", .flag = "agree-tos", .type = Type::boolean, .help = "agree to the CA's terms of service"},
    {.key = "account_store",
     .help = "where the ACME account lives: aws-sm:NAME, dir:/path or dynamodb:TABLE/KEY",
     .check = store_spec_problem},
    {.key = "spool_dir", .flag = "spool-dir", .help = "where issued but unstored certificates wait for the next run"},
    {.key = "allow",
     .flag = "allow",
     .type = Type::list,
     .help = "permitted name or .suffix (repeat); other names are refused",
     .check = allow_entry_problem},
    {.key = "concurrency",
     .flag = "concurrency",
     .type = Type::integer,
     .min = 1,
     .max = 64,
     .help = "orders in flight at once (default 16)"},
    {.key = "max_new_orders",
     .flag = "max-new-orders",
     .type = Type::integer,
     .min = 0,
     .max = 100000,
     .help = "new orders per run, most urgent first; ARI renewals do not count, the rest is deferred (default 300: "
             "Let's Encrypt's 300 per account per 3 hours)"},
    {.key = "jitter_seconds",
     .type = Type::integer,
     .min = 0,
     .max = 86400,
     .help = "a scheduled run first waits a random part of this"},
    {.key = "timeout",
     .flag = "timeout",
     .type = Type::integer,
     .min = 1,
     .max = 86400,
     .help = "seconds one order may take (default 600)",
     .in_file = false},
    {.key = "lease_ttl",
     .flag = "lease-ttl",
     .type = Type::integer,
     .min = 30,
     .max = 86400,
     .help = "seconds a certificate's lease lasts unless renewed; a run renews its leases while it works "
             "(default: --timeout + 300)",
     .in_file = false},
    {.key = "deadline",
     .flag = "deadline",
     .type = Type::integer,
     .min = 1,
     .max = 86400,
     .help = "seconds the whole run may take (work stops 20 s before; in Lambda: per invocation, besides the "
             "invocation's own deadline)",
     .in_file = false},
    {.key = "account_key_type",
     .flag = "account-key-type",
     .help = "ec256 (ES256), ec384 (ES384) or rsa2048 (RS256)",
     .choices = "ec256|ec384|rsa2048",
     .noun = "account key type",
     .in_file = false},
    {.key = "account_file",
     .flag = "account-file",
     .help = "keep the ACME account key and URL in this file (default: beside the first certificate)",
     .in_file = false},
    {.key = "preferred_chain",
     .flag = "preferred-chain",
     .help = "issuer common name of the preferred alternate chain",
     .in_file = false},
    {.key = "trust_root",
     .flag = "trust-root",
     .help = "PEM file of the CA's root(s); the issued chain must verify against it",
     .in_file = false},
    {.key = "reuse_key",
     .flag = "reuse-key",
     .type = Type::boolean,
     .help = "keep the current certificate's private key",
     .in_file = false},
    {.key = "force", .flag = "force", .type = Type::boolean, .help = "renew even when not due", .in_file = false},
    {.key = "dry_run",
     .flag = "dry-run",
     .type = Type::boolean,
     .help = "plan and report; order, store and replace nothing",
     .in_file = false},
    {.key = "log_level",
     .flag = "log-level",
     .help = "trace, debug, info (default), warn or error",
     .choices = "trace|debug|info|warn|error",
     .noun = "log level",
     .in_file = false},
    {.key = "log_format",
     .flag = "log-format",
     .help = "auto (text on a terminal, JSON lines otherwise), text or json",
     .choices = "auto|text|json",
     .noun = "log format",
     .in_file = false},
    // docs/operations.md#metrics; --no-metrics is read in cli_options.cpp.
    {.key = "metrics",
     .env = "RENEWER_METRICS",
     .type = Type::boolean,
     .help = "CloudWatch metrics (EMF) in the JSON report lines of a run (default true)"},
    {.key = "metrics_namespace",
     .flag = "metrics-namespace",
     .env = "RENEWER_METRICS_NAMESPACE",
     .help = "CloudWatch namespace of the metrics (default Renewer)",
     .check = metrics_namespace_problem},
    // docs/customer-domains.md
    {.key = "customer_dns_zone",
     .flag = "customer-dns-zone",
     .help = "customer names' _acme-challenge must be a CNAME into this zone (ours); until then: waiting",
     .check = zone_problem},
    // docs/customer-domains.md#the-domain-list
    {.key = "certificates_from",
     .flag = "certificates-from",
     .env = "RENEWER_CERTIFICATES_FROM",
     .help = "read the certificates from dynamodb:TABLE (one item per certificate) instead of the file or -d",
     .check = domain_list_problem},
}};

const std::array<Setting, 4> k_eab{{
    {.key = "kid", .flag = "eab-kid", .help = "External Account Binding key id"},
    {.key = "hmac_key",
     .flag = "eab-hmac-key",
     .env = "ACME_EAB_HMAC_KEY",
     .help = "External Account Binding HMAC key, base64url (better: ACME_EAB_HMAC_KEY)",
     .group = "hmac_key",
     .in_file = false},
    {.key = "hmac_key_env", .help = "environment variable holding the HMAC key", .group = "hmac_key"},
    {.key = "hmac_key_file", .help = "file holding the HMAC key", .group = "hmac_key"},
}};

const std::array<Setting, 3> k_renew{{
    {.key = "fraction",
     .type = Type::number,
     .min = 0,
     .max = 1,
     .min_exclusive = true,
     .max_exclusive = true,
     .help = "renew when less than this part of the lifetime is left (default 1/3)"},
    {.key = "short_lifetime_fraction",
     .type = Type::number,
     .min = 0,
     .max = 1,
     .min_exclusive = true,
     .max_exclusive = true,
     .help = "the same for short-lived certificates (default 1/2)"},
    {.key = "short_lifetime_days",
     .type = Type::integer,
     .min = 0,
     .max = 3650,
     .help = "lifetimes of at most this many days are short (default 10)"},
}};

const std::array<Setting, 6> k_certificate{{
    {.key = "key_type",
     .flag = "key-type",
     .help = "ec256, ec384, rsa2048, rsa3072 or rsa4096",
     .choices = k_key_types,
     .noun = "key type"},
    {.key = "store",
     .flag = "store",
     .help = "where certificates live: aws-sm:SECRET_NAME, dir:/path or dynamodb:TABLE/KEY ('{name}' expands)",
     .check = store_spec_problem},
    {.key = "lease_table",
     .flag = "lease-table",
     .help = "aws-sm stores keep their leases as items of this DynamoDB table, not as NAME-lock secrets",
     .check = table_name_problem},
    {.key = "kms_key_id",
     .flag = "kms-key-id",
     .help = "aws-sm stores create their secrets encrypted with this KMS key (key ARN, key id or alias), "
             "not aws/secretsmanager",
     .check = kms_key_problem},
    {.key = "profile", .flag = "profile", .help = "ACME profile to request (when the CA offers profiles)"},
    {.key = "customer_dns",
     .flag = "customer-dns",
     .type = Type::boolean,
     .help = "customer names: order only once _acme-challenge is a CNAME into --customer-dns-zone"},
}};

const std::array<Setting, 1> k_replace_common{{
    {.key = "type", .help = "none, autoscaling, ec2-tag, ecs or hook", .choices = "none|autoscaling|ec2-tag|ecs|hook"},
}};
const std::array<Setting, 3> k_autoscaling{{
    {.key = "group", .help = "Auto Scaling group name"},
    {.key = "min_healthy_percentage",
     .flag = "min-healthy-percentage",
     .type = Type::integer,
     .min = 0,
     .max = 100,
     .help = "instance refresh: minimum healthy percentage (default 90)"},
    {.key = "instance_warmup",
     .type = Type::integer,
     .min = 0,
     .max = 86400,
     .help = "instance refresh: warm-up seconds"},
}};
const std::array<Setting, 3> k_ec2_tag{{
    {.key = "tag_key", .help = "tag key of the instances"},
    {.key = "tag_value", .help = "tag value of the instances"},
    {.key = "max_terminate",
     .flag = "max-terminate",
     .type = Type::integer,
     .min = 1,
     .max = 1000,
     .help = "ec2-tag: at most this many instances per run (default 1)"},
}};
const std::array<Setting, 2> k_ecs{{
    {.key = "cluster", .help = "ECS cluster"},
    {.key = "service", .help = "ECS service"},
}};
const std::array<Setting, 2> k_hook{{
    {.key = "command",
     .flag = "deploy-hook",
     .help = "shell command run with RENEWED_* variables when something changed"},
    {.key = "timeout",
     .flag = "deploy-hook-timeout",
     .type = Type::integer,
     .min = 1,
     .max = 3600,
     .help = "seconds the deploy hook may take (default 300)"},
}};
const std::array<settings::Variant, 5> k_replace_variants{{
    {"none", {}},
    {"autoscaling", k_autoscaling},
    {"ec2-tag", k_ec2_tag},
    {"ecs", k_ecs},
    {"hook", k_hook},
}};

core::Status require_text(const settings::Values& values, const settings::Block& block, std::string_view key,
                          const std::string& block_origin, std::string_view type) {
    if (settings::text(values, key).empty()) {
        return settings::settings_error(settings::missing_origin(*settings::find(block, key), block_origin),
                                        fmt::format("required by replace type {}", type));
    }
    return {};
}

}  // namespace

const settings::Block& global_block() {
    static const settings::Block block = settings::flat_block(k_global);
    return block;
}
const settings::Block& eab_block() {
    static const settings::Block block = settings::flat_block(k_eab);
    return block;
}
const settings::Block& renew_block() {
    static const settings::Block block = settings::flat_block(k_renew);
    return block;
}
const settings::Block& certificate_block() {
    static const settings::Block block = settings::flat_block(k_certificate);
    return block;
}
const settings::Block& replace_block() {
    static const settings::Block block{k_replace_common, "type", "replace type", "none", k_replace_variants};
    return block;
}

core::Result<ReplaceTarget> make_replace_target(const settings::Values& values, const std::string& block_origin) {
    ReplaceTarget target;
    const std::string type = settings::selected_variant(replace_block(), values);
    target.type = replace::parse_replace_type(type).value_or(ReplaceType::none);
    const auto& block = replace_block();
    switch (target.type) {
        case ReplaceType::autoscaling: TRY(require_text(values, block, "group", block_origin, type)); break;
        case ReplaceType::ec2_tag:
            TRY(require_text(values, block, "tag_key", block_origin, type));
            TRY(require_text(values, block, "tag_value", block_origin, type));
            break;
        case ReplaceType::ecs:
            TRY(require_text(values, block, "cluster", block_origin, type));
            TRY(require_text(values, block, "service", block_origin, type));
            break;
        case ReplaceType::hook: TRY(require_text(values, block, "command", block_origin, type)); break;
        case ReplaceType::none: break;
    }
    target.group = settings::text(values, "group");
    target.min_healthy_percentage =
        static_cast<int>(settings::integer(values, "min_healthy_percentage", target.min_healthy_percentage));
    if (values.contains("instance_warmup")) {
        target.instance_warmup = static_cast<int>(settings::integer(values, "instance_warmup", 0));
    }
    target.tag_key = settings::text(values, "tag_key");
    target.tag_value = settings::text(values, "tag_value");
    target.max_terminate = static_cast<int>(settings::integer(values, "max_terminate", target.max_terminate));
    target.cluster = settings::text(values, "cluster");
    target.service = settings::text(values, "service");
    target.command = settings::text(values, "command");
    target.timeout = std::chrono::seconds(settings::integer(values, "timeout", target.timeout.count()));
    return target;
}

std::optional<std::string> store_spec_problem(std::string_view text) {
    // "{name}" stands for a certificate id; check the spec with one in place.
    if (auto store = parse_store_spec(expand_store(text, "example.com")); !store) {
        return store.error().message;
    }
    return std::nullopt;
}

std::optional<std::string> https_url_problem(std::string_view text) {
    constexpr std::string_view k_scheme = "https://";
    const std::string_view host = text.substr(std::min(text.size(), k_scheme.size()));
    if (text.rfind(k_scheme, 0) != 0 || host.empty() || host.front() == '/' ||
        text.find_first_of(" \t\r\n") != std::string_view::npos) {
        return fmt::format("\"{}\" is not an https:// URL", text);
    }
    return std::nullopt;
}

}  // namespace renewer
