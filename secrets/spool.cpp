#include "secrets/spool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <sys/stat.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/env.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;

constexpr const char* k_suffix = ".bundle.json";

bool safe_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
           c == '_';
}

// A file name for any certificate name: readable when the name is plain,
// else "<sanitised>-<hash>" so "*.example.com" and "_.example.com" differ.
std::string file_stem(const std::string& name) {
    const bool plain =
        !name.empty() && name.front() != '.' && std::all_of(name.begin(), name.end(), safe_char) && name.size() <= 200;
    if (plain) {
        return name;
    }
    std::string stem;
    for (char c : name.substr(0, 100)) {
        stem.push_back(safe_char(c) ? c : '_');
    }
    return stem + "-" + core::hex_encode(core::sha256(name)).substr(0, 16);
}

}  // namespace

// A run killed while spooling left a temp file holding a private key: the
// next run's spool removes it.
Spool::Spool(std::string dir) : dir_(std::move(dir)) { core::remove_stale_temp_files(dir_); }

std::string Spool::default_dir() {
    if (auto dir = core::env_or("RENEWER_SPOOL_DIR"); !dir.empty()) {
        return dir;
    }
    if (auto dir = core::env_or("STATE_DIRECTORY"); !dir.empty()) {
        // systemd may list several folders separated by ':'; the first is ours.
        return dir.substr(0, dir.find(':')) + "/spool";
    }
    if (auto dir = core::env_or("XDG_STATE_HOME"); !dir.empty()) {
        return dir + "/renewer/spool";
    }
    if (::geteuid() == 0) {
        return "/var/lib/renewer/spool";
    }
    if (auto home = core::env_or("HOME"); !home.empty()) {
        return home + "/.local/state/renewer/spool";
    }
    return "/var/lib/renewer/spool";
}

std::string Spool::path_for(const std::string& name) const {
    return (std::filesystem::path(dir_) / (file_stem(name) + k_suffix)).string();
}

core::Status Spool::put(const std::string& name, const Bundle& bundle, const std::optional<SpoolFailure>& failure) {
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) {
        return make_error(ErrorKind::io, "spool: cannot create " + dir_ + ": " + ec.message());
    }
    // The folder holds private keys: owner only (create_directories uses the umask).
    if (::chmod(dir_.c_str(), 0700) != 0) {
        return make_error(ErrorKind::io, "spool: cannot chmod " + dir_ + ": " + std::strerror(errno));
    }
    nlohmann::ordered_json j;
    j["name"] = name;
    j["spooled_at"] = core::format_time(std::chrono::system_clock::now());
    j["bundle"] = nlohmann::ordered_json::parse(to_json(bundle));
    if (failure) {
        j["failed"] = {{"reason", failure->reason}, {"config", failure->config}};
    }
    core::FileOptions options;
    options.mode = 0600;
    const auto text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    auto written = core::write_file_atomic(path_for(name), text, options);
    if (!written.ok()) {
        return written.error().wrap("spool");
    }
    return {};
}

core::Result<std::optional<Bundle>> Spool::take(const std::string& name) const {
    TRY_ASSIGN(auto entry, take_entry(name));
    if (!entry) {
        return std::optional<Bundle>();
    }
    return std::optional<Bundle>(std::move(entry->bundle));
}

core::Result<std::optional<SpoolEntry>> Spool::take_entry(const std::string& name) const {
    const auto path = path_for(name);
    auto text = core::read_file(path);
    if (!text.ok()) {
        if (text.error().kind == ErrorKind::not_found) {
            return std::optional<SpoolEntry>();
        }
        return text.error().wrap("spool");
    }
    const auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("bundle") || j.value("name", std::string()) != name) {
        return make_error(ErrorKind::invalid_input, "spool: " + path + " is not a spooled bundle for " + name);
    }
    auto bundle = parse_bundle(j["bundle"].dump());
    if (!bundle.ok()) {
        return bundle.error().wrap("spool: " + path);
    }
    SpoolEntry entry{std::move(bundle).value(), std::nullopt};
    if (const auto it = j.find("failed"); it != j.end() && it->is_object()) {
        entry.failure = SpoolFailure{it->value("reason", std::string()), it->value("config", std::string())};
    }
    return std::optional<SpoolEntry>(std::move(entry));
}

core::Status Spool::remove(const std::string& name) {
    const auto path = path_for(name);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return make_error(ErrorKind::io, "spool: cannot remove " + path + ": " + std::strerror(errno));
    }
    return {};
}

core::Result<std::vector<std::string>> Spool::list() const {
    std::vector<std::string> names;
    std::error_code ec;
    if (!std::filesystem::exists(dir_, ec)) {
        return names;
    }
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
        const auto file = entry.path().filename().string();
        if (file.size() <= std::strlen(k_suffix) ||
            file.compare(file.size() - std::strlen(k_suffix), std::strlen(k_suffix), k_suffix) != 0) {
            continue;
        }
        auto text = core::read_file(entry.path().string());
        if (!text.ok()) {
            continue;
        }
        const auto j = nlohmann::json::parse(*text, nullptr, false);
        if (!j.is_discarded() && j.is_object() && j.contains("name") && j["name"].is_string()) {
            names.push_back(j["name"].get<std::string>());
        }
    }
    if (ec) {
        return make_error(ErrorKind::io, "spool: cannot list " + dir_ + ": " + ec.message());
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace secrets
