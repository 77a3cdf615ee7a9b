#include "core/process.hpp"

#include <unistd.h>
#include <array>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>

namespace core {
namespace {

std::string first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

std::string link_target(const std::string& path) {
    std::array<char, 128> buf{};
    const auto n = ::readlink(path.c_str(), buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string();
}

ProcessIdentity read_self() {
    ProcessIdentity self;
    self.host = host_name();
    self.boot_id = first_line("/proc/sys/kernel/random/boot_id");
    self.pid_ns = link_target("/proc/self/ns/pid");
    self.pid = static_cast<long>(::getpid());
    self.start = process_start_ticks(self.pid);
    return self;
}

}  // namespace

std::string host_name() {
    std::array<char, 256> buf{};
    if (::gethostname(buf.data(), buf.size() - 1) != 0) {
        return "localhost";
    }
    return std::string(buf.data());
}

bool process_gone(long pid) { return pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH); }

std::uint64_t process_start_ticks(long pid) {
    if (pid <= 0) {
        return 0;
    }
    const auto stat = first_line("/proc/" + std::to_string(pid) + "/stat");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
    // the fields are counted from the last ')'; starttime is field 22 (proc(5)).
    const auto close = stat.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::istringstream fields(stat.substr(close + 1));
    std::string field;
    for (int index = 3; fields >> field; ++index) {
        if (index == 22) {
            return std::strtoull(field.c_str(), nullptr, 10);
        }
    }
    return 0;
}

const ProcessIdentity& self_identity() {
    static const ProcessIdentity self = read_self();
    return self;
}

bool identity_is_dead(const ProcessIdentity& holder) {
    const auto& self = self_identity();
    if (holder.pid <= 0 || holder.host != self.host || holder.boot_id.empty() || holder.boot_id != self.boot_id ||
        holder.pid_ns.empty() || holder.pid_ns != self.pid_ns) {
        return false;  // not ours to judge
    }
    if (process_gone(holder.pid)) {
        return true;
    }
    const auto start = process_start_ticks(holder.pid);
    return holder.start != 0 && start != 0 && start != holder.start;
}

}  // namespace core
