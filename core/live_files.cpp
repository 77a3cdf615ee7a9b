#include "core/live_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>

#include "core/atomic_file.hpp"
#include "core/fd_io.hpp"
#include "core/unique_fd.hpp"

namespace core {
namespace {

constexpr const char* k_version_prefix = ".v-";
constexpr const char* k_temp_link_marker = ".tmp.";
constexpr const char* k_temp_link_suffix = ".link";
constexpr mode_t k_version_dir_mode = 0755;

std::string join(const std::string& dir, const std::string& name) {
    return (std::filesystem::path(dir) / name).string();
}

using fd_io::io_error;
using fd_io::write_all;

// The link's text, or nullopt when `path` is not a symbolic link.
std::optional<std::string> read_link(const std::string& path) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(path, ec);
    if (ec) {
        return std::nullopt;
    }
    return target.string();
}

std::string stable_target(const std::string& name) { return std::string(k_live_link) + "/" + name; }

bool is_stable_link(const std::string& dir, const std::string& name) {
    return read_link(join(dir, name)) == stable_target(name);
}

// N of ".v-N"; nullopt for any other name.
std::optional<long> version_number(std::string_view name) {
    const std::string_view prefix = k_version_prefix;
    if (!name.starts_with(prefix) || name.size() == prefix.size()) {
        return std::nullopt;
    }
    long n = 0;
    for (char c : name.substr(prefix.size())) {
        if (c < '0' || c > '9' || n > 1'000'000'000L) {
            return std::nullopt;
        }
        n = n * 10 + (c - '0');
    }
    return n;
}

long next_version(const std::string& dir) {
    long highest = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (auto n = version_number(entry.path().filename().string()); n && *n > highest) {
            highest = *n;
        }
    }
    return highest + 1;
}

Status fsync_path(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) {
        return io_error(path, "open directory", errno);
    }
    if (::fsync(fd.get()) != 0) {
        return io_error(path, "fsync directory", errno);
    }
    return {};
}

// A new file in a version folder: final mode before any byte lands (the key
// is never readable by others), owner, content, fsync.
Status write_version_file(const std::string& path, const LiveFile& file) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) {
        return io_error(path, "create", errno);
    }
    if (::fchmod(fd.get(), file.mode) != 0) {
        return io_error(path, "fchmod", errno);
    }
    if (file.owner || file.group) {
        if (::fchown(fd.get(), file.owner.value_or(static_cast<uid_t>(-1)),
                     file.group.value_or(static_cast<gid_t>(-1))) != 0) {
            return io_error(path, "fchown", errno);
        }
        // chown may clear set-id bits; keep the requested mode exactly.
        if (::fchmod(fd.get(), file.mode) != 0) {
            return io_error(path, "fchmod", errno);
        }
    }
    TRY(write_all(fd.get(), file.content, path));
    if (::fsync(fd.get()) != 0) {
        return io_error(path, "fsync", errno);
    }
    if (::close(fd.release()) != 0) {
        return io_error(path, "close", errno);
    }
    return {};
}

// A complete, fsynced version folder nobody points at yet.
Result<std::string> make_version(const std::string& dir, const std::vector<LiveFile>& files) {
    const std::string name = k_version_prefix + std::to_string(next_version(dir));
    const std::string path = join(dir, name);
    if (::mkdir(path.c_str(), k_version_dir_mode) != 0) {
        return io_error(path, "mkdir", errno);
    }
    auto filled = [&]() -> Status {
        // Explicit: a service's UMask must not hide the certificates from nginx.
        if (::chmod(path.c_str(), k_version_dir_mode) != 0) {
            return io_error(path, "chmod", errno);
        }
        for (const auto& file : files) {
            TRY(write_version_file(join(path, file.name), file));
        }
        return fsync_path(path);
    }();
    if (!filled.ok()) {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
        return filled.error();
    }
    return name;
}

// DIR/NAME becomes a link to `target` in one rename(2) of a fresh temp link.
Status replace_link(const std::string& dir, const std::string& name, const std::string& target) {
    const std::string temp =
        join(dir, "." + name + k_temp_link_marker + std::to_string(::getpid()) + k_temp_link_suffix);
    ::unlink(temp.c_str());
    if (::symlink(target.c_str(), temp.c_str()) != 0) {
        return io_error(temp, "symlink", errno);
    }
    if (::rename(temp.c_str(), join(dir, name).c_str()) != 0) {
        const int err = errno;
        ::unlink(temp.c_str());
        return io_error(join(dir, name), "rename", err);
    }
    return {};
}

