// Atomic file replacement and whole-file reads.
#include <gtest/gtest.h>

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "core/atomic_file.hpp"

namespace {

namespace fs = std::filesystem;
using core::ErrorKind;

class AtomicFile : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/renewer-atomic-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
    }
    void TearDown() override {
        std::error_code ignored;
        fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ignored);
        fs::remove_all(dir_, ignored);
    }

    // Names in the folder other than `keep`: leftovers such as temp files.
    std::vector<std::string> others(const std::vector<std::string>& keep) const {
        std::vector<std::string> found;
        for (const auto& entry : fs::directory_iterator(dir_)) {
            const std::string name = entry.path().filename().string();
            if (std::find(keep.begin(), keep.end(), name) == keep.end()) {
                found.push_back(name);
            }
        }
        return found;
    }

    static mode_t mode_of(const std::string& path) {
        struct stat st {};
        EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
        return st.st_mode & 07777;
    }

    std::string dir_;
};

TEST_F(AtomicFile, WritesExactContentAndMode) {
    const std::string path = dir_ + "/privkey.pem";
    std::string content = "-----BEGIN PRIVATE KEY-----\n";
    content += std::string("\0\x01\xff binary", 10);
    content += std::string(100'000, 'k');
    core::FileOptions options;
    options.mode = 0600;
    const auto status = core::write_file_atomic(path, content, options);
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(mode_of(path), 0600U);
    auto read = core::read_file(path);
    ASSERT_TRUE(read.ok()) << read.error().message;
    EXPECT_EQ(*read, content);
    EXPECT_TRUE(others({"privkey.pem"}).empty());
}

TEST_F(AtomicFile, ModeIsExactWhateverTheUmask) {
    const mode_t previous = ::umask(077);
    core::FileOptions options;
    options.mode = 0644;
    const auto status = core::write_file_atomic(dir_ + "/fullchain.pem", "cert", options);
    ::umask(previous);
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(mode_of(dir_ + "/fullchain.pem"), 0644U);
}

TEST_F(AtomicFile, OverwriteReplacesContentModeAndInode) {
    const std::string path = dir_ + "/cert.pem";
    core::FileOptions wide;
    wide.mode = 0644;
    ASSERT_TRUE(core::write_file_atomic(path, "old content that is longer", wide).ok());
    struct stat before {};
    ASSERT_EQ(::stat(path.c_str(), &before), 0);

    core::FileOptions narrow;
    narrow.mode = 0600;
    const auto status = core::write_file_atomic(path, "new", narrow);
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(*core::read_file(path), "new");
    EXPECT_EQ(mode_of(path), 0600U);
    struct stat after {};
    ASSERT_EQ(::stat(path.c_str(), &after), 0);
    EXPECT_NE(before.st_ino, after.st_ino) << "replaced by rename, not rewritten in place";
    EXPECT_TRUE(others({"cert.pem"}).empty());
}

TEST_F(AtomicFile, EmptyContent) {
    const std::string path = dir_ + "/empty";
    ASSERT_TRUE(core::write_file_atomic(path, "").ok());
    auto read = core::read_file(path);
    ASSERT_TRUE(read.ok());
    EXPECT_EQ(*read, "");
}

TEST_F(AtomicFile, OwnerAndGroupAreApplied) {
    const std::string path = dir_ + "/owned";
    core::FileOptions options;
    options.mode = 0640;
    options.owner = ::geteuid();
    options.group = ::getegid();
    const auto status = core::write_file_atomic(path, "x", options);
    ASSERT_TRUE(status.ok()) << status.error().message;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, ::geteuid());
    EXPECT_EQ(st.st_gid, ::getegid());
    EXPECT_EQ(st.st_mode & 07777, 0640U);
}

