#include "dns/exec.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/child_env.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"

namespace dns {
namespace {

constexpr std::size_t k_tail_lines = 10;

class Pipe {
public:
    Pipe() {
        if (::pipe2(fds_, O_CLOEXEC) != 0) {
            fds_[0] = fds_[1] = -1;
        }
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    bool ok() const { return fds_[0] >= 0; }
    int read_end() const { return fds_[0]; }
    int write_end() const { return fds_[1]; }
    void close_read() {
        if (fds_[0] >= 0) {
            ::close(fds_[0]);
            fds_[0] = -1;
        }
    }
    void close_write() {
        if (fds_[1] >= 0) {
            ::close(fds_[1]);
            fds_[1] = -1;
        }
    }

private:
    int fds_[2];
};

struct FileActions {
    posix_spawn_file_actions_t actions;
    FileActions() { posix_spawn_file_actions_init(&actions); }
    ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
};

struct SpawnAttr {
    posix_spawnattr_t attr;
    SpawnAttr() { posix_spawnattr_init(&attr); }
    ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
    SpawnAttr(const SpawnAttr&) = delete;
    SpawnAttr& operator=(const SpawnAttr&) = delete;
};

class ExecProvider final : public Provider {
public:
    explicit ExecProvider(ExecSettings settings) : settings_(std::move(settings)) {}

    core::Status present(const std::vector<TxtRecord>& records) override {
        for (const auto& r : records) {
            TRY(run("present", r));
        }
        return {};
    }
    core::Status cleanup(const std::vector<TxtRecord>& records) override {
        // Try every record even when one fails; report the first failure.
        core::Status first;
        for (const auto& r : records) {
            auto status = run("cleanup", r);
            if (!status && first.ok()) {
                first = status;
            }
        }
        return first;
    }
    std::string name() const override { return "exec"; }

private:
    core::Status run(const char* verb, const TxtRecord& record) {
        const std::string what = std::string("exec: '") + settings_.path + " " + verb + " " + record.fqdn + "'";
        Pipe output;
        if (!output.ok()) {
            return core::make_error(core::ErrorKind::io, what + ": pipe: " + std::strerror(errno));
        }
        FileActions fa;
        posix_spawn_file_actions_addopen(&fa.actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa.actions, output.write_end(), 1);
        posix_spawn_file_actions_adddup2(&fa.actions, output.write_end(), 2);
        SpawnAttr sa;
        // Own process group, so a timeout kills the command and its children.
        posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
        posix_spawnattr_setpgroup(&sa.attr, 0);
        sigset_t empty;
        sigemptyset(&empty);
        posix_spawnattr_setsigmask(&sa.attr, &empty);

        std::string arg0 = settings_.path;
        std::string arg1 = verb;
        std::string arg2 = record.fqdn;
        std::string arg3 = record.value;
        char* argv[] = {arg0.data(), arg1.data(), arg2.data(), arg3.data(), nullptr};
        // Our environment without our secrets: the hook gets names and values, never keys.
        std::vector<std::string> env_block = core::child_environment();
        std::vector<char*> envp = core::env_pointers(env_block);
        pid_t pid = 0;
        const int rc = posix_spawnp(&pid, settings_.path.c_str(), &fa.actions, &sa.attr, argv, envp.data());
        output.close_write();
        if (rc != 0) {
            return core::make_error(core::ErrorKind::invalid_input, what + ": cannot run: " + std::strerror(rc));
        }

        const core::Deadline deadline = core::Deadline::after(settings_.timeout);
        std::deque<std::string> tail;
        std::string partial;
        auto take_line = [&](std::string line) {
            core::log::info("exec: " + line, {{"command", settings_.path}, {"step", verb}, {"fqdn", record.fqdn}});
            tail.push_back(std::move(line));
            if (tail.size() > k_tail_lines) {
                tail.pop_front();
            }
        };
        bool timed_out = false;
        bool cancelled = false;
        while (true) {
            if (deadline.expired()) {
                timed_out = true;
                break;
            }
            if (core::cancelled()) {
                cancelled = true;
                break;
            }
            pollfd p{output.read_end(), POLLIN, 0};
            const int ready = poll(&p, 1, static_cast<int>(std::min<long long>(deadline.remaining().count(), 200)));
            if (ready < 0 && errno != EINTR) {
                break;
            }
            if (ready <= 0) {
                continue;
            }
            char buf[4096];
            const ssize_t n = ::read(output.read_end(), buf, sizeof buf);
            if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
                continue;
            }
            if (n <= 0) {
                break;  // EOF: every writer (the command and its children) is gone
            }
            partial.append(buf, static_cast<std::size_t>(n));
            std::size_t nl;
            while ((nl = partial.find('\n')) != std::string::npos) {
                take_line(partial.substr(0, nl));
                partial.erase(0, nl + 1);
            }
        }
        if (timed_out || cancelled) {
            ::kill(-pid, SIGKILL);
        }
        // The output closed; the command may still run (it closed its stdout): bounded wait.
        int status = 0;
        while (true) {
            const pid_t done = ::waitpid(pid, &status, WNOHANG);
            if (done == pid || (done < 0 && errno != EINTR)) {
                break;
            }
            if (done == 0 && (deadline.expired() || core::cancelled())) {
                timed_out = timed_out || deadline.expired();
                cancelled = cancelled || core::cancelled();
                ::kill(-pid, SIGKILL);
                while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
                }
                break;
            }
            if (done == 0) {
                (void)core::sleep_for(std::chrono::milliseconds(10), deadline);
            }
        }
        if (!partial.empty()) {
            take_line(partial);
        }
        std::string last;
        for (const auto& line : tail) {
            last += (last.empty() ? "" : " | ") + line;
        }
        const std::string output_note = last.empty() ? "" : "; last output: " + last;
        if (cancelled) {
            return core::make_error(core::ErrorKind::cancelled, what + ": cancelled");
        }
        if (timed_out) {
            return core::make_error(core::ErrorKind::timeout, what + ": killed after " +
                                                                  std::to_string(settings_.timeout.count()) +
                                                                  "ms (EXEC_TIMEOUT)" + output_note);
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && tail.empty()) {
            return core::make_error(core::ErrorKind::invalid_input, what + ": command not found");
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            const std::string how = WIFEXITED(status) ? "exited with code " + std::to_string(WEXITSTATUS(status))
                                                      : "killed by signal " + std::to_string(WTERMSIG(status));
            return core::make_error(core::ErrorKind::internal, what + " " + how + output_note);
        }
        return {};
    }

