#include "renewer/renewer_cli.hpp"

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <cxxopts.hpp>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "core/x509.hpp"
#include "renewer/commands.hpp"
#include "renewer/config.hpp"
#include "renewer/dns_options.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/lambda_runtime.hpp"
#include "renewer/names.hpp"
#include "renewer/run.hpp"
#include "version.hpp"

namespace renewer {
namespace {

constexpr const char* k_usage_tail = R"(
Commands:
  run        renew what is due: order over ACME with DNS-01, verify, store,
             then replace the web tier once if something changed
  plan       print for each certificate whether it is due and why; change nothing
  dns-test   present a random TXT record, wait until every authoritative
             server answers it, report the time taken, clean up
  version    print the version

Exit codes:
  0  nothing to do, or every certificate renewed
  1  some certificate failed (the others were still processed)
  2  bad configuration or flags; nothing was attempted

Deadline: `run --deadline SECONDS` bounds the whole run (e.g. an ECS task's
stop timeout): the work stops 20 s before the end, so DNS cleanup, leases,
replacement and the report still fit; no order starts with less than 30 s
left (those certificates fail with "deadline: not started").

Lambda: when AWS_LAMBDA_RUNTIME_API is set, `renewer run` is a Lambda
runtime: flags and configuration (--config, or RENEWER_CONFIG=FILE when
neither --config nor -d/--cert is given) are read once (an error goes to
/runtime/init/error, exit 2), then one run per invocation, bounded by the
invocation's deadline. Event (all optional): {"force": bool, "dry_run": bool}.
Exit code 0 answers with the report as JSON; 1 is an invocation error of
type Renewer.CertificateFailed naming the failed certificates.

Secrets are never taken from argv alone: --eab-hmac-key may also come from
ACME_EAB_HMAC_KEY, the TSIG secret from RFC2136_TSIG_SECRET or
--rfc2136-tsig-secret-file. AWS credentials and endpoints follow the AWS SDKs
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_ROUTE_53, IMDSv2, ...).
)";

constexpr const char* k_letsencrypt = "https://acme-v02.api.letsencrypt.org/directory";
constexpr const char* k_letsencrypt_staging = "https://acme-staging-v02.api.letsencrypt.org/directory";

// A configuration error: reported in one line, exit code 2.
struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string env_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return (value != nullptr && *value != '\0') ? std::string(value) : fallback;
}

std::string read_secret_file(const std::string& path, const char* what) {
    auto content = core::read_file(path);
    if (!content) {
        throw ConfigError(fmt::format("{}: {}", what, content.error().message));
    }
    std::string value = *content;
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) {
        value.pop_back();
    }
    return value;
}

void add_common_options(cxxopts::Options& options) {
    options.add_options("General")("h,help", "show this help")("version", "print the version")(
        "log-level", "trace, debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))(
        "log-format", "auto (text on a terminal, JSON lines otherwise), text or json",
        cxxopts::value<std::string>()->default_value("auto"));
}

void add_dns_options(cxxopts::Options& options) {
    options.add_options("DNS")("dns", "DNS provider: route53, rfc2136 or exec",
                               cxxopts::value<std::string>()->default_value("route53"))(
        "dns-resolver", "recursive resolver host:port for SOA/NS/CNAME look-ups", cxxopts::value<std::string>())(
        "dns-nameservers", "host:port[,host:port] that replace the authoritative servers' addresses",
        cxxopts::value<std::string>())("no-cname-follow", "do not follow a CNAME at _acme-challenge.<name>")(
        "dns-timeout", "seconds to wait for the records to be visible everywhere",
        cxxopts::value<int>()->default_value("300"))("route53-zone-id", "hosted zone id (skips zone discovery)",
                                                     cxxopts::value<std::string>())(
        "route53-private-zone", "prefer a private hosted zone over a public one of the same name")(
        "route53-assume-role-arn", "role to assume for Route53 calls", cxxopts::value<std::string>())(
        "route53-external-id", "external id for the assumed role", cxxopts::value<std::string>())(
        "route53-rps", "maximum Route53 requests per second", cxxopts::value<double>()->default_value("4"))(
        "rfc2136-server", "DNS server host:port for RFC 2136 updates", cxxopts::value<std::string>())(
        "rfc2136-tsig-key", "TSIG key name", cxxopts::value<std::string>())(
        "rfc2136-tsig-algorithm", "hmac-sha256 or hmac-sha512",
        cxxopts::value<std::string>()->default_value("hmac-sha256"))(
        "rfc2136-tsig-secret-file", "file holding the base64 TSIG secret (or RFC2136_TSIG_SECRET)",
        cxxopts::value<std::string>())("rfc2136-ttl", "TTL of the TXT records",
                                       cxxopts::value<int>()->default_value("60"))(
        "exec-path", "program called as: PROG present|cleanup FQDN VALUE", cxxopts::value<std::string>());
}

