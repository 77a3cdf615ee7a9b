#include "renewer/certfetch_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"

namespace renewer::certfetch {
namespace {

constexpr std::chrono::milliseconds k_poll{100};

std::string holder_of(const std::string& path) {
    auto text = core::read_file(path);
    std::string pid = text.ok() ? *text : std::string();
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) {
        pid.pop_back();
    }
    return pid.empty() ? "unknown" : pid;
}

}  // namespace

core::Result<core::UniqueFd> lock_out_dir(const std::string& dir, std::chrono::seconds wait) {
    const std::string path = (std::filesystem::path(dir) / k_lock_file).string();
    core::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) {
        return core::make_error(core::ErrorKind::io, "cannot open " + path + ": " + std::strerror(errno));
    }
    const auto deadline = core::Deadline::after(wait);
    bool told = false;
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            return core::make_error(core::ErrorKind::io, "cannot lock " + path + ": " + std::strerror(errno));
        }
        if (!told) {
            core::log::info("certfetch: another certfetch is writing " + dir + "; waiting for it",
                            {{"pid", holder_of(path)}, {"lock_wait_s", std::to_string(wait.count())}});
            told = true;
        }
        if (deadline.expired() || !core::sleep_for(k_poll, deadline).ok()) {
            return core::make_error(core::ErrorKind::io, "another certfetch (pid " + holder_of(path) +
                                                             ") is still writing " + dir + " after " +
                                                             std::to_string(wait.count()) + " s (--lock-wait)");
        }
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
        core::log::warn("certfetch: cannot record our pid in " + path + ": " + std::strerror(errno));
    }
    return fd;
}

}  // namespace renewer::certfetch
