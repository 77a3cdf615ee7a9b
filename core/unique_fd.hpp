// The one owner of a POSIX file descriptor: closes it exactly once, moves but
// never copies, so an early return cannot leak an fd into a spawned child.
#pragma once

#include <unistd.h>

#include <utility>

namespace core {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset(other.release());
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }

    // Gives up ownership without closing.
    int release() { return std::exchange(fd_, -1); }
    // Closes the current fd (if any) and owns `fd` instead.
    void reset(int fd = -1) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// Both ends of a pipe2(O_CLOEXEC); both invalid (errno set) when it failed.
struct Pipe {
    UniqueFd read;
    UniqueFd write;
};
Pipe make_pipe();

}  // namespace core
