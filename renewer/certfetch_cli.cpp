#include "renewer/certfetch_cli.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include <grp.h>
#include <pwd.h>
#include <cxxopts.hpp>

#include "renewer/certfetch.hpp"
#include "renewer/certfetch_all.hpp"
#include "renewer/exit_codes.hpp"
#include "version.hpp"

namespace renewer {
namespace {

constexpr const char* k_usage_tail = R"(
certfetch runs on every web host at boot (before nginx) and on a timer: it
fetches the certificate secret, verifies it, writes the PEM files as a new
version folder that nginx gets in one switch (OUT/live -> OUT/.v-N; OUT/NAME
links to live/NAME) and runs --reload only when something changed. One
certfetch per --out folder at a time (a lock; a second one waits up to
--lock-wait seconds). With no valid files in --out yet (a new instance at
boot), a store it cannot read is retried with backoff for --retry-for
seconds.

Sources: --secret-id reads AWS Secrets Manager (credentials from the usual
chain: environment, profile, container or instance role via IMDSv2); --store
dir:/path reads a folder written by `renewer` on hosts without AWS. When
AWSCURRENT cannot be served (unparsable, key mismatch, expired, name missing)
certfetch says why and falls back to AWSPREVIOUS.

The reload command gets CERTFETCH_DIR, CERTFETCH_FULLCHAIN, CERTFETCH_PRIVKEY
and CERTFETCH_CHAIN (paths) in its environment; never the key itself. It runs
in its own process group; when it has not finished after --reload-timeout
seconds (default 60, 1..3600) the group gets SIGTERM, then SIGKILL, and the
reload counts as failed (exit 3; the next run retries it).

The last line of a run names the certificate served (serial, not_after,
days_left). When it expires within --warn-days days (default 14) that is
also a warning line; the exit code stays as below.

--all fetches every certificate under a location into one folder per name,
OUT/NAME/{fullchain,privkey,chain}.pem, for nginx's
`ssl_certificate OUT/$ssl_server_name/fullchain.pem` (deploy/nginx/):
--secret-id customers/ lists the secrets named customers/NAME (ListSecrets),
--store dir:/srv/certs the bundle folders /srv/certs/NAME. Each certificate
must cover its NAME. A bundle that cannot be served is logged with its name
and skipped (its folder is left as it was); --reload runs once when any
folder changed; the exit code is then 1 if any name was skipped.

Exit codes:
  0  files written, or unchanged
  1  failure; existing files were left exactly as they were (--all: some
     names skipped, the others fetched)
  2  bad flags
  3  files written, but --reload failed (retried by the next run)
)";

// A flag value we cannot use: exit 2 with this message.
struct BadFlag {
    std::string message;
};

// "www-data" or "33".
uid_t parse_owner(const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const auto id = std::strtoul(text.c_str(), &end, 10);
    if (!text.empty() && *end == '\0' && errno == 0) {
        return static_cast<uid_t>(id);
    }
    if (const passwd* pw = ::getpwnam(text.c_str()); pw != nullptr) {
        return pw->pw_uid;
    }
    throw BadFlag{"--owner " + text + ": no such user"};
}

gid_t parse_group(const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const auto id = std::strtoul(text.c_str(), &end, 10);
    if (!text.empty() && *end == '\0' && errno == 0) {
        return static_cast<gid_t>(id);
    }
    if (const group* gr = ::getgrnam(text.c_str()); gr != nullptr) {
        return gr->gr_gid;
    }
    throw BadFlag{"--group " + text + ": no such group"};
}

// Octal, owner-readable, and never readable by every user: it is the private key.
mode_t parse_key_mode(const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const auto mode = std::strtoul(text.c_str(), &end, 8);
    if (text.empty() || *end != '\0' || errno != 0 || mode > 0777) {
        throw BadFlag{"--mode " + text + ": expected an octal file mode such as 0600 or 0640"};
    }
    if ((mode & 0007U) != 0) {
        throw BadFlag{"--mode " + text + ": the private key must not be accessible to other users"};
    }
    if ((mode & 0400U) == 0) {
        throw BadFlag{"--mode " + text + ": the owner must be able to read the private key"};
    }
    return static_cast<mode_t>(mode);
}

// A whole number in [low, high] (`unit` names it in the message), or BadFlag naming the flag.
long parse_whole(const std::string& flag, const std::string& text, long low, long high, const std::string& unit) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || value < low || value > high) {
        throw BadFlag{flag + " " + text + ": expected " + unit + " from " + std::to_string(low) + " to " +
                      std::to_string(high)};
    }
    return value;
}

std::chrono::seconds parse_seconds(const std::string& flag, const std::string& text, long low, long high) {
    return std::chrono::seconds(parse_whole(flag, text, low, high, "whole seconds"));
}

// --all (docs/customer-domains.md): the location is --secret-id PREFIX or
// --store SPEC; --prefix narrows it.
void add_all_options(cxxopts::Options& options) {
    options.add_options()("all", "fetch every certificate under --secret-id PREFIX / --store SPEC into OUT/NAME/")(
        "prefix", "with --all: only names starting with this", cxxopts::value<std::string>())(
        "parallel", "with --all: names fetched at once (1..64)",
        cxxopts::value<std::string>()->default_value(std::to_string(certfetch::k_default_workers)));
}

