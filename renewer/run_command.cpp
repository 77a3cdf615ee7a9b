#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <optional>
#include <random>
#include <thread>

#include "core/log.hpp"
#include "core/retry.hpp"
#include "renewer/commands.hpp"
#include "renewer/domain_list.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/metrics.hpp"
#include "renewer/status_record.hpp"

namespace renewer {
namespace {

// A scheduled run (no terminal) may wait a random part of `jitter` first, so
// a fleet of daily jobs does not hit the CA at the same second.
// With a deadline, the wait takes at most a tenth of the time left.
void maybe_spread(const std::chrono::seconds jitter, const std::optional<core::Deadline>& deadline) {
    if (jitter.count() <= 0 || isatty(STDIN_FILENO) != 0) {
        return;
    }
    auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(jitter);
    if (deadline) {
        limit = std::min(limit, deadline->remaining() / 10);
    }
    std::mt19937_64 rng{std::random_device{}()};
    const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<long long>(0, limit.count())(rng));
    core::log::info("waiting before the run to spread scheduled runs", {{"delay_ms", std::to_string(delay.count())}});
    (void)core::sleep_for(delay);
}

}  // namespace

int run_command(RunSettings settings, RunMode mode) {
    if (mode == RunMode::plan) {
        const auto report = run_over_domain_list(settings, plan_run);
        print_report(report);  // no metrics: a plan is not a run
        return report.exit_code();
    }
    maybe_spread(settings.config.jitter, settings.deadline);
    if (core::cancelled()) {
        return k_exit_failed;
    }
    const auto report = run_over_domain_list(settings, execute_run);
    if (settings.dry_run == DryRun::no) {
        record_outcomes(spool_dir_of(settings), report);  // for `renewer status`
    }
    print_report(report, metrics::namespace_of(settings));
    return report.exit_code();
}

}  // namespace renewer
