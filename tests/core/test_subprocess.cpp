// core::run_subprocess: exit status, output capture and its bound, the
// timeout stopping the whole process group, the environment passed exactly,
// and no shell unless asked for.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/env.hpp"
#include "core/retry.hpp"
#include "core/subprocess.hpp"
#include "core/unique_fd.hpp"

namespace {

using core::SubprocessOptions;
using core::SubprocessResult;
using namespace std::chrono_literals;

SubprocessOptions shell(const std::string& command) {
    SubprocessOptions o;
    o.argv = core::shell_argv(command);
    o.env = {"PATH=/usr/bin:/bin"};
    o.timeout = 10s;
    return o;
}

SubprocessResult run_ok(const SubprocessOptions& options) {
    auto result = core::run_subprocess(options);
    EXPECT_TRUE(result.ok()) << result.error().message;
    return result.ok() ? *result : SubprocessResult{};
}

TEST(Subprocess, ExitCodeAndOutput) {
    const auto ok = run_ok(shell("echo out; echo err >&2"));
    EXPECT_TRUE(ok.succeeded());
    EXPECT_EQ(ok.output, "out\nerr\n");
    EXPECT_FALSE(ok.output_truncated);

    const auto failed = run_ok(shell("exit 3"));
    EXPECT_EQ(failed.end, SubprocessResult::End::exited);
    EXPECT_EQ(failed.exit_code, 3);
    EXPECT_FALSE(failed.succeeded());
    EXPECT_EQ(failed.describe(), "exited with status 3");

    const auto killed = run_ok(shell("kill -9 $$"));
    EXPECT_EQ(killed.end, SubprocessResult::End::signalled);
    EXPECT_EQ(killed.signal, SIGKILL);
    EXPECT_EQ(killed.describe(), "killed by signal 9");
}

TEST(Subprocess, StdinIsDevNull) {
    const auto r = run_ok(shell("cat; echo done"));
    EXPECT_EQ(r.output, "done\n");
}

TEST(Subprocess, OutputKeepsTheLastBytesAndEveryLineReachesTheCallback) {
    auto o = shell("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done");
    o.output_limit = 100;
    std::vector<std::string> lines;
    o.on_line = [&](std::string_view line) { lines.emplace_back(line); };
    const auto r = run_ok(o);
    EXPECT_TRUE(r.succeeded());
    EXPECT_TRUE(r.output_truncated);
    EXPECT_EQ(r.output.size(), 100U);
    EXPECT_TRUE(r.output.ends_with("line-1999\n")) << r.output;
    ASSERT_EQ(lines.size(), 2000U);
    EXPECT_EQ(lines.front(), "line-0");
    EXPECT_EQ(lines.back(), "line-1999");
}

TEST(Subprocess, UnterminatedLastLineReachesTheCallback) {
    auto o = shell("printf 'a\\nb'");
    std::vector<std::string> lines;
    o.on_line = [&](std::string_view line) { lines.emplace_back(line); };
    run_ok(o);
    EXPECT_EQ(lines, (std::vector<std::string>{"a", "b"}));
}

// Running, not merely a zombie that nobody reaped yet.
bool alive(pid_t pid) {
    if (::kill(pid, 0) != 0) {
        return false;
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(stat, text);
    const auto paren = text.rfind(')');
    return paren == std::string::npos || text.substr(paren + 2, 1) != "Z";
}

TEST(Subprocess, TimeoutStopsTheWholeGroupIncludingAGrandchildThatIgnoresSigterm) {
    const std::string pid_file = ::testing::TempDir() + "/subprocess-grandchild-" + std::to_string(::getpid());
    ::unlink(pid_file.c_str());
    // The grandchild ignores SIGTERM and outlives its parent's SIGTERM.
    auto o = shell("sh -c 'trap \"\" TERM; echo $$ > " + pid_file + "; exec sleep 60' & sleep 60");
    o.timeout = 500ms;
    o.kill_grace = 300ms;
    const auto started = core::Clock::now();
    const auto r = run_ok(o);
    EXPECT_LT(core::Clock::now() - started, 5s);
    EXPECT_EQ(r.end, SubprocessResult::End::timed_out);
    EXPECT_EQ(r.describe(), "timed out");
    FILE* f = std::fopen(pid_file.c_str(), "r");
    ASSERT_NE(f, nullptr);
    long grandchild = 0;
    ASSERT_EQ(std::fscanf(f, "%ld", &grandchild), 1);
    std::fclose(f);
    ::unlink(pid_file.c_str());
    // SIGKILL went to the group; the grandchild (reparented to init) is gone
    // once init reaps it.
    for (int i = 0; i < 200 && alive(static_cast<pid_t>(grandchild)); ++i) {
        ::usleep(10'000);
    }
    EXPECT_FALSE(alive(static_cast<pid_t>(grandchild))) << grandchild;
}

TEST(Subprocess, BackgroundChildHoldingTheOutputDoesNotKeepUsWaiting) {
    auto o = shell("sleep 30 & echo started");
    const auto started = core::Clock::now();
    const auto r = run_ok(o);
    EXPECT_LT(core::Clock::now() - started, 5s);
    EXPECT_TRUE(r.succeeded());
    EXPECT_EQ(r.output, "started\n");
}

TEST(Subprocess, CancelStopsTheChild) {
    core::cancel();
    auto o = shell("sleep 30");
    o.kill_grace = 200ms;
    const auto r = run_ok(o);
    core::reset_cancel();
    EXPECT_EQ(r.end, SubprocessResult::End::cancelled);

    core::cancel();
    o.argv = core::shell_argv("echo fine");
    o.honour_cancel = false;
    const auto ignored = run_ok(o);
    core::reset_cancel();
    EXPECT_TRUE(ignored.succeeded());
}

TEST(Subprocess, EnvironmentIsExactlyTheOneGiven) {
    ::setenv("SUBPROCESS_TEST_LEAK", "from-the-parent", 1);
    SubprocessOptions o;
    o.argv = {"/usr/bin/env"};
    o.env = {"ONLY=this", "AND=that too"};
    const auto r = run_ok(o);
    ::unsetenv("SUBPROCESS_TEST_LEAK");
    EXPECT_EQ(r.output, "ONLY=this\nAND=that too\n");
}

TEST(Subprocess, NoShellUnlessAsked) {
    // Without a shell, metacharacters are plain argv bytes.
    SubprocessOptions o;
    o.argv = {"echo", "$HOME", "a;b", "`id`", "*"};
    o.env = {"HOME=/nowhere"};
    const auto r = run_ok(o);
    EXPECT_EQ(r.output, "$HOME a;b `id` *\n");

    auto with_shell = shell("echo $HOME");
    with_shell.env.emplace_back("HOME=/nowhere");
    EXPECT_EQ(run_ok(with_shell).output, "/nowhere\n");
}

TEST(Subprocess, OwnProcessGroup) {
    const auto r = run_ok(shell("ps -o pgid= -p $$; echo $$"));
    std::istringstream lines(r.output);
    long pgid = 0;
    long pid = 0;
    lines >> pgid >> pid;
    EXPECT_EQ(pgid, pid) << r.output;
    EXPECT_NE(pgid, static_cast<long>(::getpgrp()));
}

TEST(Subprocess, MissingProgramIsAnError) {
    SubprocessOptions o;
    o.argv = {"/nonexistent/program"};
    auto r = core::run_subprocess(o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(r.error().message.find("/nonexistent/program"), std::string::npos) << r.error().message;

    o.argv = {};
    EXPECT_FALSE(core::run_subprocess(o).ok());
}

TEST(UniqueFd, ClosesOnceAndMoves) {
    auto pipe = core::make_pipe();
    ASSERT_TRUE(pipe.read.valid());
    const int fd = pipe.write.get();
    core::UniqueFd moved(std::move(pipe.write));
    EXPECT_FALSE(pipe.write.valid());
    EXPECT_EQ(moved.get(), fd);
    moved.reset();
    EXPECT_FALSE(moved.valid());
    char c = 0;
    EXPECT_EQ(::read(pipe.read.get(), &c, 1), 0);  // the only writer closed: EOF
}

TEST(Env, UnsetEmptyAndSet) {
    ::unsetenv("CORE_ENV_TEST");
    EXPECT_FALSE(core::env("CORE_ENV_TEST").has_value());
    EXPECT_EQ(core::env_or("CORE_ENV_TEST", "fallback"), "fallback");
    ::setenv("CORE_ENV_TEST", "", 1);
    EXPECT_EQ(core::env("CORE_ENV_TEST"), std::optional<std::string>(""));
    EXPECT_EQ(core::env_or("CORE_ENV_TEST", "fallback"), "fallback");
    ::setenv("CORE_ENV_TEST", "value", 1);
    EXPECT_EQ(core::env_or("CORE_ENV_TEST"), "value");
    ::unsetenv("CORE_ENV_TEST");
}

}  // namespace
