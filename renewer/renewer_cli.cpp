#include "renewer/renewer_cli.hpp"

#include <algorithm>
#include <csignal>
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
#include "renewer/account_command.hpp"
#include "renewer/cli_options.hpp"
#include "renewer/commands.hpp"
#include "renewer/config.hpp"
#include "renewer/domain_list.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/lambda_runtime.hpp"
#include "renewer/preflight.hpp"
#include "renewer/revoke.hpp"
#include "renewer/run.hpp"
#include "renewer/status.hpp"
#include "version.hpp"

namespace renewer {
namespace {

namespace settings = core::settings;

constexpr const char* k_usage_tail = R"(
Commands:
  run        renew what is due: order over ACME with DNS-01, verify, store,
             then replace the web tier once if something changed
  plan       print for each certificate whether it is due and why; change nothing
  dns-test   present a random TXT record, wait until every authoritative
             server answers it, report the time taken, clean up
  status     one line per certificate: stored serial and expiry, next
             renewal, last run, lease holder; change nothing (--json)
  revoke     revoke a stored certificate (--cert NAME --reason REASON);
             the next run replaces it
  account    show | rollover | deactivate the ACME account a run uses
  version    print the version

Exit codes:
  0  nothing to do, or every certificate renewed
  1  some certificate failed (the others were still processed)
  2  bad configuration or flags; nothing was attempted
  3  nothing failed, but the CA answered rateLimited: the certificates not
     ordered are deferred to a later run (--max-new-orders deferrals exit 0)

Settings: command-line flags > environment variables > --config file >
built-in defaults, for every setting (docs/configuration.md).
)";

// What only `run` does (a plan orders nothing).
constexpr const char* k_run_notes = R"(
Deadline: `run --deadline SECONDS` bounds the whole run (e.g. an ECS task's
stop timeout): the work stops 20 s before the end, so DNS cleanup, leases,
replacement and the report still fit; no order starts with less than 30 s
left (those certificates fail with "deadline: not started").

Lambda: when AWS_LAMBDA_RUNTIME_API is set, `renewer run` is a Lambda
runtime: flags and configuration (--config, or RENEWER_CONFIG=FILE when
neither --config nor -d/--cert is given) are read once (an error goes to
/runtime/init/error, exit 2), then one run per invocation, bounded by the
invocation's deadline. Event (all optional): {"force": bool, "dry_run": bool}.
Exit code 0 answers with the report as JSON; 1 (and 3) is an invocation
error of type Renewer.CertificateFailed naming the failed (or deferred)
certificates.

Secrets are never taken from argv alone: --eab-hmac-key may also come from
ACME_EAB_HMAC_KEY, the TSIG secret from RFC2136_TSIG_SECRET or
--rfc2136-tsig-secret-file. AWS credentials and endpoints follow the AWS SDKs
(AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_ROUTE_53, IMDSv2, ...).
)";

// A settings or usage error: reported in one line, exit code 2, before any
// network call.
struct UsageError {
    std::string message;
};

template <typename T>
T or_usage_error(core::Result<T> result) {
    if (!result) {
        throw UsageError{result.error().message};
    }
    return std::move(result).value();
}

void or_usage_error(const core::Status& status) {
    if (!status) {
        throw UsageError{status.error().message};
    }
}

