// core::ProcessIdentity: when a recorded holder (a lease, a journal entry) is
// certainly dead, and when it must be left to its expiry.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/process.hpp"

namespace {

// The pid of a child that has exited and been reaped.
long dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) {
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return static_cast<long>(child);
}

TEST(CoreProcess, SelfIdentityIsComplete) {
    const auto& self = core::self_identity();
    EXPECT_EQ(self.host, core::host_name());
    EXPECT_EQ(self.pid, static_cast<long>(::getpid()));
    EXPECT_EQ(self.boot_id.size(), 36U) << self.boot_id;
    EXPECT_TRUE(self.pid_ns.starts_with("pid:[")) << self.pid_ns;
    EXPECT_GT(self.start, 0U);
    EXPECT_EQ(core::process_start_ticks(self.pid), self.start);
}

TEST(CoreProcess, LiveSelfIsNotDead) { EXPECT_FALSE(core::identity_is_dead(core::self_identity())); }

TEST(CoreProcess, GonePidInOurNamespaceIsDead) {
    auto holder = core::self_identity();
    holder.pid = dead_pid();
    EXPECT_TRUE(core::identity_is_dead(holder));
}

TEST(CoreProcess, ReusedPidIsDead) {
    // Our pid, but recorded with another start time: the recorder died and
    // the pid went to a new process (pid 1 in each new container).
    auto holder = core::self_identity();
    holder.start += 1000;
    EXPECT_TRUE(core::identity_is_dead(holder));
}

TEST(CoreProcess, AnotherPidNamespaceIsLeftToExpiry) {
    // A container with host networking: our host name and boot id, its own pids.
    auto holder = core::self_identity();
    holder.pid = dead_pid();
    holder.pid_ns = "pid:[1]";
    EXPECT_FALSE(core::identity_is_dead(holder));
}

TEST(CoreProcess, AnotherBootOrHostIsLeftToExpiry) {
    auto other_boot = core::self_identity();
    other_boot.pid = dead_pid();
    other_boot.boot_id = "00000000-0000-0000-0000-000000000000";
    EXPECT_FALSE(core::identity_is_dead(other_boot));
    auto other_host = core::self_identity();
    other_host.pid = dead_pid();
    other_host.host = "other-host.example";
    EXPECT_FALSE(core::identity_is_dead(other_host));
}

TEST(CoreProcess, RecordWithoutBootIdIsLeftToExpiry) {
    // Written before the identity had these fields: host and pid only.
    core::ProcessIdentity legacy;
    legacy.host = core::host_name();
    legacy.pid = dead_pid();
    EXPECT_FALSE(core::identity_is_dead(legacy));
}

TEST(CoreProcess, StartTicksOfNoProcessIsZero) {
    EXPECT_EQ(core::process_start_ticks(dead_pid()), 0U);
    EXPECT_EQ(core::process_start_ticks(0), 0U);
}

}  // namespace
