#include "core/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/child_env.hpp"
#include "core/retry.hpp"
#include "core/unique_fd.hpp"

namespace core {
namespace {

// Output lines longer than this reach on_line in pieces.
constexpr std::size_t k_max_line = 4096;
// How often the wait loop looks at the clock, the child and cancel().
constexpr milliseconds k_tick{10};

// The posix_spawn attributes and file actions, destroyed on every path.
class SpawnSetup {
public:
    explicit SpawnSetup(int output_fd) {
        posix_spawn_file_actions_init(&actions_);
        posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&actions_, output_fd, 1);
        posix_spawn_file_actions_adddup2(&actions_, output_fd, 2);
        posix_spawnattr_init(&attributes_);
        // Its own process group, so a timeout stops everything the command started.
        posix_spawnattr_setflags(&attributes_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setpgroup(&attributes_, 0);
        sigset_t no_signals;
        sigemptyset(&no_signals);
        posix_spawnattr_setsigmask(&attributes_, &no_signals);
        // Whatever we ignore or handle, the child starts with the defaults.
        sigset_t defaults;
        sigemptyset(&defaults);
        for (const int sig : {SIGTERM, SIGINT, SIGPIPE, SIGHUP}) {
            sigaddset(&defaults, sig);
        }
        posix_spawnattr_setsigdefault(&attributes_, &defaults);
    }
    ~SpawnSetup() {
        posix_spawn_file_actions_destroy(&actions_);
        posix_spawnattr_destroy(&attributes_);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;

    const posix_spawn_file_actions_t* actions() const { return &actions_; }
    const posix_spawnattr_t* attributes() const { return &attributes_; }

private:
    posix_spawn_file_actions_t actions_{};
    posix_spawnattr_t attributes_{};
};

Result<pid_t> spawn(const SubprocessOptions& options, int output_fd) {
    if (options.argv.empty() || options.argv.front().empty()) {
        return make_error(ErrorKind::invalid_input, "subprocess: no program given");
    }
    std::vector<std::string> argv = options.argv;
    std::vector<std::string> env = options.env;
    const auto argv_ptrs = env_pointers(argv);
    const auto env_ptrs = env_pointers(env);
    const SpawnSetup setup(output_fd);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, argv.front().c_str(), setup.actions(), setup.attributes(), argv_ptrs.data(),
                                  env_ptrs.data());
    if (rc != 0) {
        const bool bad_program = rc == ENOENT || rc == EACCES || rc == ENOEXEC || rc == ENOTDIR;
        return make_error(bad_program ? ErrorKind::invalid_input : ErrorKind::io,
                          "cannot start " + argv.front() + ": " + std::strerror(rc));
    }
    return pid;
}

// Keeps the last `limit` bytes and hands complete lines to on_line.
class OutputSink {
public:
    explicit OutputSink(const SubprocessOptions& options) : options_(options) {}

