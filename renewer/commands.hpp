// The subcommands behind the CLI. Each returns a process exit code (exit_codes.hpp).
#pragma once

#include <string>
#include <vector>

#include "dns/config.hpp"
#include "renewer/run.hpp"

namespace renewer {

enum class RunMode { run, plan };

// `renewer run` / `renewer plan`: execute (or only plan) the run and print
// its report.
int run_command(RunSettings settings, RunMode mode);

// `renewer dns-test`: present a random TXT value per name, wait until every
// authoritative server answers it, report the time taken, clean up.
int dns_test_command(const std::vector<std::string>& names, const dns::DnsConfig& config);

}  // namespace renewer