DnsOptions dns_options_from(const cxxopts::ParseResult& args) {
    DnsOptions dns;
    dns.provider = args["dns"].as<std::string>();
    if (dns.provider != "route53" && dns.provider != "rfc2136" && dns.provider != "exec") {
        throw ConfigError(fmt::format("--dns: unknown provider '{}' (route53, rfc2136 or exec)", dns.provider));
    }
    if (args.count("dns-resolver") != 0U) {
        dns.resolver = args["dns-resolver"].as<std::string>();
    }
    if (args.count("dns-nameservers") != 0U) {
        dns.nameservers = args["dns-nameservers"].as<std::string>();
    }
    dns.follow_cname = args.count("no-cname-follow") == 0U;
    const int timeout = args["dns-timeout"].as<int>();
    if (timeout <= 0 || timeout > 3600) {
        throw ConfigError("--dns-timeout: must be between 1 and 3600 seconds");
    }
    dns.propagation_timeout = std::chrono::seconds(timeout);
    dns.route53_zone_id = env_or("AWS_HOSTED_ZONE_ID", "");
    if (args.count("route53-zone-id") != 0U) {
        dns.route53_zone_id = args["route53-zone-id"].as<std::string>();
    }
    dns.route53_private_zone = args.count("route53-private-zone") != 0U;
    dns.route53_assume_role_arn = env_or("AWS_ASSUME_ROLE_ARN", "");
    if (args.count("route53-assume-role-arn") != 0U) {
        dns.route53_assume_role_arn = args["route53-assume-role-arn"].as<std::string>();
    }
    if (args.count("route53-external-id") != 0U) {
        dns.route53_external_id = args["route53-external-id"].as<std::string>();
    }
    dns.route53_requests_per_second = args["route53-rps"].as<double>();
    if (!(dns.route53_requests_per_second > 0.0 && dns.route53_requests_per_second <= 100.0)) {
        throw ConfigError("--route53-rps: must be above 0 and at most 100");
    }
    dns.rfc2136_server = env_or("RFC2136_NAMESERVER", "");
    if (args.count("rfc2136-server") != 0U) {
        dns.rfc2136_server = args["rfc2136-server"].as<std::string>();
    }
    dns.rfc2136_tsig_key = env_or("RFC2136_TSIG_KEY", "");
    if (args.count("rfc2136-tsig-key") != 0U) {
        dns.rfc2136_tsig_key = args["rfc2136-tsig-key"].as<std::string>();
    }
    dns.rfc2136_tsig_algorithm = env_or("RFC2136_TSIG_ALGORITHM", args["rfc2136-tsig-algorithm"].as<std::string>());
    dns.rfc2136_tsig_secret = env_or("RFC2136_TSIG_SECRET", "");
    if (args.count("rfc2136-tsig-secret-file") != 0U) {
        dns.rfc2136_tsig_secret =
            read_secret_file(args["rfc2136-tsig-secret-file"].as<std::string>(), "--rfc2136-tsig-secret-file");
    }
    dns.rfc2136_ttl = args["rfc2136-ttl"].as<int>();
    dns.exec_path = env_or("EXEC_PATH", "");
    if (args.count("exec-path") != 0U) {
        dns.exec_path = args["exec-path"].as<std::string>();
    }
    if (dns.provider == "rfc2136" && dns.rfc2136_server.empty()) {
        throw ConfigError("--dns rfc2136 needs --rfc2136-server (or RFC2136_NAMESERVER)");
    }
    if (dns.provider == "exec" && dns.exec_path.empty()) {
        throw ConfigError("--dns exec needs --exec-path (or EXEC_PATH)");
    }
    if (!dns.rfc2136_tsig_secret.empty()) {
        core::log::register_secret(dns.rfc2136_tsig_secret);
    }
    return dns;
}

