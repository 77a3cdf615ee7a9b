// Checks of `renewer run` that need the machine rather than the settings
// alone, made after the configuration is read and before any network call
// (docs/configuration.md, "Checked before the run"): a run that cannot keep
// an issued certificate must not order one.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "renewer/config.hpp"

namespace renewer {

// The spool folder (config.spool_dir, or secrets::Spool::default_dir()) and
// the DNS journal beside it can be created and written. The error names the
// folder and the setting that moves it.
core::Status check_state_folders(const Config& config);

// A warning (nullopt: none) when `deadline` (--deadline, seconds) leaves no
// time for any order: k_deadline_margin is kept for the clean-up and an order
// starts only with k_order_start_budget left (renewer/run.hpp).
std::optional<std::string> deadline_too_short(long long deadline_seconds);

}  // namespace renewer
