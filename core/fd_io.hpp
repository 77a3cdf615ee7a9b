// Internal to core/ (atomic_file.cpp, live_files.cpp): errno-based file
// errors that name the path and the step, and a write(2) loop.
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace core::fd_io {

// ErrorKind::io: "<path>: <step>: <strerror(err)>".
Error io_error(const std::string& path, const char* step, int err);

// Writes all of `content` to `fd`, retrying after EINTR and short writes; the
// error names `path` and `step`.
Status write_all(int fd, std::string_view content, const std::string& path, const char* step = "write");

}  // namespace core::fd_io