void configure_logging(const cxxopts::ParseResult& args) {
    core::log::Options log_options;
    const std::string level = args["log-level"].as<std::string>();
    if (level == "trace") {
        log_options.level = core::log::Level::trace;
    } else if (level == "debug") {
        log_options.level = core::log::Level::debug;
    } else if (level == "info") {
        log_options.level = core::log::Level::info;
    } else if (level == "warn") {
        log_options.level = core::log::Level::warn;
    } else if (level == "error") {
        log_options.level = core::log::Level::error;
    } else {
        throw ConfigError(fmt::format("--log-level: unknown level '{}'", level));
    }
    const std::string format = args["log-format"].as<std::string>();
    if (format == "auto") {
        log_options.format = core::log::Format::automatic;
    } else if (format == "text") {
        log_options.format = core::log::Format::text;
    } else if (format == "json") {
        log_options.format = core::log::Format::json;
    } else {
        throw ConfigError(fmt::format("--log-format: unknown format '{}'", format));
    }
    core::log::configure(log_options);
}

extern "C" void on_terminate_signal(int /*signal*/) { core::cancel(); }

void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_terminate_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
}

// The flags shared by `run` and `plan`.
void add_run_options(cxxopts::Options& options) {
    add_common_options(options);
    options.add_options("Certificates")("c,config", "JSON configuration file for many certificates (see README)",
                                        cxxopts::value<std::string>())(
        "d,domain", "a name of the certificate (repeat; wildcards allowed)",
        cxxopts::value<std::vector<std::string>>())("cert", "one more certificate: comma-separated names (repeat)",
                                                    cxxopts::value<std::vector<std::string>>())(
        "key-type", "ec256, ec384, rsa2048, rsa3072 or rsa4096", cxxopts::value<std::string>())(
        "reuse-key", "keep the current certificate's private key")(
        "out", "output folder: fullchain.pem, privkey.pem (0600), chain.pem, bundle.json",
        cxxopts::value<std::string>())(
        "store", "where certificates live: aws-sm:SECRET_NAME or dir:/path ('{name}' expands)",
        cxxopts::value<std::string>())("allow", "permitted name or .suffix (repeat); other names are refused",
                                       cxxopts::value<std::vector<std::string>>())(
        "trust-root", "PEM file of the CA's root(s); the issued chain must verify against it",
        cxxopts::value<std::string>())("force", "renew even when not due")(
        "dry-run", "plan and report; order, store and replace nothing")(
        "spool-dir", "where issued but unstored certificates wait for the next run", cxxopts::value<std::string>())(
        "concurrency", "orders in flight at once (default 4)", cxxopts::value<int>());
    options.add_options("ACME")("server", "ACME directory URL (default: Let's Encrypt)", cxxopts::value<std::string>())(
        "staging", "use Let's Encrypt's staging directory")(
        "ca-bundle", "PEM file of roots trusted for the ACME server's TLS (e.g. Pebble)",
        cxxopts::value<std::string>())("email", "contact e-mail of the ACME account", cxxopts::value<std::string>())(
        "agree-tos", "agree to the CA's terms of service")("eab-kid", "External Account Binding key id",
                                                           cxxopts::value<std::string>())(
        "eab-hmac-key", "External Account Binding HMAC key, base64url (better: ACME_EAB_HMAC_KEY)",
        cxxopts::value<std::string>())("account-key-type", "ec256 (ES256), ec384 (ES384) or rsa2048 (RS256)",
                                       cxxopts::value<std::string>()->default_value("ec256"))(
        "account-file", "keep the ACME account key and URL in this file (default: in the store)",
        cxxopts::value<std::string>())("preferred-chain", "issuer common name of the preferred alternate chain",
                                       cxxopts::value<std::string>())(
        "profile", "ACME profile to request (when the CA offers profiles)", cxxopts::value<std::string>())(
        "timeout", "seconds one order may take", cxxopts::value<int>()->default_value("600"))(
        "deadline",
        "seconds the whole run may take (work stops 20 s before; in Lambda: per invocation, "
        "besides the invocation's own deadline)",
        cxxopts::value<int>());
    options.add_options("Replacement (once per run, only when something changed)")(
        "replace", "autoscaling:GROUP, ec2-tag:KEY=VALUE, ecs:CLUSTER/SERVICE or none", cxxopts::value<std::string>())(
        "min-healthy-percentage", "instance refresh: minimum healthy percentage",
        cxxopts::value<int>()->default_value("90"))("max-terminate", "ec2-tag: at most this many instances per run",
                                                    cxxopts::value<int>()->default_value("1"))(
        "deploy-hook", "shell command run with RENEWED_* variables when something changed",
        cxxopts::value<std::string>());
    add_dns_options(options);
    options.custom_help("[options]");
}

