// exec provider: runs `EXEC_PATH present|cleanup FQDN VALUE` for each record
// (lego's exec convention) for any DNS API we do not speak. The command runs
// without a shell (posix_spawn, argv only), in its own process group, and is
// killed when it outlives the timeout. Its output goes to the log.
//
// Settings (schema() in exec.cpp):
//   exec_path      the command (required; EXEC_PATH, --exec-path)
//   exec_timeout   seconds one run may take (default 120; EXEC_TIMEOUT)
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>

#include "dns/provider.hpp"

namespace dns {

struct ExecSettings {
    std::string path;
    std::chrono::milliseconds timeout{120'000};

    static std::span<const core::settings::Setting> schema();
    static core::Result<ExecSettings> from_values(const core::settings::Values& values,
                                                  const std::string& block_origin);
    static core::Result<ExecSettings> from_env(const Env& env = process_env());

    bool operator==(const ExecSettings&) const = default;
};

core::Result<std::unique_ptr<Provider>> make_exec(ExecSettings settings);

}  // namespace dns
