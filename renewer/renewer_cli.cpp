#include "renewer/renewer_cli.hpp"

#include <csignal>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <cxxopts.hpp>
#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "renewer/commands.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/run_options.hpp"
#include "version.hpp"

namespace renewer {
namespace {

constexpr const char* k_usage_tail = R"(
Commands:
  run        obtain certificates for the given names and write them out
  dns-test   present a random TXT record, wait until every authoritative
             server answers it, report the time taken, clean up
  version    print the version

Exit codes:
  0  nothing to do, or every certificate renewed
  1  some certificate failed (the others were still processed)
  2  bad configuration or flags; nothing was attempted

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
    options.add_options("General")
        ("h,help", "show this help")
        ("version", "print the version")
        ("log-level", "trace, debug, info, warn or error", cxxopts::value<std::string>()->default_value("info"))
        ("log-format", "auto (text on a terminal, JSON lines otherwise), text or json",
         cxxopts::value<std::string>()->default_value("auto"));
}

void add_dns_options(cxxopts::Options& options) {
    options.add_options("DNS")
        ("dns", "DNS provider: route53, rfc2136 or exec", cxxopts::value<std::string>()->default_value("route53"))
        ("dns-resolver", "recursive resolver host:port for SOA/NS/CNAME look-ups", cxxopts::value<std::string>())
        ("dns-nameservers", "host:port[,host:port] that replace the authoritative servers' addresses",
         cxxopts::value<std::string>())
        ("no-cname-follow", "do not follow a CNAME at _acme-challenge.<name>")
        ("dns-timeout", "seconds to wait for the records to be visible everywhere",
         cxxopts::value<int>()->default_value("300"))
        ("route53-zone-id", "hosted zone id (skips zone discovery)", cxxopts::value<std::string>())
        ("route53-private-zone", "prefer a private hosted zone over a public one of the same name")
        ("route53-assume-role-arn", "role to assume for Route53 calls", cxxopts::value<std::string>())
        ("route53-external-id", "external id for the assumed role", cxxopts::value<std::string>())
        ("route53-rps", "maximum Route53 requests per second", cxxopts::value<double>()->default_value("4"))
        ("rfc2136-server", "DNS server host:port for RFC 2136 updates", cxxopts::value<std::string>())
        ("rfc2136-tsig-key", "TSIG key name", cxxopts::value<std::string>())
        ("rfc2136-tsig-algorithm", "hmac-sha256 or hmac-sha512",
         cxxopts::value<std::string>()->default_value("hmac-sha256"))
        ("rfc2136-tsig-secret-file", "file holding the base64 TSIG secret (or RFC2136_TSIG_SECRET)",
         cxxopts::value<std::string>())
        ("rfc2136-ttl", "TTL of the TXT records", cxxopts::value<int>()->default_value("60"))
        ("exec-path", "program called as: PROG present|cleanup FQDN VALUE", cxxopts::value<std::string>());
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

int run_subcommand(int argc, char** argv) {
    cxxopts::Options options("renewer run", "Obtain certificates over ACME with DNS-01 and write them to a folder.");
    add_common_options(options);
    options.add_options("Certificates")
        ("d,domain", "a name of the certificate (repeat; wildcards allowed)", cxxopts::value<std::vector<std::string>>())
        ("cert", "one more certificate: comma-separated names (repeat)", cxxopts::value<std::vector<std::string>>())
        ("key-type", "ec256, ec384, rsa2048, rsa3072 or rsa4096", cxxopts::value<std::string>()->default_value("ec256"))
        ("reuse-key", "keep the existing private key from the output folder")
        ("out", "output folder (fullchain.pem, privkey.pem, chain.pem)", cxxopts::value<std::string>())
        ("trust-root", "PEM file of the CA's root(s); the issued chain must verify against it",
         cxxopts::value<std::string>())
        ("concurrency", "orders in flight at once", cxxopts::value<int>()->default_value("4"));
    options.add_options("ACME")
        ("server", "ACME directory URL (default: Let's Encrypt)", cxxopts::value<std::string>())
        ("staging", "use Let's Encrypt's staging directory")
        ("ca-bundle", "PEM file of roots trusted for the ACME server's TLS (e.g. Pebble)",
         cxxopts::value<std::string>())
        ("email", "contact e-mail of the ACME account", cxxopts::value<std::string>())
        ("agree-tos", "agree to the CA's terms of service")
        ("eab-kid", "External Account Binding key id", cxxopts::value<std::string>())
        ("eab-hmac-key", "External Account Binding HMAC key, base64url (or ACME_EAB_HMAC_KEY)",
         cxxopts::value<std::string>())
        ("account-key-type", "ec256 (ES256), ec384 (ES384) or rsa2048 (RS256)",
         cxxopts::value<std::string>()->default_value("ec256"))
        ("account-file", "where the ACME account key and URL are kept (default: <out>/account.json)",
         cxxopts::value<std::string>())
        ("preferred-chain", "issuer common name of the preferred alternate chain", cxxopts::value<std::string>())
        ("profile", "ACME profile to request (when the CA offers profiles)", cxxopts::value<std::string>())
        ("timeout", "seconds one order may take", cxxopts::value<int>()->default_value("600"));
    add_dns_options(options);
    options.custom_help("[options]");

    auto args = options.parse(argc, argv);
    if (args.count("help") != 0U) {
        std::cout << options.help() << k_usage_tail;
        return k_exit_ok;
    }
    configure_logging(args);

    RunOptions run;
    if (args.count("domain") != 0U) {
        run.certificates.push_back({args["domain"].as<std::vector<std::string>>()});
    }
    if (args.count("cert") != 0U) {
        for (const auto& spec : args["cert"].as<std::vector<std::string>>()) {
            CertificateRequest request;
            std::size_t start = 0;
            while (start <= spec.size()) {
                const std::size_t comma = spec.find(',', start);
                const std::string name = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
                if (!name.empty()) {
                    request.names.push_back(name);
                }
                if (comma == std::string::npos) {
                    break;
                }
                start = comma + 1;
            }
            if (request.names.empty()) {
                throw ConfigError(fmt::format("--cert '{}': no names", spec));
            }
            run.certificates.push_back(std::move(request));
        }
    }
    if (run.certificates.empty()) {
        throw ConfigError("no names: give -d NAME (repeatable) or --cert NAME,NAME");
    }
    if (args.count("out") == 0U) {
        throw ConfigError("--out DIR is required");
    }
    run.out_dir = args["out"].as<std::string>();
    run.key_type = args["key-type"].as<std::string>();
    run.reuse_key = args.count("reuse-key") != 0U;
    if (args.count("trust-root") != 0U) {
        run.trust_root = args["trust-root"].as<std::string>();
    }
    run.concurrency = args["concurrency"].as<int>();
    if (run.concurrency < 1 || run.concurrency > 64) {
        throw ConfigError("--concurrency: must be between 1 and 64");
    }
    if (args.count("server") != 0U && args.count("staging") != 0U) {
        throw ConfigError("--server and --staging: give one of them");
    }
    run.server = args.count("server") != 0U ? args["server"].as<std::string>()
                 : args.count("staging") != 0U ? std::string(k_letsencrypt_staging)
                                                : std::string(k_letsencrypt);
    if (args.count("ca-bundle") != 0U) {
        run.ca_bundle = args["ca-bundle"].as<std::string>();
    }
    if (args.count("email") != 0U) {
        run.email = args["email"].as<std::string>();
    }
    run.agree_tos = args.count("agree-tos") != 0U;
    if (args.count("eab-kid") != 0U) {
        run.eab_kid = args["eab-kid"].as<std::string>();
    }
    run.eab_hmac_key = env_or("ACME_EAB_HMAC_KEY", "");
    if (args.count("eab-hmac-key") != 0U) {
        run.eab_hmac_key = args["eab-hmac-key"].as<std::string>();
    }
    if (run.eab_kid.empty() != run.eab_hmac_key.empty()) {
        throw ConfigError("--eab-kid and --eab-hmac-key: give both or neither");
    }
    if (!run.eab_hmac_key.empty()) {
        core::log::register_secret(run.eab_hmac_key);
    }
    run.account_key_type = args["account-key-type"].as<std::string>();
    run.account_file = args.count("account-file") != 0U ? args["account-file"].as<std::string>()
                                                        : run.out_dir + "/account.json";
    if (args.count("preferred-chain") != 0U) {
        run.preferred_chain = args["preferred-chain"].as<std::string>();
    }
    if (args.count("profile") != 0U) {
        run.profile = args["profile"].as<std::string>();
    }
    const int timeout = args["timeout"].as<int>();
    if (timeout <= 0 || timeout > 86400) {
        throw ConfigError("--timeout: must be between 1 and 86400 seconds");
    }
    run.order_timeout = std::chrono::seconds(timeout);
    run.dns = dns_options_from(args);
    return run_command(run);
}

int dns_test_subcommand(int argc, char** argv) {
    cxxopts::Options options("renewer dns-test",
                             "Present a random TXT record for each name, wait until every authoritative server "
                             "answers it, report the time taken, and clean up.");
    add_common_options(options);
    options.add_options("Names")
        ("d,domain", "name to test (repeat)", cxxopts::value<std::vector<std::string>>());
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
            return run_subcommand(rest_argc, rest.data());
        }
        if (command == "dns-test") {
            return dns_test_subcommand(rest_argc, rest.data());
        }
        std::cerr << "renewer: unknown command '" << command << "' (run, dns-test, version; --help)\n";
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