template <typename T>
std::optional<T> flag(const cxxopts::ParseResult& args, const char* name) {
    if (args.count(name) == 0U) {
        return std::nullopt;
    }
    return args[name].as<T>();
}

ReplaceTarget replace_from_flags(const cxxopts::ParseResult& args) {
    ReplaceTarget target;
    if (auto hook = flag<std::string>(args, "deploy-hook")) {
        target.type = ReplaceType::hook;
        target.command = *hook;
    }
    const auto spec = flag<std::string>(args, "replace");
    if (!spec || *spec == "none") {
        return target;
    }
    if (target.type == ReplaceType::hook) {
        throw ConfigError("--replace and --deploy-hook: give one of them");
    }
    const auto colon = spec->find(':');
    const std::string kind = spec->substr(0, colon);
    const std::string rest = colon == std::string::npos ? "" : spec->substr(colon + 1);
    if (kind == "autoscaling" && !rest.empty()) {
        target.type = ReplaceType::autoscaling;
        target.group = rest;
        target.min_healthy_percentage = args["min-healthy-percentage"].as<int>();
    } else if (kind == "ec2-tag" && rest.find('=') != std::string::npos && rest.find('=') > 0) {
        target.type = ReplaceType::ec2_tag;
        target.tag_key = rest.substr(0, rest.find('='));
        target.tag_value = rest.substr(rest.find('=') + 1);
        target.max_terminate = args["max-terminate"].as<int>();
    } else if (kind == "ecs" && rest.find('/') != std::string::npos) {
        target.type = ReplaceType::ecs;
        target.cluster = rest.substr(0, rest.find('/'));
        target.service = rest.substr(rest.find('/') + 1);
    } else {
        throw ConfigError(
            fmt::format("--replace '{}': expected autoscaling:GROUP, ec2-tag:KEY=VALUE, "
                        "ecs:CLUSTER/SERVICE or none",
                        *spec));
    }
    if (target.min_healthy_percentage < 0 || target.min_healthy_percentage > 100) {
        throw ConfigError("--min-healthy-percentage: must be between 0 and 100");
    }
    if (target.max_terminate < 1) {
        throw ConfigError("--max-terminate: must be at least 1");
    }
    return target;
}

std::vector<std::vector<std::string>> certificates_from_flags(const cxxopts::ParseResult& args) {
    std::vector<std::vector<std::string>> certificates;
    if (args.count("domain") != 0U) {
        certificates.push_back(args["domain"].as<std::vector<std::string>>());
    }
    if (args.count("cert") != 0U) {
        // cxxopts splits vector values at commas, which would make every name
        // of "--cert a,b" a certificate of its own: take each --cert as given.
        for (const auto& given : args.arguments()) {
            if (given.key() != "cert") {
                continue;
            }
            const std::string& spec = given.value();
            std::vector<std::string> names;
            std::size_t start = 0;
            while (true) {
                const std::size_t comma = spec.find(',', start);
                std::string name = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (!name.empty()) {
                    names.push_back(std::move(name));
                }
                if (comma == std::string::npos) {
                    break;
                }
                start = comma + 1;
            }
            if (names.empty()) {
                throw ConfigError(fmt::format("--cert '{}': no names", spec));
            }
            certificates.push_back(std::move(names));
        }
    }
    return certificates;
}

