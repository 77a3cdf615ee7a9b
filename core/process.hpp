// Facts about this host's processes that leases, the DNS journal and stale
// temp files all decide by: which host and process we are, and whether a
// recorded process still lives (docs/architecture.md, "Crash safety").
#pragma once

#include <cstdint>
#include <string>

namespace core {

// gethostname(), or "localhost" when it fails.
std::string host_name();

// True when `pid` names no process on this host (kill(pid, 0) == ESRCH), or
// is not a pid at all (<= 0). EPERM means it exists under another user: alive.
bool process_gone(long pid);

// Who holds a lease or wrote a journal entry. A host name alone is not enough
// to judge a pid: containers with host networking share the host name (and
// the kernel, so the boot id) but not the pid namespace, and a pid is reused
// after a crash (pid 1 in every container). Empty strings and 0 mean unknown
// (a record written before these fields existed).
struct ProcessIdentity {
    std::string host;
    std::string boot_id;  // /proc/sys/kernel/random/boot_id
    std::string pid_ns;   // readlink(/proc/self/ns/pid), "pid:[4026531836]"
    long pid = 0;
    std::uint64_t start = 0;  // start time in clock ticks after boot (/proc/<pid>/stat, field 22)
};

// This process (read once, then cached).
const ProcessIdentity& self_identity();

// The start time of `pid` in this pid namespace, 0 when there is no such
// process or /proc cannot tell.
std::uint64_t process_start_ticks(long pid);

// True only when `holder` is certainly dead: the same host, boot and pid
// namespace as this process, and its pid is gone or now belongs to a process
// started at another time (reused). Anything unknown or different is alive:
// the caller waits for the record's expiry instead.
bool identity_is_dead(const ProcessIdentity& holder);

}  // namespace core
