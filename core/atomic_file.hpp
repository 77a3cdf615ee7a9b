// Atomic file replacement: write a temp file in the same folder with its final
// mode, fsync it, rename over the target, fsync the folder. Readers see the
// old file or the new one, never a mix; a crash leaves no partial target.
#pragma once

#include <sys/types.h>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace core {

struct FileOptions {
    mode_t mode = 0644;
    std::optional<uid_t> owner;
    std::optional<gid_t> group;
    // false: no fsync of the file or the folder. Readers still see the old
    // file or the new one (rename), but a power cut may leave the old one or an
    // empty one. Only for records whose loss costs nothing (a status record):
    // the two fsyncs are most of a run that has nothing to do on a busy disk
    // (bench/analysis.md).
    bool durable = true;
};

Status write_file_atomic(const std::string& path, std::string_view content, const FileOptions& options = {});

// Removes the temp files write_file_atomic left in `dir` when their writer
// was killed before the rename (they may hold key material): those of a
// process that no longer exists, and any older than a minute (a write takes
// milliseconds). Best effort; returns how many it removed.
int remove_stale_temp_files(const std::string& dir);

// Whole file; ErrorKind::not_found when absent, ErrorKind::io otherwise.
Result<std::string> read_file(const std::string& path);

}  // namespace core
