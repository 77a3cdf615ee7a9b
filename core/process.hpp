// Facts about this host's processes that leases, the DNS journal and stale
// temp files all decide by: which host we are, and whether a pid still lives.
#pragma once

#include <string>

namespace core {

// gethostname(), or "localhost" when it fails.
std::string host_name();

// True when `pid` names no process on this host (kill(pid, 0) == ESRCH), or
// is not a pid at all (<= 0). EPERM means it exists under another user: alive.
bool process_gone(long pid);

}  // namespace core