void configure_logging(const settings::Values& values) {
    core::log::Options log_options;
    const std::string level = settings::text(values, "log_level", "info");
    const std::string format = settings::text(values, "log_format", "auto");
    using core::log::Level;
    log_options.level = level == "trace"   ? Level::trace
                        : level == "debug" ? Level::debug
                        : level == "warn"  ? Level::warn
                        : level == "error" ? Level::error
                                           : Level::info;
    log_options.format = format == "text"   ? core::log::Format::text
                         : format == "json" ? core::log::Format::json
                                            : core::log::Format::automatic;
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

cxxopts::ParseResult parse_flags(cxxopts::Options& options, int argc, char** argv, const std::string& command) {
    try {
        return options.parse(argc, argv);
    } catch (const cxxopts::exceptions::exception& e) {
        throw UsageError{fmt::format("{}: {} (see {} --help)", command, e.what(), command)};
    }
}

// The file named by --config, or by RENEWER_CONFIG when the command line
// names no certificates (a container's command line is fixed by its image).
std::optional<std::string> config_file(const cxxopts::ParseResult& args, const CommandLine& command_line) {
    if (args.count("config") != 0U) {
        return args["config"].as<std::string>();
    }
    if (command_line.certificates.empty()) {
        return settings::process_env()("RENEWER_CONFIG");
    }
    return std::nullopt;
}

core::Result<Config> configuration(const cxxopts::ParseResult& args, const CommandLine& command_line) {
    if (const auto file = config_file(args, command_line)) {
        return load_config(*file, command_line);
    }
    return build_config(nullptr, "", command_line);
}

core::KeyType account_key_type(const settings::Values& run) {
    const std::string name = settings::text(run, "account_key_type", "ec256");
    return core::parse_key_type(name).value_or(core::KeyType::ec256);  // the row allows three names
}

std::vector<core::Certificate> trust_roots(const settings::Values& run) {
    const std::string file = settings::text(run, "trust_root");
    if (file.empty()) {
        return {};
    }
    const std::string origin = settings::origin(run, "trust_root");
    auto text = core::read_file(file);
    if (!text) {
        throw UsageError{origin + ": " + text.error().message};
    }
    auto roots = core::parse_pem_chain(*text);
    if (!roots) {
        throw UsageError{fmt::format("{} {}: {}", origin, file, roots.error().message)};
    }
    return std::move(roots).value();
}

// The run's settings: the configuration plus the flag-only settings.
RunSettings settings_from(Config config) {
    RunSettings settings;
    const settings::Values& run = config.run;
    settings.account_key_type = account_key_type(run);
    settings.account_file = settings::text(run, "account_file");
    settings.preferred_chain = settings::text(run, "preferred_chain");
    settings.reuse_key = settings::boolean(run, "reuse_key", false) ? KeyReuse::yes : KeyReuse::no;
    settings.force = settings::boolean(run, "force", false) ? Force::yes : Force::no;
    settings.dry_run = settings::boolean(run, "dry_run", false) ? DryRun::yes : DryRun::no;
    settings.order_timeout = std::chrono::seconds(settings::integer(run, "timeout", 600));
    if (run.contains("deadline")) {
        settings.deadline =
            deadline_before(core::Clock::now() + std::chrono::seconds(settings::integer(run, "deadline", 0)));
        settings.deadline_name = "--deadline " + std::to_string(settings::integer(run, "deadline", 0)) + " s";
    }
    settings.lease_ttl = run.contains("lease_ttl") ? std::chrono::seconds(settings::integer(run, "lease_ttl", 0))
                                                   : settings.order_timeout + std::chrono::seconds(300);
    settings.trust_roots = trust_roots(run);
    if (!config.ca_bundle.empty()) {
        if (auto bundle = core::read_file(config.ca_bundle); !bundle) {
            throw UsageError{settings::origin(run, "ca_bundle") + ": " + bundle.error().message};
        }
    }
    settings.config = std::move(config);
    return settings;
}

// What `run` checks on the machine before any network call: the folders
// where an issued certificate would wait, and a --deadline that fits an order.
void preflight(const Config& config) {
    if (!settings::boolean(config.run, "dry_run", false)) {
        or_usage_error(check_state_folders(config));
    }
    if (config.run.contains("deadline")) {
        if (const auto warning = deadline_too_short(settings::integer(config.run, "deadline", 0))) {
            core::log::warn(*warning);
        }
    }
}

struct Parsed {
    cxxopts::ParseResult args;
    CommandLine command_line;
};

// Parses and checks a subcommand's flags; nullopt when --help or --version
// answered already.
std::optional<Parsed> parse_command(cxxopts::Options& options, FlagSet set, int argc, char** argv,
                                    const std::string& command) {
    add_flags(options, set);
    auto args = parse_flags(options, argc, argv, command);
    if (args.count("help") != 0U) {
        std::cout << help_text(options, set) << k_usage_tail << (set == FlagSet::plan ? "" : k_run_notes);
        return std::nullopt;
    }
    if (args.count("version") != 0U) {
        std::cout << "renewer " << RENEWER_VERSION << "\n";
        return std::nullopt;
    }
    or_usage_error(reject_extra_arguments(args, command));
    auto command_line = or_usage_error(read_command_line(args, set));
    return Parsed{args, std::move(command_line)};
}

// `renewer run` as a Lambda runtime (AWS_LAMBDA_RUNTIME_API set): flags and
// configuration once, reported to /runtime/init/error when they fail.
int lambda_subcommand(int argc, char** argv, const std::string& runtime_api) {
    std::optional<RunSettings> settings;
    std::optional<std::chrono::seconds> budget;
    try {
        cxxopts::Options options("renewer run", "Renew what is due (Lambda runtime mode).");
        auto parsed = parse_command(options, FlagSet::run, argc, argv, "renewer run");
        if (!parsed) {
            return k_exit_ok;
        }
        auto config = or_usage_error(configuration(parsed->args, parsed->command_line));
        configure_logging(config.run);
        preflight(config);
        if (config.run.contains("deadline")) {
            budget = std::chrono::seconds(settings::integer(config.run, "deadline", 0));
        }
        settings.emplace(settings_from(std::move(config)));
        settings->deadline.reset();  // per invocation, from its header and `budget`
    } catch (const UsageError& e) {
        return lambda_init_failed(runtime_api, e.message);
    }
    return run_lambda(runtime_api, *settings, budget);
}

int run_subcommand(int argc, char** argv, RunMode mode) {
    if (mode == RunMode::run) {
        if (const auto api = settings::process_env()(k_lambda_runtime_api_env)) {
            return lambda_subcommand(argc, argv, *api);
        }
    }
    const std::string command = mode == RunMode::plan ? "renewer plan" : "renewer run";
    cxxopts::Options options(command, mode == RunMode::plan
                                          ? "Print for each certificate whether it is due and why; change nothing."
                                          : "Renew what is due: order over ACME with DNS-01, verify, store, replace.");
    options.custom_help("[options]");
    auto parsed = parse_command(options, mode == RunMode::plan ? FlagSet::plan : FlagSet::run, argc, argv, command);
    if (!parsed) {
        return k_exit_ok;
    }
    auto config = or_usage_error(configuration(parsed->args, parsed->command_line));
    configure_logging(config.run);
    if (mode == RunMode::run) {
        preflight(config);
    }
    return run_command(settings_from(std::move(config)), mode);
}

// `renewer status`: the plan's flags (one command line serves run, plan and
// status) plus --json.
int status_subcommand(int argc, char** argv) {
    cxxopts::Options options("renewer status",
                             "One line per certificate: stored serial and expiry, next renewal, last run, lease "
                             "holder; change nothing.");
    options.custom_help("[options]");
    options.add_options("Output")("json", "JSON lines also on a terminal");
    auto parsed = parse_command(options, FlagSet::plan, argc, argv, "renewer status");
    if (!parsed) {
        return k_exit_ok;
    }
    auto config = or_usage_error(configuration(parsed->args, parsed->command_line));
    configure_logging(config.run);
    const auto format = parsed->args.count("json") != 0U ? StatusFormat::json : StatusFormat::automatic;
    return status_over_domain_list(settings_from(std::move(config)), format);
}

int dns_test_subcommand(int argc, char** argv) {
    cxxopts::Options options("renewer dns-test",
                             "Present a random TXT record for each name, wait until every authoritative server "
                             "answers it, report the time taken, and clean up.");
    auto parsed = parse_command(options, FlagSet::dns_test, argc, argv, "renewer dns-test");
    if (!parsed) {
        return k_exit_ok;
    }
    configure_logging(parsed->command_line.global);
    if (parsed->args.count("domain") == 0U) {
        throw UsageError{"renewer dns-test: no names: give -d NAME"};
    }
    auto dns = or_usage_error(dns_config_from(parsed->command_line));
    return dns_test_command(parsed->args["domain"].as<std::vector<std::string>>(), dns);
}

// The configuration for a command that acts on configured certificates
// (revoke, account): with a configuration file, --cert NAME picks one of its
// certificates by id instead of adding one; `selected` receives that id.
std::optional<RunSettings> settings_for(std::optional<Parsed> parsed, std::string& selected) {
    if (!parsed) {
        return std::nullopt;
    }
    if (config_file(parsed->args, CommandLine{}) && parsed->command_line.certificates.size() == 1 &&
        parsed->command_line.certificates.front().size() == 1 && parsed->args.count("domain") == 0U) {
        selected = parsed->command_line.certificates.front().front();
        parsed->command_line.certificates.clear();
    }
    auto config = or_usage_error(configuration(parsed->args, parsed->command_line));
    configure_logging(config.run);
    return settings_from(std::move(config));
}

int revoke_subcommand(int argc, char** argv) {
    cxxopts::Options options("renewer revoke",
                             "Revoke a stored certificate (RFC 8555 §7.6); the next run replaces it.");
    options.add_options("revoke")("reason",
                                  "RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, "
                                  "superseded, cessationOfOperation",
                                  cxxopts::value<std::string>()->default_value("unspecified"))(
        "with-cert-key", "sign with the certificate's own key instead of the account key");
    auto parsed = parse_command(options, FlagSet::plan, argc, argv, "renewer revoke");
    if (!parsed) {
        return k_exit_ok;
    }
    const auto reason = or_usage_error(parse_revocation_reason(parsed->args["reason"].as<std::string>()));
    const auto signer =
        parsed->args.count("with-cert-key") != 0U ? RevokeSigner::certificate_key : RevokeSigner::account;
    std::string id;
    auto settings = settings_for(std::move(parsed), id);
    return revoke_command(*settings, id, reason, signer);
}

int account_subcommand(int argc, char** argv) {
    const std::string action = argc > 1 ? argv[1] : "";
    const std::optional<AccountAction> chosen = action == "show"         ? std::optional(AccountAction::show)
                                                : action == "rollover"   ? std::optional(AccountAction::rollover)
                                                : action == "deactivate" ? std::optional(AccountAction::deactivate)
                                                                         : std::nullopt;
    if (!chosen && (action == "-h" || action == "--help")) {
        std::cout << "Usage: renewer account show|rollover|deactivate [options]   (renewer account show --help)\n";
        return k_exit_ok;
    }
    if (!chosen) {
        throw UsageError{fmt::format("renewer account: '{}': give show, rollover or deactivate", action)};
    }
    std::vector<char*> rest{argv[0]};
    rest.insert(rest.end(), argv + 2, argv + argc);
    const std::string command = "renewer account " + action;
    cxxopts::Options options(command,
                             "The ACME account a run uses: show it, replace its key (RFC 8555 §7.3.5), or "
                             "deactivate it (§7.3.6, irreversible).");
    options.add_options("account")("yes", "confirm `deactivate` (it cannot be undone)");
    std::string id;
    auto parsed = parse_command(options, FlagSet::plan, static_cast<int>(rest.size()), rest.data(), command);
    if (parsed && *chosen == AccountAction::deactivate && parsed->args.count("yes") == 0U) {
        throw UsageError{command + ": deactivation cannot be undone; add --yes"};
    }
    auto settings = settings_for(std::move(parsed), id);
    if (!settings) {
        return k_exit_ok;
    }
    return account_command(*settings, *chosen);
}

void print_usage(std::ostream& out) {
    out << "Usage: renewer COMMAND [options]   (renewer COMMAND --help for its options)\n"
        << "renewer " << RENEWER_VERSION << ": obtains and renews certificates over ACME (RFC 8555) with DNS-01.\n"
        << k_usage_tail << k_run_notes;
}

int dispatch(int argc, char** argv) {
    if (argc < 2) {
        print_usage(std::cerr);
        return k_exit_bad_config;
    }
    const std::string command = argv[1];
    if (command == "-h" || command == "--help" || command == "help") {
        print_usage(std::cout);
        return k_exit_ok;
    }
    if (command == "--version" || command == "version") {
        std::cout << "renewer " << RENEWER_VERSION << "\n";
        return k_exit_ok;
    }
    // Subcommands see argv without the command word.
    std::vector<char*> rest{argv[0]};
    rest.insert(rest.end(), argv + 2, argv + argc);
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
    if (command == "status") {
        return status_subcommand(rest_argc, rest.data());
    }
    if (command == "revoke") {
        return revoke_subcommand(rest_argc, rest.data());
    }
    if (command == "account") {
        return account_subcommand(rest_argc, rest.data());
    }
    std::cerr << "renewer: unknown command '" << command
              << "' (run, plan, status, dns-test, revoke, account, version; see renewer --help)\n";
    return k_exit_bad_config;
}

}  // namespace

int renewer_main(int argc, char** argv) {
    install_signal_handlers();
    try {
        return dispatch(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "renewer: " << e.message << "\n";
        return k_exit_bad_config;
    } catch (const std::exception& e) {
        core::log::error(std::string("fatal: ") + e.what());
        return k_exit_failed;
    }
}

}  // namespace renewer
