#include "core/process.hpp"

#include <unistd.h>
#include <array>
#include <cerrno>
#include <csignal>

namespace core {

std::string host_name() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) {
        return "localhost";
    }
    return std::string(buf.data());
}

bool process_gone(long pid) { return pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH); }

}  // namespace core