    ExecSettings settings_;
};

}  // namespace

namespace {

using core::settings::Setting;
using core::settings::Type;

const std::array<Setting, 2> k_exec_settings{{
    {.key = "exec_path",
     .flag = "exec-path",
     .env = "EXEC_PATH",
     .help = "program called as: PROG present|cleanup FQDN VALUE"},
    {.key = "exec_timeout",
     .env = "EXEC_TIMEOUT",
     .type = Type::integer,
     .min = 1,
     .max = 86400,
     .help = "seconds one call may take (default 120)"},
}};

}  // namespace

std::span<const core::settings::Setting> ExecSettings::schema() { return k_exec_settings; }

core::Result<ExecSettings> ExecSettings::from_values(const core::settings::Values& values,
                                                     const std::string& block_origin) {
    namespace settings = core::settings;
    ExecSettings s;
    s.path = settings::text(values, "exec_path");
    if (s.path.empty()) {
        return settings::settings_error(settings::missing_origin(k_exec_settings[0], block_origin),
                                        "required by provider exec");
    }
    s.timeout = std::chrono::seconds(settings::integer(values, "exec_timeout", 120));
    return s;
}

core::Result<ExecSettings> ExecSettings::from_env(const Env& env) {
    TRY_ASSIGN(const auto values, core::settings::read_env(core::settings::flat_block(schema()), env));
    return from_values(values, "");
}

core::Result<std::unique_ptr<Provider>> make_exec(ExecSettings settings) {
    if (settings.path.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "exec: EXEC_PATH is not set");
    }
    return std::unique_ptr<Provider>(std::make_unique<ExecProvider>(std::move(settings)));
}

}  // namespace dns