// --deadline SECONDS, validated.
std::optional<std::chrono::seconds> deadline_budget(const cxxopts::ParseResult& args) {
    const auto seconds = flag<int>(args, "deadline");
    if (!seconds) {
        return std::nullopt;
    }
    if (*seconds <= 0 || *seconds > 86400) {
        throw ConfigError("--deadline: must be between 1 and 86400 seconds");
    }
    return std::chrono::seconds(*seconds);
}

// Builds the run's settings. One precedence rule for every setting:
// command-line flags > environment variables > configuration file > defaults.
RunSettings settings_from(const cxxopts::ParseResult& args) {
    RunSettings settings;
    Config& config = settings.config;
    const auto certificates = certificates_from_flags(args);
    auto config_file = flag<std::string>(args, "config");
    if (!config_file && certificates.empty()) {
        // A container's command line is fixed by its image; the file may be
        // named in the environment instead (Lambda, ECS).
        config_file = env_setting("RENEWER_CONFIG");
    }
    if (const auto& file = config_file) {
        if (!certificates.empty()) {
            throw ConfigError("--config and -d/--cert: give the names in one place");
        }
        auto loaded = load_config(*file);
        if (!loaded) {
            throw ConfigError(loaded.error().message);
        }
        config = std::move(*loaded);
    } else {
        if (certificates.empty()) {
            throw ConfigError(
                "no names: give -d NAME (repeatable), --cert NAME,NAME or --config FILE "
                "(or RENEWER_CONFIG=FILE)");
        }
        if (args.count("allow") != 0U) {
            for (const auto& entry : args["allow"].as<std::vector<std::string>>()) {
                auto normalized = normalize_allow_entry(entry);
                if (!normalized) {
                    throw ConfigError("--allow: " + normalized.error().message);
                }
                config.allow.push_back(*normalized);
            }
        }
        const auto out = flag<std::string>(args, "out");
        const auto store = flag<std::string>(args, "store");
        if (out && store) {
            throw ConfigError("--out and --store: give one of them");
        }
        if (!out && !store) {
            throw ConfigError("where should the certificate go? give --out DIR or --store aws-sm:NAME|dir:/path");
        }
        const DnsOptions dns = dns_options_from(args);
        const ReplaceTarget replace = replace_from_flags(args);
        const std::string key_name =
            choose_setting<std::string>(flag<std::string>(args, "key-type"), std::nullopt, std::nullopt, "ec256");
        const auto key_type = core::parse_key_type(key_name);
        if (!key_type) {
            throw ConfigError(
                fmt::format("--key-type: unknown key type '{}' (ec256, ec384, rsa2048, rsa3072, rsa4096)", key_name));
        }
        for (const auto& names : certificates) {
            auto normalized = normalize_certificate_names(names, config.allow);
            if (!normalized) {
                throw ConfigError(normalized.error().message);
            }
            CertificateConfig certificate;
            certificate.domains = std::move(*normalized);
            certificate.id = certificate.domains.front();
            certificate.key_type = *key_type;
            // One certificate: files straight in --out; several: a folder each.
            std::string spec = store ? *store : certificates.size() == 1 ? "dir:" + *out : "dir:" + *out + "/{name}";
            std::string safe_id = certificate.id;
            std::replace(safe_id.begin(), safe_id.end(), '*', '_');
            if (const auto at = spec.find("{name}"); at != std::string::npos) {
                spec.replace(at, 6, safe_id);
            }
            auto parsed = parse_store_spec(spec);
            if (!parsed) {
                throw ConfigError(parsed.error().message);
            }
            certificate.store = *parsed;
            certificate.dns = dns;
            certificate.replace = replace;
            certificate.profile = flag<std::string>(args, "profile").value_or("");
            config.certificates.push_back(std::move(certificate));
        }
        for (std::size_t i = 0; i < config.certificates.size(); ++i) {
            for (std::size_t j = i + 1; j < config.certificates.size(); ++j) {
                if (config.certificates[i].id == config.certificates[j].id) {
                    throw ConfigError(fmt::format("--cert: certificate {} given twice", config.certificates[i].id));
                }
            }
        }
    }
    if (args.count("server") != 0U && args.count("staging") != 0U) {
        throw ConfigError("--server and --staging: give one of them");
    }
    std::optional<std::string> server_flag = flag<std::string>(args, "server");
    if (args.count("staging") != 0U) {
        server_flag = k_letsencrypt_staging;
    }
    config.server = choose_setting<std::string>(server_flag, env_setting("ACME_SERVER"), std::nullopt, config.server);
    if (config.server.empty()) {
        config.server = k_letsencrypt;
    }
    if (config.server.rfind("https://", 0) != 0) {
        throw ConfigError(fmt::format("--server '{}': must be an https:// URL", config.server));
    }
    config.ca_bundle = choose_setting<std::string>(flag<std::string>(args, "ca-bundle"), env_setting("ACME_CA_BUNDLE"),
                                                   std::nullopt, config.ca_bundle);
    config.email = choose_setting<std::string>(flag<std::string>(args, "email"), env_setting("ACME_EMAIL"),
                                               std::nullopt, config.email);
    config.agree_tos = config.agree_tos || args.count("agree-tos") != 0U;
    if (auto kid = flag<std::string>(args, "eab-kid")) {
        config.eab.kid = *kid;
        config.eab.hmac_key = choose_setting<std::string>(flag<std::string>(args, "eab-hmac-key"),
                                                          env_setting("ACME_EAB_HMAC_KEY"), std::nullopt, "");
    } else if (args.count("eab-hmac-key") != 0U) {
        throw ConfigError("--eab-hmac-key needs --eab-kid");
    }
    if (!config.eab.kid.empty() && config.eab.hmac_key.empty()) {
        throw ConfigError("--eab-kid needs the HMAC key: --eab-hmac-key or ACME_EAB_HMAC_KEY");
    }
    if (!config.eab.hmac_key.empty()) {
        core::log::register_secret(config.eab.hmac_key);
    }
    if (auto spool = flag<std::string>(args, "spool-dir")) {
        config.spool_dir = *spool;
    }
    if (auto concurrency = flag<int>(args, "concurrency")) {
        if (*concurrency < 1 || *concurrency > 64) {
            throw ConfigError("--concurrency: must be between 1 and 64");
        }
        config.concurrency = *concurrency;
    }
    const std::string account_key = args["account-key-type"].as<std::string>();
    if (account_key == "ec256") {
        settings.account_key_type = core::KeyType::ec256;
    } else if (account_key == "ec384") {
        settings.account_key_type = core::KeyType::ec384;
    } else if (account_key == "rsa2048") {
        settings.account_key_type = core::KeyType::rsa2048;
    } else {
        throw ConfigError(fmt::format("--account-key-type: '{}' is not ec256, ec384 or rsa2048", account_key));
    }
    settings.account_file = flag<std::string>(args, "account-file").value_or("");
    settings.preferred_chain = flag<std::string>(args, "preferred-chain").value_or("");
    settings.reuse_key = args.count("reuse-key") != 0U ? KeyReuse::yes : KeyReuse::no;
    settings.force = args.count("force") != 0U ? Force::yes : Force::no;
    settings.dry_run = args.count("dry-run") != 0U ? DryRun::yes : DryRun::no;
    const int timeout = args["timeout"].as<int>();
    if (timeout <= 0 || timeout > 86400) {
        throw ConfigError("--timeout: must be between 1 and 86400 seconds");
    }
    settings.order_timeout = std::chrono::seconds(timeout);
    if (auto budget = deadline_budget(args)) {
        settings.deadline = deadline_before(core::Clock::now() + *budget);
    }
    settings.lease_ttl = settings.order_timeout + std::chrono::seconds(300);
    if (auto root_file = flag<std::string>(args, "trust-root")) {
        auto text = core::read_file(*root_file);
        if (!text) {
            throw ConfigError("--trust-root: " + text.error().message);
        }
        auto roots = core::parse_pem_chain(*text);
        if (!roots) {
            throw ConfigError("--trust-root " + *root_file + ": " + roots.error().message);
        }
        settings.trust_roots = std::move(*roots);
    }
    if (!config.ca_bundle.empty()) {
        if (auto bundle = core::read_file(config.ca_bundle); !bundle) {
            throw ConfigError("--ca-bundle: " + bundle.error().message);
        }
    }
    return settings;
}