TEST_F(AtomicFile, RelativePathUsesTheCurrentFolder) {
    const auto previous = fs::current_path();
    fs::current_path(dir_);
    const auto status = core::write_file_atomic("relative.txt", "here");
    fs::current_path(previous);
    ASSERT_TRUE(status.ok()) << status.error().message;
    EXPECT_EQ(*core::read_file(dir_ + "/relative.txt"), "here");
    EXPECT_TRUE(others({"relative.txt"}).empty());
}

TEST_F(AtomicFile, FailedRenameLeavesNoTempFile) {
    // The target is a non-empty folder: the temp file is written, the rename fails.
    const std::string path = dir_ + "/target";
    fs::create_directory(path);
    fs::create_directory(path + "/inside");
    const auto status = core::write_file_atomic(path, "content");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, ErrorKind::io);
    EXPECT_NE(status.error().message.find(path), std::string::npos) << status.error().message;
    EXPECT_NE(status.error().message.find("rename"), std::string::npos) << status.error().message;
    EXPECT_TRUE(others({"target"}).empty());
}

// A writer SIGKILLed between write and rename leaves its temp file (with the
// content, maybe a key); the next run removes it, not a live writer's.
TEST_F(AtomicFile, StaleTempFilesOfDeadWritersAreRemoved) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::_exit(0);
    }
    ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: the pid is gone
    const std::string dead = ".key.pem.tmp." + std::to_string(child) + ".Ab12Cd";
    const std::string live = ".key.pem.tmp." + std::to_string(::getppid()) + ".Ef34Gh";
    const std::string old = ".chain.pem.tmp." + std::to_string(::getppid()) + ".Ij56Kl";
    for (const auto& name : {dead, live, old, std::string("key.pem"), std::string(".hidden")}) {
        ASSERT_TRUE(core::write_file_atomic(dir_ + "/" + name, "x").ok());
    }
    fs::last_write_time(dir_ + "/" + old, fs::file_time_type::clock::now() - std::chrono::minutes(5));
    // Our own write's name has the same shape and keeps working.
    ASSERT_TRUE(core::write_file_atomic(dir_ + "/fresh.pem", "y").ok());

    EXPECT_EQ(core::remove_stale_temp_files(dir_), 2);
    auto left = others({});
    std::sort(left.begin(), left.end());
    std::vector<std::string> expected{live, ".hidden", "fresh.pem", "key.pem"};
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(left, expected);
    EXPECT_EQ(core::remove_stale_temp_files(dir_ + "/missing"), 0);
}

// What an unwritable folder must produce; "" when all holds.
std::string check_unwritable(const std::string& folder) {
    const std::string path = folder + "/file";
    const auto status = core::write_file_atomic(path, "content");
    if (status.ok()) {
        return "write succeeded";
    }
    if (status.error().kind != ErrorKind::io) {
        return "kind " + std::string(core::to_string(status.error().kind));
    }
    if (status.error().message.find(path) == std::string::npos ||
        status.error().message.find("Permission denied") == std::string::npos) {
        return "message: " + status.error().message;
    }
    return "";
}

TEST_F(AtomicFile, UnwritableFolderFailsCleanly) {
    const std::string locked = dir_ + "/locked";
    fs::create_directory(locked);
    std::string problem;
    if (::geteuid() != 0) {
        fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
        problem = check_unwritable(locked);
        fs::permissions(locked, fs::perms::owner_all);
    } else {
        // Root ignores folder permissions: try as "nobody" in a child process,
        // against root-owned folders that others may enter but not write.
        fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
        fs::permissions(locked, fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
        int out[2];
        ASSERT_EQ(::pipe(out), 0);
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(out[0]);
            std::string result = "could not drop privileges";
            if (::setgid(65534) == 0 && ::setuid(65534) == 0) {
                result = check_unwritable(locked);
            }
            (void)!::write(out[1], result.data(), result.size());
            ::_exit(0);
        }
        ::close(out[1]);
        char buffer[512];
        ssize_t n = 0;
        while ((n = ::read(out[0], buffer, sizeof buffer)) > 0) {
            problem.append(buffer, static_cast<std::size_t>(n));
        }
        ::close(out[0]);
        int wstatus = 0;
        ::waitpid(pid, &wstatus, 0);
    }
    EXPECT_EQ(problem, "");
    EXPECT_TRUE(fs::is_empty(locked));
}

