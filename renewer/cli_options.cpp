#include "renewer/cli_options.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include <fmt/format.h>

#include "renewer/schema.hpp"

namespace renewer {
namespace {

namespace settings = core::settings;
using settings::Values;

constexpr const char* k_letsencrypt_staging = "https://acme-staging-v02.api.letsencrypt.org/directory";

// Run-wide flags that only `run` has: `plan` orders, stores and replaces nothing.
// (The ACME account, replacement and DNS blocks are run-only as a whole.)
constexpr std::array<std::string_view, 13> k_run_only = {
    "agree-tos",    "email",           "spool-dir",  "concurrency", "timeout", "deadline",      "account-key-type",
    "account-file", "preferred-chain", "trust-root", "reuse-key",   "dry-run", "max-new-orders"};
// A plan writes no metrics (docs/operations.md#metrics).
constexpr std::string_view k_run_only_metrics = "metrics-namespace";
constexpr std::array<std::string_view, 2> k_logging = {"log-level", "log-format"};

// `plan` accepts every flag of `run` (a script passes one command line to
// both) but its --help lists only those that change a plan; the others go
// to this group, which help_text() leaves out.
constexpr const char* k_run_only_group = "Used by run only";

// The blocks a flag set reads, with their --help group names.
struct FlagBlock {
    const settings::Block* block;
    const char* group;
    Values CommandLine::*target;
    bool plan_uses;  // does a plan use this block's settings?
};
std::vector<FlagBlock> blocks_of(FlagSet set) {
    std::vector<FlagBlock> blocks = {{&global_block(), "General", &CommandLine::global, true}};
    if (set != FlagSet::dns_test) {
        blocks.push_back({&certificate_block(), "Certificates", &CommandLine::certificate, true});
        blocks.push_back({&eab_block(), "ACME account", &CommandLine::eab, false});
        blocks.push_back({&replace_block(), "Replacement (once per run, only when something changed)",
                          &CommandLine::replace, false});
    }
    blocks.push_back({&dns::dns_block(), "DNS", &CommandLine::dns, false});
    return blocks;
}

bool is_logging(const settings::Setting& row) {
    return std::find(k_logging.begin(), k_logging.end(), row.flag) != k_logging.end();
}

// dns-test reads only the DNS block and the logging flags.
bool block_offers(const FlagBlock& block, const settings::Setting& row, FlagSet set) {
    return !row.flag.empty() && (set != FlagSet::dns_test || block.block != &global_block() || is_logging(row));
}

// The --help group of a row: plan's help hides what only a run uses.
const char* group_of(const FlagBlock& block, const settings::Setting& row, FlagSet set) {
    if (set != FlagSet::plan) {
        return block.group;
    }
    const bool run_only = !block.plan_uses || row.flag == k_run_only_metrics ||
                          std::find(k_run_only.begin(), k_run_only.end(), row.flag) != k_run_only.end();
    return run_only ? k_run_only_group : block.group;
}

void add_row(cxxopts::OptionAdder& adder, const settings::Setting& row) {
    const std::string name(row.flag);
    const std::string help(row.help);
    switch (row.type) {
        case settings::Type::boolean: adder(name, help, cxxopts::value<std::string>()->implicit_value("true")); break;
        case settings::Type::list: adder(name, help, cxxopts::value<std::vector<std::string>>()); break;
        default: adder(name, help, cxxopts::value<std::string>()); break;
    }
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        out += (out.empty() ? "" : ",") + item;
    }
    return out;
}

core::Result<Values> read_block(const cxxopts::ParseResult& args, const FlagBlock& block, FlagSet set) {
    Values values;
    std::vector<std::string_view> seen;
    for (const settings::Setting* row : settings::all_settings(*block.block)) {
        if (!block_offers(block, *row, set) || std::find(seen.begin(), seen.end(), row->flag) != seen.end() ||
            args.count(std::string(row->flag)) == 0U) {
            continue;
        }
        seen.push_back(row->flag);
        const std::string flag(row->flag);
        const std::string text = row->type == settings::Type::list ? joined(args[flag].as<std::vector<std::string>>())
                                                                   : args[flag].as<std::string>();
        const std::string origin = "--" + flag;
        TRY_ASSIGN(auto value, settings::from_text(*row, text, origin));
        values.insert_or_assign(std::string(row->key), settings::Value{std::move(value), origin});
    }
    return values;
}

// "--cert a,b": one certificate of several names (cxxopts would split the
// value at the commas into several certificates: take each as given).
core::Result<std::vector<std::vector<std::string>>> certificates_of(const cxxopts::ParseResult& args) {
    std::vector<std::vector<std::string>> certificates;
    if (args.count("domain") != 0U) {
        certificates.push_back(args["domain"].as<std::vector<std::string>>());
    }
    for (const auto& given : args.arguments()) {
        if (given.key() != "cert") {
            continue;
        }
        std::vector<std::string> names;
        std::string_view rest = given.value();
        while (true) {
            const auto comma = rest.find(',');
            if (const auto name = rest.substr(0, comma); !name.empty()) {
                names.emplace_back(name);
            }
            if (comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
        if (names.empty()) {
            return settings::settings_error("--cert", fmt::format("'{}': no names", given.value()));
        }
        certificates.push_back(std::move(names));
    }
    return certificates;
}

// --replace autoscaling:GROUP | ec2-tag:KEY=VALUE | ecs:CLUSTER/SERVICE | none.
core::Status read_replace_spec(const std::string& spec, Values& replace) {
    const auto set = [&](const char* key, std::string value) {
        replace.insert_or_assign(key, settings::Value{std::move(value), "--replace"});
    };
    const auto colon = spec.find(':');
    const std::string kind = spec.substr(0, colon);
    const std::string rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
    const auto equals = rest.find('=');
    const auto slash = rest.find('/');
    if (spec == "none") {
        set("type", "none");
    } else if (kind == "autoscaling" && !rest.empty()) {
        set("type", kind);
        set("group", rest);
    } else if (kind == "ec2-tag" && equals != std::string::npos && equals > 0 && equals + 1 < rest.size()) {
        set("type", kind);
        set("tag_key", rest.substr(0, equals));
        set("tag_value", rest.substr(equals + 1));
    } else if (kind == "ecs" && slash != std::string::npos && slash > 0 && slash + 1 < rest.size()) {
        set("type", kind);
        set("cluster", rest.substr(0, slash));
        set("service", rest.substr(slash + 1));
    } else {
        return settings::settings_error(
            "--replace",
            fmt::format("'{}': expected autoscaling:GROUP, ec2-tag:KEY=VALUE, ecs:CLUSTER/SERVICE or none", spec));
    }
    return {};
}

// The flags that are not one row of the schema.
core::Status read_compound_flags(const cxxopts::ParseResult& args, FlagSet set, CommandLine& out) {
    if (set != FlagSet::dns_test) {
        if (args.count("staging") != 0U) {
            if (out.global.contains("server")) {
                return settings::settings_error("--server and --staging", "give one of them");
            }
            out.global.insert_or_assign("server", settings::Value{k_letsencrypt_staging, "--staging"});
        }
        if (args.count("out") != 0U) {
            if (out.certificate.contains("store")) {
                return settings::settings_error("--out and --store", "give one of them");
            }
            out.out = settings::Value{args["out"].as<std::string>(), "--out"};
        }
        TRY_ASSIGN(out.certificates, certificates_of(args));
    }
    if (set != FlagSet::dns_test) {
        const bool hook = out.replace.contains("command");
        if (args.count("replace") != 0U) {
            const std::string spec = args["replace"].as<std::string>();
            if (hook && spec != "none") {
                return settings::settings_error("--replace and --deploy-hook", "give one of them");
            }
            TRY(read_replace_spec(spec, out.replace));
        }
        if (hook && !out.replace.contains("type")) {
            out.replace.insert_or_assign("type", settings::Value{"hook", "--deploy-hook"});
        }
    }
    if (set != FlagSet::dns_test && args.count("no-metrics") != 0U) {
        out.global.insert_or_assign("metrics", settings::Value{false, "--no-metrics"});
    }
    if (args.count("no-cname-follow") != 0U) {
        out.dns.insert_or_assign("follow_cname", settings::Value{false, "--no-cname-follow"});
    }
    return {};
}

}  // namespace

void add_flags(cxxopts::Options& options, FlagSet set) {
    options.add_options("General")("h,help", "show this help")("version", "print the version");
    if (set != FlagSet::dns_test) {
        options.add_options("Certificates")(
            "c,config", "JSON configuration file for many certificates (docs/configuration.md)",
            cxxopts::value<std::string>())("d,domain", "a name of the certificate (repeat; wildcards allowed)",
                                           cxxopts::value<std::vector<std::string>>())(
            "cert", "one more certificate: comma-separated names (repeat)", cxxopts::value<std::vector<std::string>>())(
            "out", "output folder: fullchain.pem, privkey.pem (0600), chain.pem, bundle.json",
            cxxopts::value<std::string>());
        options.add_options("ACME")("staging", "use Let's Encrypt's staging directory");
    } else {
        options.add_options("Names")("d,domain", "name to test (repeat)", cxxopts::value<std::vector<std::string>>());
    }
    if (set != FlagSet::dns_test) {
        options.add_options(set == FlagSet::plan ? k_run_only_group
                                                 : "Replacement (once per run, only when something changed)")(
            "replace", "autoscaling:GROUP, ec2-tag:KEY=VALUE, ecs:CLUSTER/SERVICE or none",
            cxxopts::value<std::string>());
    }
    if (set != FlagSet::dns_test) {
        options.add_options(set == FlagSet::plan ? k_run_only_group : "General")(
            "no-metrics", "no CloudWatch metrics (EMF) in the JSON report lines");
    }
    options.add_options(set == FlagSet::plan ? k_run_only_group : "DNS")(
        "no-cname-follow", "do not follow a CNAME at _acme-challenge.<name>");
    for (const auto& block : blocks_of(set)) {
        std::vector<std::string_view> added;
        for (const settings::Setting* row : settings::all_settings(*block.block)) {
            if (block_offers(block, *row, set) && std::find(added.begin(), added.end(), row->flag) == added.end()) {
                added.push_back(row->flag);
                auto adder = options.add_options(group_of(block, *row, set));
                add_row(adder, *row);
            }
        }
    }
}

std::string help_text(const cxxopts::Options& options, FlagSet set) {
    std::vector<std::string> shown;
    for (const auto& group : options.groups()) {
        if (set != FlagSet::plan || group != k_run_only_group) {
            shown.push_back(group);
        }
    }
    return options.help(shown);
}

core::Result<CommandLine> read_command_line(const cxxopts::ParseResult& args, FlagSet set) {
    CommandLine out;
    for (const auto& block : blocks_of(set)) {
        TRY_ASSIGN(out.*block.target, read_block(args, block, set));
    }
    TRY(read_compound_flags(args, set, out));
    return out;
}

core::Status reject_extra_arguments(const cxxopts::ParseResult& args, const std::string& command) {
    const auto& extra = args.unmatched();
    if (extra.empty()) {
        return {};
    }
    return settings::settings_error(
        command,
        fmt::format("unexpected argument '{}' (names go after -d or --cert; see {} --help)", extra.front(), command));
}

}  // namespace renewer
