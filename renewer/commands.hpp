// The subcommands behind the CLI. Each returns a process exit code (exit_codes.hpp).
#pragma once

#include <string>
#include <vector>

#include "renewer/run_options.hpp"

namespace renewer {

// `renewer run`: obtain every requested certificate (concurrently, bounded),
// verify it and write it atomically to its output folder.
int run_command(const RunOptions& options);

// `renewer dns-test`: present a random TXT value per name, wait until every
// authoritative server answers it, report the time taken, clean up.
int dns_test_command(const std::vector<std::string>& names, const DnsOptions& options);

}  // namespace renewer
