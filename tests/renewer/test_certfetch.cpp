// certfetch::run against the directory store (the --store dir:/path source):
// files and modes, unchanged -> untouched and no reload, changed -> one
// reload, fallback to the previous version, both bad -> exit 1 with the old
// files byte for byte. The Secrets Manager path is tests/renewer/test_certfetch_e2e.py.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "file_probe.hpp"
#include "renewer/certfetch.hpp"
#include "secrets/store.hpp"
#include "tests/secrets/bundle_fixtures.hpp"
#include "tests/secrets/temp_dir.hpp"

namespace {

using test_files::link_of;
using test_files::read;

namespace certfetch = renewer::certfetch;
using std::chrono::hours;
using std::chrono::system_clock;

timespec mtime_of(const std::string& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mtim;
}

// Sets a file's mtime an hour back, so "untouched" is visible even within one second.
void age(const std::string& path) {
    timespec times[2];
    times[0].tv_sec = ::time(nullptr) - 3600;
    times[0].tv_nsec = 0;
    times[1] = times[0];
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

int lines_in(const std::string& path) {
    std::ifstream in(path);
    int n = 0;
    std::string line;
    while (std::getline(in, line)) {
        ++n;
    }
    return n;
}

class CertfetchRun : public ::testing::Test {
protected:
    void SetUp() override {
        store_dir_ = root_ / "store";
        out_ = root_ / "out";
        log_path_ = root_ / "log.txt";
        log_fd_ = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
        core::log::configure({core::log::Level::info, core::log::Format::text, log_fd_});
        store_ = secrets::make_store("dir:" + store_dir_).value();
    }
    void TearDown() override {
        core::log::configure({});
        ::close(log_fd_);
    }

    certfetch::Options options() const {
        certfetch::Options o;
        o.store = "dir:" + store_dir_;
        o.out_dir = out_;
        o.reload = "echo reloaded >> '" + (root_ / "reloads") + "'";
        return o;
    }
    std::string log() const { return read(log_path_); }
    int reloads() const { return lines_in(root_ / "reloads"); }

    test_fs::TempDir root_;
    std::string store_dir_;
    std::string out_;
    std::string log_path_;
    int log_fd_ = -1;
    std::unique_ptr<secrets::Store> store_;
};

// Lower-case suite name on purpose: CTest names are "<suite>.<test>", and
// `ctest -R certfetch` is how this component's tests are selected.
using CertfetchRun = CertfetchRun;

TEST_F(CertfetchRun, WritesTheThreeFilesWithModes) {
    const auto bundle = test_bundles::make();
    ASSERT_TRUE(store_->put(bundle).ok());
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(read(out_ + "/fullchain.pem"), bundle.certificate);
    EXPECT_EQ(read(out_ + "/privkey.pem"), bundle.private_key);
    EXPECT_EQ(read(out_ + "/chain.pem"), bundle.chain);
    EXPECT_EQ(test_fs::mode_of(out_ + "/fullchain.pem"), 0644U);
    EXPECT_EQ(test_fs::mode_of(out_ + "/chain.pem"), 0644U);
    EXPECT_EQ(test_fs::mode_of(out_ + "/privkey.pem"), 0600U);
    EXPECT_EQ(test_fs::names_in(out_), (std::vector<std::string>{".certfetch.lock", ".v-1", "chain.pem",
                                                                 "fullchain.pem", "live", "privkey.pem"}));
    EXPECT_EQ(reloads(), 1);
    EXPECT_EQ(log().find("PRIVATE KEY"), std::string::npos);
}

TEST_F(CertfetchRun, UnchangedLeavesFilesAndSkipsTheReload) {
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    for (const char* f : {"/fullchain.pem", "/privkey.pem", "/chain.pem"}) {
        age(out_ + f);
    }
    const auto before = mtime_of(out_ + "/privkey.pem");
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    const auto after = mtime_of(out_ + "/privkey.pem");
    EXPECT_EQ(before.tv_sec, after.tv_sec);
    EXPECT_EQ(before.tv_nsec, after.tv_nsec);
    EXPECT_EQ(reloads(), 1);
    EXPECT_NE(log().find("unchanged"), std::string::npos);
}

TEST_F(CertfetchRun, ChangedCertificateReloadsOnce) {
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    ASSERT_EQ(certfetch::run(options()), 0);
    const auto next = test_bundles::make();
    ASSERT_TRUE(store_->put(next).ok());
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(read(out_ + "/fullchain.pem"), next.certificate);
    EXPECT_EQ(reloads(), 2);
}

TEST_F(CertfetchRun, KeyModeAndGroup) {
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    auto o = options();
    o.key_mode = 0640;
    o.group = ::getgid();
    ASSERT_EQ(certfetch::run(o), 0) << log();
    EXPECT_EQ(test_fs::mode_of(out_ + "/privkey.pem"), 0640U);
    // A later run with another mode fixes it in place, without a reload.
    o.key_mode = 0600;
    ASSERT_EQ(certfetch::run(o), 0) << log();
    EXPECT_EQ(test_fs::mode_of(out_ + "/privkey.pem"), 0600U);
    EXPECT_EQ(reloads(), 1);
}

TEST_F(CertfetchRun, CorruptCurrentFallsBackToPrevious) {
    const auto previous = test_bundles::make();
    ASSERT_TRUE(store_->put(previous).ok());
    auto current = test_bundles::make();
    current.private_key = test_bundles::make().private_key;  // key of another certificate
    ASSERT_TRUE(store_->put(current).ok());
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(read(out_ + "/fullchain.pem"), previous.certificate);
    const auto text = log();
    EXPECT_NE(text.find("AWSCURRENT"), std::string::npos) << text;
    EXPECT_NE(text.find("private_key does not match"), std::string::npos) << text;
    EXPECT_NE(text.find("falling back to AWSPREVIOUS"), std::string::npos) << text;
}

TEST_F(CertfetchRun, MissingExpectedNameFallsBack) {
    const auto previous = test_bundles::make({"www.example.com"});
    ASSERT_TRUE(store_->put(previous).ok());
    ASSERT_TRUE(store_->put(test_bundles::make({"other.example"})).ok());
    auto o = options();
    o.expect_name = "www.example.com";
    ASSERT_EQ(certfetch::run(o), 0) << log();
    EXPECT_EQ(read(out_ + "/fullchain.pem"), previous.certificate);
    EXPECT_NE(log().find("does not cover www.example.com"), std::string::npos) << log();
}

TEST_F(CertfetchRun, BothBadExitsOneAndKeepsOldFiles) {
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    ASSERT_EQ(certfetch::run(options()), 0);
    std::map<std::string, std::string> before;
    for (const char* f : {"fullchain.pem", "privkey.pem", "chain.pem"}) {
        before[f] = read(out_ + "/" + f);
        age(out_ + "/" + f);
    }
    const auto mtime = mtime_of(out_ + "/fullchain.pem");
    const auto now = system_clock::now();
    // previous: expired; current: unparsable.
    ASSERT_TRUE(store_->put(test_bundles::make_valid_between(now - hours(48), now - hours(1))).ok());
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    ASSERT_TRUE(core::write_file_atomic(store_dir_ + "/bundle.json", "{not json").ok());
    ASSERT_EQ(certfetch::run(options()), 1);
    for (const auto& [name, content] : before) {
        EXPECT_EQ(read(out_ + "/" + name), content) << name;
    }
    EXPECT_EQ(mtime_of(out_ + "/fullchain.pem").tv_sec, mtime.tv_sec);
    EXPECT_EQ(test_fs::names_in(out_).size(), 6U);  // no temp files, no new version
    EXPECT_EQ(reloads(), 1);
    const auto text = log();
    EXPECT_NE(text.find("no usable certificate"), std::string::npos) << text;
    EXPECT_NE(text.find("expired"), std::string::npos) << text;
}

TEST_F(CertfetchRun, NewerFilesOnDiskBeatAnOlderPrevious) {
    const auto now = system_clock::now();
    ASSERT_TRUE(store_->put(test_bundles::make_valid_between(now - hours(2), now + hours(24))).ok());
    const auto good = test_bundles::make();  // valid for 90 days
    ASSERT_TRUE(store_->put(good).ok());
    ASSERT_EQ(certfetch::run(options()), 0);
    auto broken = good;
    broken.private_key = test_bundles::make().private_key;
    ASSERT_TRUE(core::write_file_atomic(store_dir_ + "/bundle.json", secrets::to_json(broken)).ok());
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(read(out_ + "/fullchain.pem"), good.certificate);
    EXPECT_EQ(reloads(), 1);
}

TEST_F(CertfetchRun, FailedReloadIsRetriedByTheNextRun) {
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    auto o = options();
    const auto flag = root_ / "reload-works";
    o.reload = "test -e '" + flag + "' && echo reloaded >> '" + (root_ / "reloads") + "'";
    EXPECT_EQ(certfetch::run(o), certfetch::k_exit_reload_failed);
    EXPECT_NE(log().find("reload command exited with status 1"), std::string::npos) << log();
    ASSERT_TRUE(core::write_file_atomic(flag, "").ok());
    EXPECT_EQ(certfetch::run(o), 0) << log();
    EXPECT_EQ(reloads(), 1);
    EXPECT_EQ(certfetch::run(o), 0);
    EXPECT_EQ(reloads(), 1);  // owed once, paid once
}

TEST_F(CertfetchRun, HungReloadIsStoppedAfterTheTimeoutAndRetriedByTheNextRun) {
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    auto o = options();
    const auto flag = root_ / "reload-works";
    o.reload = "test -e '" + flag + "' || exec sleep 60; echo reloaded >> '" + (root_ / "reloads") + "'";
    o.reload_timeout = std::chrono::seconds(1);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(certfetch::run(o), certfetch::k_exit_reload_failed);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
    EXPECT_NE(log().find("did not finish within 1 s"), std::string::npos) << log();
    ASSERT_TRUE(core::write_file_atomic(flag, "").ok());
    EXPECT_EQ(certfetch::run(o), 0) << log();
    EXPECT_EQ(reloads(), 1);  // the reload still owed was paid
}

TEST_F(CertfetchRun, ReloadGetsPathsNotTheKey) {
    const auto bundle = test_bundles::make();
    ASSERT_TRUE(store_->put(bundle).ok());
    auto o = options();
    o.reload = "env > '" + (root_ / "env") + "'; echo \"$0 $*\" > '" + (root_ / "argv") + "'";
    ASSERT_EQ(certfetch::run(o), 0) << log();
    const auto env = read(root_ / "env");
    EXPECT_NE(env.find("CERTFETCH_PRIVKEY=" + out_ + "/privkey.pem"), std::string::npos);
    EXPECT_EQ(env.find("PRIVATE KEY"), std::string::npos);
    EXPECT_EQ(read(root_ / "argv").find("PRIVATE KEY"), std::string::npos);
}

// What certfetch writes for `text`: a PEM file ends with a newline.
std::string nl(std::string text) {
    if (!text.empty() && text.back() != '\n') {
        text.push_back('\n');
    }
    return text;
}

// The files nginx reads are links into one version folder; a new certificate
// is a new folder and one switch of `live`; the one before stays as
// `previous`, older ones go (core/live_files.hpp).
TEST_F(CertfetchRun, EachCertificateIsAVersionSwitchedInOneStep) {
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    for (const char* name : {"fullchain.pem", "privkey.pem", "chain.pem"}) {
        EXPECT_EQ(link_of(out_ + "/" + name), std::string("live/") + name);
    }
    EXPECT_EQ(link_of(out_ + "/live"), ".v-1");
    for (int i = 2; i <= 3; ++i) {
        const auto next = test_bundles::make();
        ASSERT_TRUE(store_->put(next).ok());
        ASSERT_EQ(certfetch::run(options()), 0) << log();
        EXPECT_EQ(link_of(out_ + "/live"), ".v-" + std::to_string(i));
        EXPECT_EQ(link_of(out_ + "/previous"), ".v-" + std::to_string(i - 1));
        EXPECT_EQ(read(out_ + "/live/fullchain.pem"), next.certificate);
        EXPECT_EQ(read(out_ + "/privkey.pem"), next.private_key);
    }
    EXPECT_FALSE(std::filesystem::exists(out_ + "/.v-1"));
    EXPECT_EQ(test_fs::mode_of(out_ + "/live/privkey.pem"), 0600U);
    EXPECT_EQ(reloads(), 3);
}

// Flat files of an older release: the same content becomes a version without
// a reload; paths configured before keep working.
TEST_F(CertfetchRun, FlatFilesOfAnOlderReleaseAreAdoptedWithoutAReload) {
    const auto bundle = test_bundles::make();
    ASSERT_TRUE(store_->put(bundle).ok());
    std::filesystem::create_directories(out_);
    ASSERT_TRUE(core::write_file_atomic(out_ + "/fullchain.pem", nl(bundle.certificate)).ok());
    ASSERT_TRUE(core::write_file_atomic(out_ + "/privkey.pem", nl(bundle.private_key), {0600, {}, {}}).ok());
    ASSERT_TRUE(core::write_file_atomic(out_ + "/chain.pem", nl(bundle.chain)).ok());
    // A temp file an older release left when it was killed (it may hold a key).
    ASSERT_TRUE(core::write_file_atomic(out_ + "/.privkey.pem.certfetch-Ab12Cd", "key").ok());
    const auto before = read(out_ + "/fullchain.pem");
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(reloads(), 0);
    EXPECT_EQ(link_of(out_ + "/fullchain.pem"), "live/fullchain.pem");
    EXPECT_EQ(read(out_ + "/fullchain.pem"), before);
    EXPECT_EQ(test_fs::mode_of(out_ + "/privkey.pem"), 0600U);
    EXPECT_FALSE(std::filesystem::exists(out_ + "/.privkey.pem.certfetch-Ab12Cd"));
    EXPECT_NE(log().find("moved the files under"), std::string::npos) << log();
}

// A fresh host at boot: nothing on disk and a store it cannot read yet
// (here bundle.json is a folder: EISDIR, an I/O error like a network one).
// certfetch retries with backoff until the store answers, within --retry-for.
TEST_F(CertfetchRun, BootWithoutFilesRetriesAnUnreadableStore) {
    const auto bundle = test_bundles::make();
    std::filesystem::create_directories(store_dir_ + "/bundle.json");
    std::thread fixer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        std::filesystem::remove_all(store_dir_ + "/bundle.json");
        ASSERT_TRUE(core::write_file_atomic(store_dir_ + "/bundle.json", secrets::to_json(bundle)).ok());
    });
    auto o = options();
    o.retry_for = std::chrono::seconds(30);
    const auto started = std::chrono::steady_clock::now();
    const int rc = certfetch::run(o);
    const auto took = std::chrono::steady_clock::now() - started;
    fixer.join();
    EXPECT_EQ(rc, 0) << log();
    EXPECT_GE(took, std::chrono::milliseconds(1400));
    EXPECT_LT(took, std::chrono::seconds(25));
    EXPECT_EQ(read(out_ + "/fullchain.pem"), nl(bundle.certificate));
    EXPECT_NE(log().find("yet, retrying (--retry-for 30 s)"), std::string::npos) << log();
}