// `renewer run` as a Lambda runtime (AWS_LAMBDA_RUNTIME_API set): flags and
// configuration once, reported to /runtime/init/error when they fail.
int lambda_subcommand(int argc, char** argv, const std::string& runtime_api) {
    std::optional<RunSettings> settings;
    std::optional<std::chrono::seconds> budget;
    try {
        cxxopts::Options options("renewer run", "Renew what is due (Lambda runtime mode).");
        add_run_options(options);
        auto args = options.parse(argc, argv);
        configure_logging(args);
        settings.emplace(settings_from(args));
        budget = deadline_budget(args);
        settings->deadline.reset();  // per invocation, from its header and `budget`
    } catch (const cxxopts::exceptions::exception& e) {
        return lambda_init_failed(runtime_api, e.what());
    } catch (const ConfigError& e) {
        return lambda_init_failed(runtime_api, e.what());
    }
    return run_lambda(runtime_api, *settings, budget);
}

int run_subcommand(int argc, char** argv, RunMode mode) {
    if (mode == RunMode::run) {
        if (const std::string api = env_or(k_lambda_runtime_api_env, ""); !api.empty()) {
            return lambda_subcommand(argc, argv, api);
        }
    }
    cxxopts::Options options(mode == RunMode::plan ? "renewer plan" : "renewer run",
                             mode == RunMode::plan
                                 ? "Print for each certificate whether it is due and why; change nothing."
                                 : "Renew what is due: order over ACME with DNS-01, verify, store, replace.");
    add_run_options(options);
    auto args = options.parse(argc, argv);
    if (args.count("help") != 0U) {
        std::cout << options.help() << k_usage_tail;
        return k_exit_ok;
    }
    configure_logging(args);
    return run_command(settings_from(args), mode);
}

