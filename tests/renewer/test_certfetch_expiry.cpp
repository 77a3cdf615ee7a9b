// certfetch tells the host what it serves (docs/operations.md#web-hosts): the
// line that ends a run names the serial, notAfter and days left of the
// certificate nginx now reads, and one that expires within --warn-days is also
// a warning; the exit code does not change. Against the directory store.
#include <chrono>
#include <string>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "file_probe.hpp"
#include "renewer/certfetch.hpp"
#include "secrets/store.hpp"
#include "tests/secrets/bundle_fixtures.hpp"
#include "tests/secrets/temp_dir.hpp"

namespace {

namespace certfetch = renewer::certfetch;
using std::chrono::hours;

constexpr auto k_day = hours(24);

class CertfetchExpiry : public ::testing::Test {
protected:
    void SetUp() override {
        store_dir_ = root_ / "store";
        log_path_ = root_ / "log.txt";
        log_fd_ = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
        core::log::configure({core::log::Level::info, core::log::Format::text, log_fd_});
        store_ = secrets::make_store("dir:" + store_dir_).value();
    }
    void TearDown() override {
        core::log::configure({});
        ::close(log_fd_);
    }

    certfetch::Options options(int warn_days = 14) const {
        certfetch::Options o;
        o.store = "dir:" + store_dir_;
        o.out_dir = root_ / "out";
        o.warn_days = warn_days;
        o.now = now_;
        return o;
    }
    // A bundle stored as AWSCURRENT that expires `left` after now_.
    secrets::Bundle store_expiring_in(std::chrono::hours left) {
        auto bundle = test_bundles::make_valid_between(now_ - hours(1), now_ + left);
        EXPECT_TRUE(store_->put(bundle).ok());
        return bundle;
    }
    std::string log() const { return test_files::read(log_path_); }
    // Lines of the log that contain `needle`.
    int count(const std::string& needle) const {
        const auto text = log();
        int n = 0;
        for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
            ++n;
        }
        return n;
    }

    test_fs::TempDir root_;
    std::string store_dir_;
    std::string log_path_;
    int log_fd_ = -1;
    std::unique_ptr<secrets::Store> store_;
    // Whole seconds: certificate times have no fraction.
    core::SystemTime now_ = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
};

TEST_F(CertfetchExpiry, TheLastLineNamesSerialNotAfterAndDaysLeft) {
    const auto bundle = store_expiring_in(90 * k_day);
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    const auto text = log();
    EXPECT_NE(text.find("INFO certfetch: certificate written"), std::string::npos) << text;
    EXPECT_NE(text.find("serial=" + bundle.serial), std::string::npos) << text;
    EXPECT_NE(text.find("not_after=" + core::format_time(now_ + 90 * k_day)), std::string::npos) << text;
    EXPECT_NE(text.find("days_left=90"), std::string::npos) << text;
    EXPECT_EQ(count(" WARN "), 0) << text;
    // Unchanged: the same names, still no warning.
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(count("certificate unchanged"), 1) << log();
    EXPECT_EQ(count("serial=" + bundle.serial), 2) << log();
    EXPECT_EQ(count(" WARN "), 0) << log();
}

TEST_F(CertfetchExpiry, WithinWarnDaysIsAWarningAndStillExitZero) {
    const auto bundle = store_expiring_in(10 * k_day + hours(1));
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(count(" WARN "), 1) << log();
    EXPECT_NE(
        log().find("expires in 10 day(s), on " + core::format_time(now_ + 10 * k_day + hours(1)) + " (--warn-days 14)"),
        std::string::npos)
        << log();
    // Every run says it again while the certificate does not change.
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(count(" WARN "), 2) << log();
    EXPECT_EQ(count("WARN certfetch: the certificate served from " + (root_ / "out")), 2) << log();
    EXPECT_NE(log().find("serial=" + bundle.serial + " days_left=10"), std::string::npos) << log();
}

TEST_F(CertfetchExpiry, WarnDaysIsTheLimitAndZeroTurnsItOff) {
    store_expiring_in(10 * k_day + hours(1));
    ASSERT_EQ(certfetch::run(options(10)), 0) << log();
    EXPECT_EQ(count(" WARN "), 0) << log();  // 10 days left is not within 10
    ASSERT_EQ(certfetch::run(options(11)), 0) << log();
    EXPECT_EQ(count(" WARN "), 1) << log();
    ASSERT_EQ(certfetch::run(options(0)), 0) << log();
    EXPECT_EQ(count(" WARN "), 1) << log();
}

// Files on disk newer than the store's AWSPREVIOUS are kept: the line names
// them, and they are what the warning is about.
TEST_F(CertfetchExpiry, KeptFilesAreNamedToo) {
    store_expiring_in(2 * k_day);
    const auto good = store_expiring_in(5 * k_day);
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    auto broken = good;
    broken.private_key = test_bundles::make().private_key;
    ASSERT_TRUE(core::write_file_atomic(store_dir_ + "/bundle.json", secrets::to_json(broken)).ok());
    ASSERT_EQ(certfetch::run(options()), 0) << log();
    EXPECT_EQ(count("INFO certfetch: certificate kept"), 1) << log();
    EXPECT_NE(log().find("serial=" + good.serial + " not_after=" + core::format_time(now_ + 5 * k_day)),
              std::string::npos)
        << log();
    EXPECT_EQ(count("expires in 5 day(s)"), 2) << log();
}

}  // namespace
