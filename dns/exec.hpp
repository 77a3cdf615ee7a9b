// exec provider: runs `EXEC_PATH present|cleanup FQDN VALUE` for each record
// (lego's exec convention) for any DNS API we do not speak. The command runs
// without a shell (posix_spawn, argv only), in its own process group, and is
// killed when it outlives the timeout. Its output goes to the log.
//
// Environment:
//   EXEC_PATH      the command (required)
//   EXEC_TIMEOUT   seconds one run may take (default 120)
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "dns/provider.hpp"

namespace dns {

struct ExecSettings {
    std::string path;
    std::chrono::milliseconds timeout{120'000};

    static core::Result<ExecSettings> from_env(const Env& env = process_env());
};

core::Result<std::unique_ptr<Provider>> make_exec(ExecSettings settings);

}  // namespace dns
