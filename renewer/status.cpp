#include "renewer/status.hpp"

#include <unistd.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "acme/ari.hpp"
#include "core/log.hpp"
#include "renewer/issue.hpp"
#include "renewer/prepare.hpp"
#include "renewer/status_record.hpp"

namespace renewer {
namespace {

// Fewer days left than this shows in red (the default alarm threshold,
// docs/operations.md#alarms).
constexpr double k_warn_days = 14;

struct Row {
    std::string id;
    std::vector<std::string> domains;
    std::string store;
    std::string serial;
    std::string not_after;
    std::string revoked;  // "TIME (REASON)" once `renewer revoke` recorded it, else ""
    std::optional<double> days_left;
    std::string next_renewal;  // RFC 3339, "" when unknown
    std::string rule;          // how next_renewal was found
    bool due = false;
    std::string reason;  // the planner's
    std::string error;   // the store could not be read
    std::optional<RecordedOutcome> last;
    std::optional<secrets::Lease> lease;
    std::string lease_error;
};

// The next renewal: the CA's window when it gives one, else decide()'s
// lifetime rule (renewer/plan.hpp), the same rules a run applies.
void plan_row(Row& row, const RunSettings& settings, Job& job, acme::Transport* transport, core::SystemTime now) {
    PlanInput input;
    input.names = job.config->domains;
    input.key_type = core::to_string(job.config->key_type);
    input.policy = settings.config.renew;
    input.unreadable = job.unreadable;
    const auto ari = renewal_info(job, transport, core::Deadline::never());
    const auto decision = decide(job.current, input, now, ari, 0.0);
    row.due = decision.due;
    row.reason = decision.reason;
    if (ari) {
        row.next_renewal = core::format_time(ari->window_start);
        row.rule = "ARI window to " + core::format_time(ari->window_end);
    } else if (decision.renew_at) {
        row.next_renewal = core::format_time(*decision.renew_at);
        row.rule = "lifetime rule";
    }
}

Row row_of(const RunSettings& settings, Job& job, acme::Transport* transport,
           const std::map<std::string, RecordedOutcome>& outcomes, core::SystemTime now) {
    Row row{.id = job.config->id, .domains = job.config->domains, .store = job.config->store.spec};
    if (job.result.outcome == Outcome::failed) {
        row.error = job.result.reason;
    } else {
        plan_row(row, settings, job, transport, now);
    }
    if (job.current) {
        row.serial = job.current->serial;
        row.not_after = job.current->not_after;
        if (!job.current->revoked_at.empty()) {
            row.revoked = job.current->revoked_at + " (" + job.current->revocation_reason + ")";
        }
        if (const auto end = core::parse_time(job.current->not_after)) {
            row.days_left = std::floor(std::chrono::duration<double>(*end - now).count() / 864.0) / 100.0;
        }
    }
    if (const auto it = outcomes.find(row.id); it != outcomes.end()) {
        row.last = it->second;
    }
    if (job.locker) {
        if (auto held = job.locker->peek()) {
            row.lease = *held;
        } else {
            row.lease_error = held.error().message;
        }
    }
    return row;
}

nlohmann::json json_of(const Row& row) {
    nlohmann::json last = nullptr;
    if (row.last) {
        last = {{"outcome", row.last->outcome}, {"reason", row.last->reason}, {"at", row.last->at}};
    }
    nlohmann::json lease = nullptr;
    if (row.lease) {
        lease = {{"owner", row.lease->owner}, {"expires_at", core::format_time(row.lease->expires_at)}};
    }
    return {{"certificate", row.id},
            {"domains", row.domains},
            {"store", row.store},
            {"serial", row.serial},
            {"not_after", row.not_after},
            {"revoked", row.revoked.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.revoked)},
            {"days_left", row.days_left ? nlohmann::json(*row.days_left) : nullptr},
            {"next_renewal", row.next_renewal},
            {"renewal_rule", row.rule},
            {"due", row.due},
            {"reason", row.reason},
            {"last_run", last},
            {"lease", lease},
            {"lease_error", row.lease_error},
            {"error", row.error}};
}

std::array<std::string, 8> cells_of(const Row& row) {
    const std::string names = row.domains.size() > 1 ? fmt::format("{} (+{})", row.id, row.domains.size() - 1) : row.id;
    const std::string days = !row.revoked.empty() ? "revoked"
                             : row.days_left      ? fmt::format("{:.0f}", std::floor(*row.days_left))
                                                  : "-";
    std::string next = row.error.empty() ? (row.due ? "now: " + row.reason : row.next_renewal + " (" + row.rule + ")")
                                         : "error: " + row.error;
    const std::string last = row.last ? row.last->outcome + " " + row.last->at : "-";
    const std::string lease = row.lease ? row.lease->owner + " until " + core::format_time(row.lease->expires_at)
                                        : (row.lease_error.empty() ? "-" : "?");
    return {names,
            row.store,
            row.serial.empty() ? "-" : row.serial,
            row.not_after.empty() ? "-" : row.not_after,
            days,
            next,
            last,
            lease};
}

bool alarming(const Row& row) {
    return !row.error.empty() || !row.revoked.empty() || (row.days_left && *row.days_left < k_warn_days) ||
           (row.last && row.last->outcome == "failed");
}

// NO_COLOR set and not empty: no colour (https://no-color.org).
bool colour_wanted() {
    const char* no_color = std::getenv("NO_COLOR");
    return no_color == nullptr || *no_color == '\0';
}

void print_table(const std::vector<Row>& rows) {
    const std::array<std::string, 8> header = {"CERTIFICATE", "STORE",        "SERIAL",   "NOT AFTER",
                                               "DAYS",        "NEXT RENEWAL", "LAST RUN", "LEASE"};
    std::vector<std::array<std::string, 8>> cells = {header};
    for (const auto& row : rows) {
        cells.push_back(cells_of(row));
    }
    std::array<std::size_t, 8> width{};
    for (const auto& line : cells) {
        for (std::size_t i = 0; i < line.size(); ++i) {
            width[i] = std::max(width[i], line[i].size());
        }
    }
    for (std::size_t r = 0; r < cells.size(); ++r) {
        const bool red = r > 0 && alarming(rows[r - 1]) && colour_wanted();
        std::string text;
        for (std::size_t i = 0; i < cells[r].size(); ++i) {
            text += fmt::format("{:<{}}", cells[r][i], i + 1 < cells[r].size() ? width[i] + 2 : 0);
        }
        std::cout << (red ? "\033[31m" + text + "\033[0m" : text) << "\n";
    }
}

}  // namespace