TEST_F(AtomicFile, MissingFolderIsAnIoError) {
    const std::string path = dir_ + "/no/such/folder/file";
    const auto status = core::write_file_atomic(path, "content");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, ErrorKind::io);
    EXPECT_NE(status.error().message.find(path), std::string::npos) << status.error().message;
    EXPECT_NE(status.error().message.find("No such file or directory"), std::string::npos) << status.error().message;
}

TEST_F(AtomicFile, FailedWriteKeepsTheOldFileAndLeavesNoTemp) {
    const std::string path = dir_ + "/keep.pem";
    ASSERT_TRUE(core::write_file_atomic(path, "good").ok());
    // A file size limit makes write(2) fail with EFBIG (for root too).
    struct rlimit previous {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &previous), 0);
    struct rlimit small = previous;
    small.rlim_cur = 1024;
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
    const auto status = core::write_file_atomic(path, std::string(64 * 1024, 'b'));
    ::setrlimit(RLIMIT_FSIZE, &previous);
    std::signal(SIGXFSZ, old_handler);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, ErrorKind::io);
    EXPECT_NE(status.error().message.find(path), std::string::npos) << status.error().message;
    EXPECT_NE(status.error().message.find("File too large"), std::string::npos) << status.error().message;
    EXPECT_EQ(*core::read_file(path), "good");
    EXPECT_TRUE(others({"keep.pem"}).empty());
}

// In a child process where fsync(2) and fdatasync(2) fail with EIO (a
// seccomp filter): 0 when write_file_atomic(path, content, options) succeeded
// and left `content`, 1 when it failed, 2 when the filter could not be set.
int write_without_fsync(const std::string& path, const core::FileOptions& options) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        std::array<sock_filter, 6> code = {{
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fsync, 2, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_fdatasync, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EIO),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        }};
        sock_fprog program{static_cast<unsigned short>(code.size()), code.data()};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
            ::_exit(2);
        }
        const bool ok = core::write_file_atomic(path, "record", options).ok();
        const auto back = core::read_file(path);
        ::_exit(ok && back && *back == "record" ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
}

// A record written with durable = false makes no fsync (a run with nothing to
// do writes one; its fsyncs were most of its time on a busy disk), and stays
// atomic: no temp file is left. The default still fsyncs: the same write fails
// where fsync fails.
TEST_F(AtomicFile, NonDurableWriteMakesNoFsync) {
    const std::string path = dir_ + "/record.json";
    ASSERT_EQ(write_without_fsync(path, {.mode = 0600, .durable = false}), 0) << "the write failed where fsync fails";
    const auto back = core::read_file(path);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, "record");
    EXPECT_EQ(mode_of(path), 0600U);
    EXPECT_TRUE(others({"record.json"}).empty());
    EXPECT_EQ(write_without_fsync(dir_ + "/durable.json", {.mode = 0600}), 1) << "the durable write made no fsync";
}

TEST_F(AtomicFile, TrailingSlashIsRejected) {
    const auto status = core::write_file_atomic(dir_ + "/", "x");
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, ErrorKind::io);
    EXPECT_TRUE(others({}).empty());
}

TEST_F(AtomicFile, ReadFileErrors) {
    auto missing = core::read_file(dir_ + "/absent");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
    EXPECT_NE(missing.error().message.find(dir_ + "/absent"), std::string::npos);

    auto folder = core::read_file(dir_);
    ASSERT_FALSE(folder.ok());
    EXPECT_EQ(folder.error().kind, ErrorKind::io);
    EXPECT_NE(folder.error().message.find(dir_), std::string::npos);
}

}  // namespace
