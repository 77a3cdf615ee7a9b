#include "renewer/status_record.hpp"

#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "core/x509.hpp"
#include "secrets/spool.hpp"

namespace renewer {
namespace {

nlohmann::json to_json(const RecordedOutcome& o) {
    return {{"outcome", o.outcome}, {"reason", o.reason}, {"at", o.at}, {"serial", o.serial}};
}

// A member of a record that may be hand-edited or from an older version:
// anything but a string reads as "" (json::value would throw on a number).
std::string text_member(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get_ref<const std::string&>() : std::string();
}

RecordedOutcome from_json(const nlohmann::json& j) {
    RecordedOutcome o;
    o.outcome = text_member(j, "outcome");
    o.reason = text_member(j, "reason");
    o.at = text_member(j, "at");
    o.serial = text_member(j, "serial");
    return o;
}

}  // namespace

std::string spool_dir_of(const RunSettings& settings) {
    return settings.config.spool_dir.empty() ? secrets::Spool::default_dir() : settings.config.spool_dir;
}

std::string outcome_record_path(const std::string& spool_dir) {
    // Beside the spool, not in it: the spool holds only spooled bundles.
    std::string dir = spool_dir;
    while (dir.size() > 1 && dir.back() == '/') {
        dir.pop_back();
    }
    return dir + "-last-run.json";
}

std::map<std::string, RecordedOutcome> read_outcomes(const std::string& spool_dir) {
    std::map<std::string, RecordedOutcome> out;
    const auto text = core::read_file(outcome_record_path(spool_dir));
    if (!text) {
        return out;
    }
    const auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return out;
    }
    for (const auto& [id, entry] : j.items()) {
        if (entry.is_object()) {
            out[id] = from_json(entry);
        }
    }
    return out;
}

void record_outcomes(const std::string& spool_dir, const RunReport& report) {
    auto outcomes = read_outcomes(spool_dir);
    const std::string at = core::format_time(std::chrono::system_clock::now());
    for (const auto& r : report.certificates) {
        outcomes[r.id] = {to_string(r.outcome), r.reason, at, r.serial};
    }
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [id, o] : outcomes) {
        j[id] = to_json(o);
    }
    const auto path = outcome_record_path(spool_dir);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    const auto text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    // Not fsynced: losing the record to a power cut costs a `renewer status`
    // line (read_outcomes takes a damaged one for none), the fsyncs cost a run
    // with nothing to do most of its time on a busy disk (bench/analysis.md).
    if (auto written = core::write_file_atomic(path, text, {.mode = 0600, .durable = false}); !written) {
        core::log::warn("cannot record the run's outcomes for `renewer status`",
                        {{"file", path}, {"error", written.error().message}});
    }
}

}  // namespace renewer