// previous -> the old live version (if any), then live -> `version`.
Status switch_live(const std::string& dir, const std::string& version) {
    if (auto old = read_link(join(dir, k_live_link)); old && *old != version) {
        TRY(replace_link(dir, k_previous_link, *old));
    }
    TRY(replace_link(dir, k_live_link, version));
    return fsync_path(dir);
}

// What DIR/NAME reads now, with its mode and owner; nullopt when absent.
Result<std::optional<LiveFile>> snapshot(const std::string& dir, const std::string& name) {
    const std::string path = join(dir, name);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return std::optional<LiveFile>();
        }
        return io_error(path, "stat", errno);
    }
    TRY_ASSIGN(auto content, read_file(path));
    LiveFile file{name, std::move(content), static_cast<mode_t>(st.st_mode & 07777), std::nullopt, std::nullopt};
    if (st.st_uid != ::geteuid()) {
        file.owner = st.st_uid;
    }
    if (st.st_gid != ::getegid()) {
        file.group = st.st_gid;
    }
    return std::optional<LiveFile>(std::move(file));
}

}  // namespace

Result<std::map<std::string, std::string>> read_live_files(const std::string& dir,
                                                           const std::vector<std::string>& names) {
    const auto live = read_link(join(dir, k_live_link));
    std::map<std::string, std::string> out;
    for (const auto& name : names) {
        std::string path = join(dir, name);
        if (is_stable_link(dir, name)) {
            if (!live) {
                continue;  // a stable link before any version: nothing to read yet
            }
            path = join(join(dir, *live), name);
        }
        auto text = read_file(path);
        if (!text.ok()) {
            if (text.error().kind == ErrorKind::not_found) {
                continue;
            }
            return text.error();
        }
        out.emplace(name, std::move(text).value());
    }
    return out;
}

bool is_live_layout(const std::string& dir, const std::vector<std::string>& names) {
    for (const auto& name : names) {
        if (!is_stable_link(dir, name)) {
            return false;
        }
    }
    return true;
}

Result<bool> adopt_live_layout(const std::string& dir, const std::vector<std::string>& names) {
    std::vector<std::string> foreign;
    for (const auto& name : names) {
        if (!is_stable_link(dir, name)) {
            foreign.push_back(name);
        }
    }
    if (foreign.empty()) {
        return false;
    }
    // A version holding exactly what every name reads now, made live before
    // any name changes: each name then switches to identical content.
    std::vector<LiveFile> now;
    bool foreign_exists = false;
    for (const auto& name : names) {
        TRY_ASSIGN(auto file, snapshot(dir, name));
        if (file) {
            foreign_exists = foreign_exists || !is_stable_link(dir, name);
            now.push_back(std::move(*file));
        }
    }
    if (foreign_exists) {
        TRY_ASSIGN(auto version, make_version(dir, now));
        TRY(switch_live(dir, version));
    }
    for (const auto& name : foreign) {
        TRY(replace_link(dir, name, stable_target(name)));
    }
    TRY(fsync_path(dir));
    return true;
}

Result<std::string> publish_live_files(const std::string& dir, const std::vector<LiveFile>& files) {
    std::vector<std::string> names;
    for (const auto& file : files) {
        names.push_back(file.name);
    }
    TRY(adopt_live_layout(dir, names));
    TRY_ASSIGN(auto version, make_version(dir, files));
    TRY(switch_live(dir, version));
    sweep_live_versions(dir);
    return version;
}

int sweep_live_versions(const std::string& dir) {
    namespace fs = std::filesystem;
    std::set<std::string> keep;
    for (const char* link : {k_live_link, k_previous_link}) {
        if (auto target = read_link(join(dir, link)); target) {
            keep.insert(*target);
        }
    }
    int removed = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        const bool old_version = version_number(name) && !keep.contains(name);
        const bool temp_link = name.starts_with(".") && name.find(k_temp_link_marker) != std::string::npos &&
                               name.ends_with(k_temp_link_suffix) && entry.is_symlink(ec);
        std::error_code rm;
        if ((old_version && fs::remove_all(entry.path(), rm) > 0) || (temp_link && fs::remove(entry.path(), rm))) {
            ++removed;
        }
    }
    return removed;
}

}  // namespace core
