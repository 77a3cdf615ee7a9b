#include "dns/journal.hpp"

#include <unistd.h>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/log.hpp"
#include "core/process.hpp"

namespace dns {
namespace {

namespace fs = std::filesystem;

// Random per process, fixed for its lifetime.
const std::string& this_run() {
    static const std::string run = core::hex_encode(core::random_bytes(8));
    return run;
}

// A member's text or number without nlohmann's value(), which trips GCC's
// -Wnull-dereference at -O2.
std::string text_of(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) {
        return {};
    }
    if (const auto* s = it->get_ptr<const std::string*>()) {
        return *s;
    }
    return {};
}

long long number_of(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) {
        return 0;
    }
    if (const auto* n = it->get_ptr<const nlohmann::json::number_integer_t*>()) {
        return *n;
    }
    if (const auto* u = it->get_ptr<const nlohmann::json::number_unsigned_t*>()) {
        return static_cast<long long>(*u);
    }
    return 0;
}

core::Error io_error(const std::string& what, const std::string& path, const std::error_code& ec) {
    return core::make_error(core::ErrorKind::io, "dns journal: " + what + " " + path + ": " + ec.message());
}

}  // namespace

Journal::Journal(std::string dir) : dir_(std::move(dir)) {}

namespace {

// Writes one entry (0600, atomically): a reader sees the old or the new one.
core::Status write_entry(const std::string& dir, const std::string& id, const JournalEntry& e) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(e.written_at.time_since_epoch()).count();
    nlohmann::json j = {{"provider", e.provider},
                        {"host", e.writer.host},
                        {"boot_id", e.writer.boot_id},
                        {"pid_ns", e.writer.pid_ns},
                        {"pid", e.writer.pid},
                        {"start", e.writer.start},
                        {"run", e.run},
                        {"written_at", ms},
                        {"records", nlohmann::json::array()},
                        {"failed_attempts", e.failed_attempts}};
    for (const auto& r : e.records) {
        j["records"].push_back({{"fqdn", r.fqdn}, {"value", r.value}});
    }
    core::FileOptions options;
    options.mode = 0600;
    if (auto written = core::write_file_atomic((fs::path(dir) / id).string(), j.dump(), options); !written) {
        return written.error().wrap("dns journal");
    }
    return {};
}

JournalEntry ours(const std::string& provider, const std::vector<TxtRecord>& records,
                  std::chrono::system_clock::time_point written_at) {
    JournalEntry e;
    e.provider = provider;
    e.records = records;
    e.writer = core::self_identity();
    e.run = this_run();
    e.written_at = written_at;
    return e;
}

}  // namespace

core::Result<std::string> Journal::add(const std::string& provider, const std::vector<TxtRecord>& records) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) {
        return io_error("cannot create", dir_, ec);
    }
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::replace, ec);
    const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    const std::string id =
        std::to_string(now.time_since_epoch().count()) + "-" + core::hex_encode(core::random_bytes(6)) + ".json";
    TRY(write_entry(dir_, id, ours(provider, records, now)));
    return id;
}

core::Status Journal::replace(const std::string& id, const std::string& provider,
                              const std::vector<TxtRecord>& records) {
    const auto ms = std::stoll(id.substr(0, id.find('-')));
    const std::chrono::system_clock::time_point written_at{std::chrono::milliseconds(ms)};
    return write_entry(dir_, id, ours(provider, records, written_at));
}

core::Result<bool> Journal::failed(const JournalEntry& entry) {
    JournalEntry next = entry;
    next.failed_attempts += 1;
    const bool old_enough = std::chrono::system_clock::now() - entry.written_at >= k_journal_min_age;
    if (next.failed_attempts >= k_journal_max_attempts && old_enough) {
        TRY(remove(entry.id));
        return true;
    }
    TRY(write_entry(dir_, entry.id, next));
    return false;
}

core::Status Journal::remove(const std::string& id) {
    std::error_code ec;
    const auto path = (fs::path(dir_) / id).string();
    fs::remove(path, ec);
    if (ec) {
        return io_error("cannot remove", path, ec);
    }
    return {};
}

core::Result<std::vector<JournalEntry>> Journal::orphans(std::chrono::seconds max_age) const {
    std::vector<JournalEntry> out;
    std::error_code ec;
    if (!fs::exists(dir_, ec)) {
        return out;
    }
    // A writer killed mid-write never made its change (the entry comes first):
    // its temp file is garbage.
    core::remove_stale_temp_files(dir_);
    fs::directory_iterator it(dir_, ec);
    if (ec) {
        return io_error("cannot list", dir_, ec);
    }
    const auto now = std::chrono::system_clock::now();
    for (const auto& file : it) {
        const auto name = file.path().filename().string();
        if (!file.is_regular_file(ec) || !name.ends_with(".json")) {
            continue;  // a live writer's temp file, anything else
        }
        auto text = core::read_file(file.path().string());
        if (!text) {
            continue;  // removed meanwhile
        }
        const auto j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("records") || !j["records"].is_array()) {
            core::log::warn("dns journal: ignoring an unreadable entry", {{"file", file.path().string()}});
            continue;
        }
        JournalEntry e;
        e.id = name;
        e.provider = text_of(j, "provider");
        e.writer.host = text_of(j, "host");
        e.writer.boot_id = text_of(j, "boot_id");
        e.writer.pid_ns = text_of(j, "pid_ns");
        e.writer.pid = static_cast<long>(number_of(j, "pid"));
        e.writer.start = static_cast<std::uint64_t>(number_of(j, "start"));
        e.run = text_of(j, "run");
        e.written_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(number_of(j, "written_at")));
        e.failed_attempts = static_cast<int>(number_of(j, "failed_attempts"));
        for (const auto& r : j["records"]) {
            if (r.is_object()) {
                TxtRecord record{text_of(r, "fqdn"), text_of(r, "value")};
                if (!record.fqdn.empty() && !record.value.empty()) {
                    e.records.push_back(std::move(record));
                }
            }
        }
        const bool ours = e.run == this_run();
        if (!ours && (core::identity_is_dead(e.writer) || now - e.written_at > max_age)) {
            out.push_back(std::move(e));
        }
    }
    return out;
}

}  // namespace dns