    void add(std::string_view bytes) {
        out_.append(bytes);
        if (out_.size() > options_.output_limit) {
            out_.erase(0, out_.size() - options_.output_limit);
            truncated_ = true;
        }
        if (!options_.on_line) {
            return;
        }
        line_.append(bytes);
        std::size_t start = 0;
        for (std::size_t nl = line_.find('\n'); nl != std::string::npos; nl = line_.find('\n', start)) {
            options_.on_line(std::string_view(line_).substr(start, nl - start));
            start = nl + 1;
        }
        line_.erase(0, start);
        if (line_.size() > k_max_line) {
            flush();
        }
    }
    void flush() {
        if (options_.on_line && !line_.empty()) {
            options_.on_line(line_);
        }
        line_.clear();
    }
    void finish(SubprocessResult& result) {
        flush();
        result.output = std::move(out_);
        result.output_truncated = truncated_;
    }

private:
    const SubprocessOptions& options_;
    std::string out_;
    std::string line_;
    bool truncated_ = false;
};

// One read; false at end of file or on an error other than a retry.
bool read_some(int fd, OutputSink& sink) {
    char buffer[4096];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
        sink.add(std::string_view(buffer, static_cast<std::size_t>(n)));
        return true;
    }
    return n < 0 && (errno == EINTR || errno == EAGAIN);
}

// Whether `pid` has ended, without reaping it: while it stays a zombie its
// pid (and so its process group id) cannot be reused, so signalling the
// group stays safe.
bool has_ended(pid_t pid) {
    siginfo_t info{};
    return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

// Reads output until the child ends, the deadline passes or cancel().
SubprocessResult::End wait_for_end(pid_t pid, int output_fd, const SubprocessOptions& options, const Deadline& deadline,
                                   OutputSink& sink) {
    bool pipe_open = true;
    while (!has_ended(pid)) {
        if (deadline.expired()) {
            return SubprocessResult::End::timed_out;
        }
        if (options.honour_cancel && cancelled()) {
            return SubprocessResult::End::cancelled;
        }
        pollfd fd = {pipe_open ? output_fd : -1, POLLIN, 0};
        const auto slice = std::min(deadline.remaining(), k_tick);
        if (::poll(&fd, 1, static_cast<int>(slice.count()) + 1) > 0 && (fd.revents & (POLLIN | POLLHUP)) != 0) {
            pipe_open = read_some(output_fd, sink);
        }
    }
    return SubprocessResult::End::exited;
}

// SIGTERM to the group, up to `grace` for the leader to go, then SIGKILL to
// whatever of the group is left (a grandchild may ignore SIGTERM).
void stop_group(pid_t pid, milliseconds grace) {
    ::kill(-pid, SIGTERM);
    const Deadline deadline = Deadline::after(grace);
    while (!has_ended(pid) && !deadline.expired()) {
        ::usleep(static_cast<useconds_t>(std::chrono::microseconds(k_tick).count()));
    }
    ::kill(-pid, SIGKILL);
}

int reap(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

// What is already in the pipe once the child ended; a background child that
// keeps the pipe open does not keep us waiting.
void drain(int fd, OutputSink& sink) {
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    char buffer[4096];
    std::size_t total = 0;
    ssize_t n = 0;
    while (total < std::size_t{1024} * 1024 && (n = ::read(fd, buffer, sizeof buffer)) > 0) {
        sink.add(std::string_view(buffer, static_cast<std::size_t>(n)));
        total += static_cast<std::size_t>(n);
    }
}

}  // namespace

std::vector<std::string> shell_argv(std::string command) { return {"/bin/sh", "-c", std::move(command)}; }

std::string SubprocessResult::describe() const {
    switch (end) {
        case End::exited: return "exited with status " + std::to_string(exit_code);
        case End::signalled: return "killed by signal " + std::to_string(signal);
        case End::timed_out: return "timed out";
        case End::cancelled: return "cancelled";
    }
    return "ended";
}

Result<SubprocessResult> run_subprocess(const SubprocessOptions& options) {
    Pipe output = make_pipe();
    if (!output.read) {
        return make_error(ErrorKind::io, std::string("subprocess: pipe: ") + std::strerror(errno));
    }
    const auto started = Clock::now();
    const Deadline deadline = Deadline::after(options.timeout);
    TRY_ASSIGN(const pid_t pid, spawn(options, output.write.get()));
    output.write.reset();

    OutputSink sink(options);
    SubprocessResult result;
    result.end = wait_for_end(pid, output.read.get(), options, deadline, sink);
    if (result.end != SubprocessResult::End::exited) {
        stop_group(pid, options.kill_grace);
    }
    const int status = reap(pid);
    drain(output.read.get(), sink);
    sink.finish(result);
    result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    if (result.end == SubprocessResult::End::exited && WIFSIGNALED(status)) {
        result.end = SubprocessResult::End::signalled;
        result.signal = WTERMSIG(status);
    } else if (result.end == SubprocessResult::End::exited) {
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    }
    return result;
}

}  // namespace core
