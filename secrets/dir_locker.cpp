// The directory store's lease: <dir>/.renewer.lock (0600), read and
// rewritten in place under flock(LOCK_EX). flock serialises the
// check-and-take between processes (the kernel drops it if we die mid-way),
// and the record's expiry and pid let a later run take over from a crashed
// holder.
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/unique_fd.hpp"
#include "secrets/lease.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;

constexpr mode_t k_lock_mode = 0600;
constexpr const char* k_lock = ".renewer.lock";

core::Error io_error(const std::string& what, const std::string& path, int err) {
    return make_error(ErrorKind::io, what + " " + path + ": " + std::strerror(err));
}

class DirLocker final : public Locker {
public:
    explicit DirLocker(std::string dir) : dir_(std::move(dir)) {}

    core::Result<Lease> try_acquire(const std::string& owner, std::chrono::seconds ttl) override {
        TRY(detail::make_dirs(dir_));
        return with_lock_file([&](int fd, const std::string& content) -> core::Result<Lease> {
            if (auto held = detail::lease_from_json(content);
                held && !detail::lease_is_free(*held, std::chrono::system_clock::now())) {
                return detail::lease_conflict(*held, describe());
            }
            const auto record = detail::new_lease(owner, ttl);
            TRY(overwrite(fd, detail::lease_to_json(record)));
            return detail::to_lease(record);
        });
    }

    core::Result<Lease> renew(const Lease& lease, std::chrono::seconds ttl) override {
        return with_lock_file([&](int fd, const std::string& content) -> core::Result<Lease> {
            auto held = detail::lease_from_json(content);
            if (!held || held->token != lease.token) {
                return detail::lease_lost(held, describe());
            }
            held->expires_at = detail::expiry_after(ttl);
            TRY(overwrite(fd, detail::lease_to_json(*held)));
            return detail::to_lease(*held);
        });
    }

    core::Status release(const Lease& lease) override {
        auto released = with_lock_file([&](int fd, const std::string& content) -> core::Result<bool> {
            const auto held = detail::lease_from_json(content);
            if (!held || held->token != lease.token) {
                return false;  // expired and taken over by someone else: not ours to free
            }
            TRY(overwrite(fd, ""));
            return true;
        });
        if (!released.ok()) {
            return released.error();
        }
        return {};
    }

    std::string describe() const override { return "dir:" + dir_; }

    // Read-only: no lock file is created and no flock taken (a reader may
    // see a record mid-rewrite as unparsable, i.e. free; good enough to show).
    core::Result<std::optional<Lease>> peek() override {
        const auto file = (std::filesystem::path(dir_) / k_lock).string();
        core::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
        if (fd.get() < 0) {
            if (errno == ENOENT) {
                return std::optional<Lease>();
            }
            return io_error("cannot open", file, errno);
        }
        std::string content;
        std::array<char, 4096> buf{};
        for (;;) {
            const auto n = ::read(fd.get(), buf.data(), buf.size());
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                return io_error("cannot read", file, errno);
            }
            if (n == 0) {
                break;
            }
            content.append(buf.data(), static_cast<std::size_t>(n));
        }
        const auto held = detail::lease_from_json(content);
        if (!held || detail::lease_is_free(*held, std::chrono::system_clock::now())) {
            return std::optional<Lease>();
        }
        return std::optional<Lease>(detail::to_lease(*held));
    }

private:
    static core::Status overwrite(int fd, std::string_view content) {
        if (::ftruncate(fd, 0) != 0) {
            return io_error("cannot truncate", k_lock, errno);
        }
        std::size_t done = 0;
        while (done < content.size()) {
            const auto n = ::pwrite(fd, content.data() + done, content.size() - done, static_cast<off_t>(done));
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return io_error("cannot write", k_lock, errno);
            }
            done += static_cast<std::size_t>(n);
        }
        if (::fsync(fd) != 0) {
            return io_error("cannot fsync", k_lock, errno);
        }
        return {};
    }

    template <typename Fn>
    auto with_lock_file(Fn&& fn) const -> decltype(fn(0, std::string())) {
        const auto file = (std::filesystem::path(dir_) / k_lock).string();
        core::UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, k_lock_mode));
        if (fd.get() < 0) {
            return io_error("cannot open", file, errno);
        }
        // Blocking is fine: holders keep the flock only for this read-modify-write.
        while (::flock(fd.get(), LOCK_EX) != 0) {
            if (errno != EINTR) {
                return io_error("cannot flock", file, errno);
            }
        }
        std::string content;
        std::array<char, 4096> buf{};
        off_t offset = 0;
        for (;;) {
            const auto n = ::pread(fd.get(), buf.data(), buf.size(), offset);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            content.append(buf.data(), static_cast<std::size_t>(n));
            offset += n;
        }
        auto result = fn(fd.get(), content);
        ::flock(fd.get(), LOCK_UN);
        return result;
    }

    std::string dir_;
};

}  // namespace

namespace detail {

std::unique_ptr<Locker> make_dir_locker(std::string dir) { return std::make_unique<DirLocker>(std::move(dir)); }

}  // namespace detail
}  // namespace secrets
