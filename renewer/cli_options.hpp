// The command line, derived from the settings schema: every row with a flag
// becomes a cxxopts option with the row's help text, and the values given are
// read back through the row (type, range, check), so a message names the flag
// the user wrote ("--rfc2136-ttl: must be between 1 and 86400, got -5").
// The few flags that are not one setting (-d, --cert, --out, --staging,
// --replace, --no-cname-follow) are translated here too.
#pragma once

#include <string>
#include <vector>

#include <cxxopts.hpp>

#include "core/result.hpp"
#include "core/settings.hpp"
#include "renewer/config.hpp"

namespace renewer {

// Which flags a subcommand offers.
enum class FlagSet {
    run,       // everything
    plan,      // the same flags, so one command line serves both; --help shows only what decides a plan
    dns_test,  // names and the DNS block
};

void add_flags(cxxopts::Options& options, FlagSet set);

// The --help text: for `plan`, without the flags that only `run` uses.
std::string help_text(const cxxopts::Options& options, FlagSet set);

// The flags given, by block, checked. Errors name the flag.
core::Result<CommandLine> read_command_line(const cxxopts::ParseResult& args, FlagSet set);

// Arguments that are not flags are an error ("plan -d a --out X b" would
// otherwise plan one name and drop "b").
core::Status reject_extra_arguments(const cxxopts::ParseResult& args, const std::string& command);

}  // namespace renewer
