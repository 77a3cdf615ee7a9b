#include "renewer/preflight.hpp"

#include <unistd.h>
#include <filesystem>

#include <fmt/format.h>

#include "renewer/run.hpp"
#include "secrets/spool.hpp"

namespace renewer {
namespace {

namespace fs = std::filesystem;

// Why `folder` cannot hold our files ("" when it can): the folder itself when
// it exists, else the nearest folder above it, where it would be created.
std::string folder_problem(const fs::path& folder) {
    fs::path at = folder;
    std::error_code ec;
    while (!fs::exists(at, ec) && at.has_parent_path() && at.parent_path() != at) {
        at = at.parent_path();
    }
    if (!fs::is_directory(at, ec)) {
        return at == folder ? fmt::format("{} is not a folder", at.string())
                            : fmt::format("cannot be created: {} is not a folder", at.string());
    }
    // access() answers for the real user, which is the one the run writes as.
    if (::access(at.c_str(), W_OK | X_OK) != 0) {
        return at == folder ? fmt::format("{} is not writable", at.string())
                            : fmt::format("cannot be created: {} is not writable", at.string());
    }
    return {};
}

// The setting that chose the folder, as the user wrote it; "" for the default.
std::string spool_origin(const Config& config) {
    if (!config.spool_dir.empty()) {
        return core::settings::origin(config.run, "spool_dir");
    }
    return core::settings::process_env()("RENEWER_SPOOL_DIR") ? "RENEWER_SPOOL_DIR" : "";
}

}  // namespace

core::Status check_state_folders(const Config& config) {
    const std::string spool = config.spool_dir.empty() ? secrets::Spool::default_dir() : config.spool_dir;
    const std::string origin = spool_origin(config);
    for (const std::string& folder : {spool, spool + "-dns-journal"}) {
        const std::string problem = folder_problem(folder);
        if (problem.empty()) {
            continue;
        }
        const std::string what = fmt::format("the spool folder {}: {}", folder, problem);
        return core::make_error(
            core::ErrorKind::invalid_input,
            origin.empty() ? what + " (set another with --spool-dir or RENEWER_SPOOL_DIR)" : origin + ": " + what);
    }
    return {};
}

std::optional<std::string> deadline_too_short(long long deadline_seconds) {
    const auto needed = k_deadline_margin + k_order_start_budget;
    if (deadline_seconds >= needed.count()) {
        return std::nullopt;
    }
    return fmt::format(
        "--deadline {}: no order can start ({} s are kept for the clean-up and an order starts only with {} s "
        "left); a due certificate fails with \"deadline: not started\" (give at least {})",
        deadline_seconds, k_deadline_margin.count(), k_order_start_budget.count(), needed.count());
}

}  // namespace renewer
