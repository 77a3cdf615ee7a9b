// One certfetch per output folder: two at once could interleave their
// versions and their reloads. An flock(2) on DIR/.certfetch.lock, held for
// the whole run and released by the kernel when the process ends (a killed
// certfetch never blocks the next one). The holder's pid is written into the
// file, for the message a waiting certfetch gives when it gives up.
#pragma once

#include <chrono>
#include <string>

#include "core/result.hpp"
#include "core/unique_fd.hpp"

namespace renewer::certfetch {

inline constexpr const char* k_lock_file = ".certfetch.lock";

// Waits up to `wait` for the lock; an ErrorKind::io error naming the holder's
// pid and the folder when another process keeps it that long.
core::Result<core::UniqueFd> lock_out_dir(const std::string& dir, std::chrono::seconds wait);

}  // namespace renewer::certfetch
