// Runs one child process the way every spawn site here needs it (the exec DNS
// provider, the deploy hook, certfetch's --reload): posix_spawn with an argv
// and no shell unless the caller asks for /bin/sh -c, an explicit
// environment (core::child_environment: without our secrets), its own
// process group, stdin from /dev/null, stdout+stderr captured together, and
// a timeout after which the whole group gets SIGTERM, then SIGKILL.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace core {

struct SubprocessOptions {
    // argv[0] is the program: a path, or a name looked up in PATH (of this
    // process) when it holds no '/'. No shell is involved; see shell_argv().
    std::vector<std::string> argv;
    // Exactly the child's environment, "NAME=value" each.
    std::vector<std::string> env;
    std::chrono::milliseconds timeout{60'000};
    // Between the SIGTERM to the group and the SIGKILL.
    std::chrono::milliseconds kill_grace{5'000};
    // The captured output keeps the last this many bytes.
    std::size_t output_limit = std::size_t{64} * 1024;
    // Stop the child (like a timeout) when core::cancel() was called.
    bool honour_cancel = true;
    // Called with each complete output line as it arrives (e.g. to log it),
    // and with the unterminated rest at the end. May be empty.
    std::function<void(std::string_view line)> on_line;
};

// {"/bin/sh", "-c", command}: for the operator's own shell text only.
std::vector<std::string> shell_argv(std::string command);

struct SubprocessResult {
    enum class End { exited, signalled, timed_out, cancelled };
    End end = End::exited;
    int exit_code = 0;  // End::exited
    int signal = 0;     // End::signalled
    // stdout and stderr interleaved; the last `output_limit` bytes.
    std::string output;
    bool output_truncated = false;
    std::chrono::milliseconds elapsed{0};

    bool succeeded() const { return end == End::exited && exit_code == 0; }
    // "exited with status 3", "killed by signal 9", "timed out", "cancelled".
    std::string describe() const;
};

// Runs the child to its end. An error only when it could not be started
// (ErrorKind::io; ErrorKind::invalid_input when the program does not exist
// or is not executable, or argv is empty); a non-zero exit, a signal or a
// timeout are results. After the child ends, output its background children
// still write is not waited for.
Result<SubprocessResult> run_subprocess(const SubprocessOptions& options);

}  // namespace core