int status_command(const RunSettings& settings, StatusFormat format) {
    auto jobs = make_jobs(settings);
    const std::string spool_dir = spool_dir_of(settings);
    secrets::Spool spool(spool_dir);
    prepare_jobs(settings, jobs, spool, SpooledCertificates::leave);
    // The CA only for its renewal windows of stored certificates.
    const bool stored = std::any_of(jobs.begin(), jobs.end(), [](const Job& j) { return j.current.has_value(); });
    std::string ca_error;
    auto transport =
        stored ? connect_ca(settings, ca_error, core::Deadline::after(std::chrono::seconds(30))) : std::nullopt;
    if (stored && !transport) {
        core::log::warn("cannot reach the CA; next renewals by the lifetime rule only", {{"error", ca_error}});
    }
    const auto outcomes = read_outcomes(spool_dir);
    const auto now = std::chrono::system_clock::now();
    std::vector<Row> rows;
    for (auto& job : jobs) {
        rows.push_back(row_of(settings, job, transport ? transport->get() : nullptr, outcomes, now));
    }
    if (format == StatusFormat::automatic && ::isatty(STDOUT_FILENO) == 1) {
        print_table(rows);
    } else {
        for (const auto& row : rows) {
            std::cout << json_of(row).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        }
    }
    std::cout.flush();
    const bool failed = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return !r.error.empty(); });
    return failed ? 1 : 0;
}

}  // namespace renewer