// Whole days in [low, high], or BadFlag naming the flag.
int parse_days(const std::string& flag, const std::string& text, long low, long high) {
    char* end = nullptr;
    errno = 0;
    const long days = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || days < low || days > high) {
        throw BadFlag{flag + " " + text + ": expected whole days from " + std::to_string(low) + " to " +
                      std::to_string(high)};
    }
    return static_cast<int>(days);
}

}  // namespace

int certfetch_main(int argc, char** argv) {
    try {
        cxxopts::Options options("certfetch", "Fetch a certificate secret and write it for nginx.");
        options.add_options()("h,help", "show this help")("version", "print the version")(
            "secret-id", "Secrets Manager secret name or ARN", cxxopts::value<std::string>())(
            "out", "folder for fullchain.pem, privkey.pem and chain.pem", cxxopts::value<std::string>())(
            "expect-name", "a name the certificate must cover", cxxopts::value<std::string>())(
            "owner", "owner of the written files", cxxopts::value<std::string>())("group", "group of the written files",
                                                                                  cxxopts::value<std::string>())(
            "mode", "mode of the private key file", cxxopts::value<std::string>()->default_value("0600"))(
            "reload", "command to run when something changed (e.g. 'systemctl reload nginx')",
            cxxopts::value<std::string>())("reload-timeout", "seconds the reload command may take (1..3600)",
                                           cxxopts::value<std::string>()->default_value("60"))(
            "store", "read from this store instead of Secrets Manager (dir:/path, dynamodb:TABLE/KEY)",
            cxxopts::value<std::string>())(
            "retry-for", "with no valid files on disk, retry an unreadable store this many seconds (0..3600)",
            cxxopts::value<std::string>()->default_value("120"))(
            "lock-wait", "seconds to wait for another certfetch writing the same folder (0..3600)",
            cxxopts::value<std::string>()->default_value("300"))(
            "warn-days", "warn when the certificate served expires within this many days (0 = never, up to 365)",
            cxxopts::value<std::string>()->default_value("14"));
        add_all_options(options);
        auto args = options.parse(argc, argv);
        if (args.count("help") != 0U) {
            std::cout << options.help() << k_usage_tail;
            return k_exit_ok;
        }
        if (args.count("version") != 0U) {
            std::cout << "certfetch " << RENEWER_VERSION << "\n";
            return k_exit_ok;
        }
        if (!args.unmatched().empty()) {
            throw BadFlag{"unexpected argument " + args.unmatched().front()};
        }
        certfetch::Options run;
        if (args.count("secret-id") != 0U) {
            run.secret_id = args["secret-id"].as<std::string>();
        }
        if (args.count("store") != 0U) {
            run.store = args["store"].as<std::string>();
        }
        if (run.secret_id.empty() == run.store.empty()) {
            throw BadFlag{"give exactly one of --secret-id NAME or --store dir:/path|dynamodb:TABLE/KEY"};
        }
        if (args.count("out") == 0U || args["out"].as<std::string>().empty()) {
            throw BadFlag{"--out DIR is required"};
        }
        run.out_dir = args["out"].as<std::string>();
        if (args.count("expect-name") != 0U) {
            run.expect_name = args["expect-name"].as<std::string>();
        }
        if (args.count("owner") != 0U) {
            run.owner = parse_owner(args["owner"].as<std::string>());
        }
        if (args.count("group") != 0U) {
            run.group = parse_group(args["group"].as<std::string>());
        }
        run.key_mode = parse_key_mode(args["mode"].as<std::string>());
        if (args.count("reload") != 0U) {
            run.reload = args["reload"].as<std::string>();
        }
        // 1..3600: a reload that needs longer is hung.
        run.reload_timeout = parse_seconds("--reload-timeout", args["reload-timeout"].as<std::string>(), 1, 3600);
        run.retry_for = parse_seconds("--retry-for", args["retry-for"].as<std::string>(), 0, 3600);
        run.lock_wait = parse_seconds("--lock-wait", args["lock-wait"].as<std::string>(), 0, 3600);
        run.warn_days = parse_days("--warn-days", args["warn-days"].as<std::string>(), 0, 365);
        if (args.count("all") != 0U) {
            const auto workers = parse_whole("--parallel", args["parallel"].as<std::string>(), 1, 64, "a count");
            return certfetch::run_all(run, args.count("prefix") != 0U ? args["prefix"].as<std::string>() : "",
                                      static_cast<int>(workers));
        }
        if (args.count("prefix") != 0U) {
            throw BadFlag{"--prefix lists names: it needs --all"};
        }
        return certfetch::run(run);
    } catch (const BadFlag& e) {
        std::cerr << "certfetch: " << e.message << "\n";
        return k_exit_bad_config;
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << "certfetch: " << e.what() << "\n";
        return k_exit_bad_config;
    } catch (const std::exception& e) {
        std::cerr << "certfetch: " << e.what() << "\n";
        return k_exit_failed;
    }
}

}  // namespace renewer
