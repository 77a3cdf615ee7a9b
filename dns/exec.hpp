// exec provider: runs `EXEC_PATH present|cleanup FQDN VALUE` for each record
// (lego's exec convention) for any DNS API we do not speak, or, with
// exec_batch N > 1, `EXEC_PATH present|cleanup FQDN VALUE [FQDN VALUE ...]`
// with up to N pairs per call (dehydrated's HOOK_CHAIN, with lego's
// arguments): the pipelined run presents every certificate's values at once
// (docs/dns-providers.md#exec). The command runs without a shell
// (posix_spawn, argv only), in its own process group, and is killed when it
// outlives the timeout. Its output goes to the log.
//
// Settings (schema() in exec.cpp):
//   exec_path      the command (required; EXEC_PATH, --exec-path)
//   exec_timeout   seconds one call may take (default 120; EXEC_TIMEOUT)
//   exec_batch     FQDN VALUE pairs per call (default 1; EXEC_BATCH, --exec-batch)
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "dns/provider.hpp"

namespace dns {

struct ExecSettings {
    std::string path;
    std::chrono::milliseconds timeout{120'000};
    // Pairs per call; 1 is one call per value. A call also stays under
    // k_exec_max_argument_bytes of arguments, whatever this says.
    std::size_t batch = 1;

    static std::span<const core::settings::Setting> schema();
    static core::Result<ExecSettings> from_values(const core::settings::Values& values,
                                                  const std::string& block_origin);
    static core::Result<ExecSettings> from_env(const Env& env = process_env());

    bool operator==(const ExecSettings&) const = default;
};

// The most argument bytes (each argument with its terminating NUL) one call
// gets: far below Linux's ARG_MAX (a quarter of the stack limit, at least
// 128 KiB, shared with the environment), so a batch never fails with E2BIG.
constexpr std::size_t k_exec_max_argument_bytes = std::size_t{64} * 1024;

core::Result<std::unique_ptr<Provider>> make_exec(ExecSettings settings);

}  // namespace dns
