#include "core/atomic_file.hpp"
#include "core/fd_io.hpp"
#include "core/process.hpp"
#include "core/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace core {

namespace {

constexpr const char* k_temp_marker = ".tmp.";

using fd_io::io_error;
using fd_io::write_all;

// Everything after mkstemp; the caller unlinks the temp file on failure.
Status fill_and_rename(int raw_fd, const std::string& temp, const std::string& path, const std::string& dir,
                       std::string_view content, const FileOptions& options) {
    UniqueFd fd(raw_fd);
    // Final mode first, so the content is never readable with a wider mode
    // (mkstemp creates 0600, umask does not apply to fchmod).
    if (::fchmod(fd.get(), options.mode) != 0) {
        return io_error(path, "fchmod temporary file", errno);
    }
    if (options.owner || options.group) {
        const uid_t uid = options.owner ? *options.owner : static_cast<uid_t>(-1);
        const gid_t gid = options.group ? *options.group : static_cast<gid_t>(-1);
        if (::fchown(fd.get(), uid, gid) != 0) {
            return io_error(path, "fchown temporary file", errno);
        }
        // chown may clear set-id bits; restore the requested mode exactly.
        if (::fchmod(fd.get(), options.mode) != 0) {
            return io_error(path, "fchmod temporary file", errno);
        }
    }
    TRY(write_all(fd.get(), content, path, "write temporary file"));
    if (options.durable && ::fsync(fd.get()) != 0) {
        return io_error(path, "fsync temporary file", errno);
    }
    // close(2)'s own error can carry a deferred write error: report it.
    if (::close(fd.release()) != 0) {
        return io_error(path, "close temporary file", errno);
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) {
        return io_error(path, "rename", errno);
    }
    if (!options.durable) {
        return {};
    }
    // Make the rename itself durable.
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0) {
        return io_error(dir, "open directory", errno);
    }
    if (::fsync(dir_fd.get()) != 0) {
        return io_error(dir, "fsync directory", errno);
    }
    return {};
}

}  // namespace

Status write_file_atomic(const std::string& path, std::string_view content, const FileOptions& options) {
    if (path.empty() || path.back() == '/') {
        return make_error(ErrorKind::io, "'" + path + "': not a file path");
    }
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    const std::string prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);

    // The writer's pid in the name lets remove_stale_temp_files() tell a dead
    // writer's leftovers from a live writer's file.
    std::string temp = prefix + "." + name + k_temp_marker + std::to_string(::getpid()) + ".XXXXXX";
    std::vector<char> buffer(temp.begin(), temp.end());
    buffer.push_back('\0');
    const int fd = ::mkostemp(buffer.data(), O_CLOEXEC);
    if (fd < 0) {
        return io_error(path, "create temporary file", errno);
    }
    temp.assign(buffer.data());

    auto status = fill_and_rename(fd, temp, path, dir, content, options);
    if (!status.ok()) {
        // After a successful rename the temp name is gone; unlink is harmless.
        const int saved = errno;
        ::unlink(temp.c_str());
        errno = saved;
    }
    return status;
}

int remove_stale_temp_files(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    int removed = 0;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const std::string name = entry.path().filename().string();
        const auto marker = name.find(k_temp_marker);
        if (name.empty() || name.front() != '.' || marker == std::string::npos) {
            continue;
        }
        const auto age = fs::file_time_type::clock::now() - entry.last_write_time(ec);
        bool stale = !ec && age > std::chrono::minutes(1);
        if (!stale) {
            const std::string rest = name.substr(marker + std::strlen(k_temp_marker));
            char* end = nullptr;
            const long pid = std::strtol(rest.c_str(), &end, 10);
            stale = end != rest.c_str() && *end == '.' && pid > 0 && pid != static_cast<long>(::getpid()) &&
                    process_gone(pid);
        }
        if (stale && fs::remove(entry.path(), ec)) {
            ++removed;
        }
    }
    return removed;
}

Result<std::string> read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT) {
            return make_error(ErrorKind::not_found, path + ": " + std::strerror(ENOENT));
        }
        return io_error(path, "open", errno);
    }
    std::string content;
    struct stat st {};
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        content.reserve(static_cast<std::size_t>(st.st_size));
    }
    std::vector<char> chunk(std::size_t{64} * 1024);
    while (true) {
        const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return io_error(path, "read", errno);
        }
        if (n == 0) {
            break;
        }
        content.append(chunk.data(), static_cast<std::size_t>(n));
    }
    return content;
}

}  // namespace core