int dns_test_subcommand(int argc, char** argv) {
    cxxopts::Options options("renewer dns-test",
                             "Present a random TXT record for each name, wait until every authoritative server "
                             "answers it, report the time taken, and clean up.");
    add_common_options(options);
    options.add_options("Names")("d,domain", "name to test (repeat)", cxxopts::value<std::vector<std::string>>());
    add_dns_options(options);
    auto args = options.parse(argc, argv);
    if (args.count("help") != 0U) {
        std::cout << options.help() << k_usage_tail;
        return k_exit_ok;
    }
    configure_logging(args);
    if (args.count("domain") == 0U) {
        throw ConfigError("no names: give -d NAME");
    }
    return dns_test_command(args["domain"].as<std::vector<std::string>>(), dns_options_from(args));
}

void print_usage() {
    std::cout << "Usage: renewer COMMAND [options]   (renewer COMMAND --help for its options)\n"
              << "renewer " << RENEWER_VERSION
              << ": obtains and renews certificates over ACME (RFC 8555) with DNS-01.\n"
              << k_usage_tail;
}

}  // namespace

int renewer_main(int argc, char** argv) {
    install_signal_handlers();
    try {
        if (argc < 2) {
            print_usage();
            return k_exit_bad_config;
        }
        const std::string command = argv[1];
        if (command == "-h" || command == "--help" || command == "help") {
            print_usage();
            return k_exit_ok;
        }
        if (command == "--version" || command == "version") {
            std::cout << "renewer " << RENEWER_VERSION << "\n";
            return k_exit_ok;
        }
        // Subcommands see argv without the command word.
        std::vector<char*> rest;
        rest.push_back(argv[0]);
        for (int i = 2; i < argc; ++i) {
            rest.push_back(argv[i]);
        }
        const int rest_argc = static_cast<int>(rest.size());
        if (command == "run") {
            return run_subcommand(rest_argc, rest.data(), RunMode::run);
        }
        if (command == "plan") {
            return run_subcommand(rest_argc, rest.data(), RunMode::plan);
        }
        if (command == "dns-test") {
            return dns_test_subcommand(rest_argc, rest.data());
        }
        std::cerr << "renewer: unknown command '" << command << "' (run, plan, dns-test, version; --help)\n";
        return k_exit_bad_config;
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << "renewer: " << e.what() << "\n";
        return k_exit_bad_config;
    } catch (const ConfigError& e) {
        std::cerr << "renewer: " << e.what() << "\n";
        return k_exit_bad_config;
    } catch (const std::exception& e) {
        core::log::error(std::string("fatal: ") + e.what());
        return k_exit_failed;
    }
}

}  // namespace renewer