TEST_F(CertfetchRun, RetryIsBoundedAndSkippedWhenValidFilesAreOnDisk) {
    std::filesystem::create_directories(store_dir_ + "/bundle.json");
    auto o = options();
    o.retry_for = std::chrono::seconds(2);
    auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(certfetch::run(o), 1);
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_GE(took, std::chrono::milliseconds(1900));
    EXPECT_LT(took, std::chrono::seconds(10));

    // With a valid certificate on disk the old files are served: one attempt.
    std::filesystem::remove_all(store_dir_ + "/bundle.json");
    ASSERT_TRUE(store_->put(test_bundles::make()).ok());
    ASSERT_EQ(certfetch::run(o), 0) << log();
    std::filesystem::remove_all(store_dir_ + "/bundle.json");
    std::filesystem::create_directories(store_dir_ + "/bundle.json");
    o.retry_for = std::chrono::seconds(60);
    started = std::chrono::steady_clock::now();
    EXPECT_EQ(certfetch::run(o), 1);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST_F(CertfetchRun, NothingStoredIsAFailure) {
    EXPECT_EQ(certfetch::run(options()), 1);
    EXPECT_NE(log().find("not found: dir:" + store_dir_ + " holds no certificate"), std::string::npos) << log();
    EXPECT_EQ(log().find("AWSCURRENT"), std::string::npos) << log();
    EXPECT_FALSE(std::filesystem::exists(out_ + "/privkey.pem"));
}

TEST_F(CertfetchRun, BadOptionsAreExitTwo) {
    auto o = options();
    o.out_dir.clear();
    EXPECT_EQ(certfetch::run(o), 2);
    o = options();
    o.secret_id = "also";
    EXPECT_EQ(certfetch::run(o), 2);
    o = options();
    o.store = "ftp:/x";
    EXPECT_EQ(certfetch::run(o), 2);
}

}  // namespace
