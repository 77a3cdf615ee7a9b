// secrets::make_dir_store: files and modes, versions, atomicity, the account
// file and the lease (its Locker); plus make_store's scheme table.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/atomic_file.hpp"
#include "secrets/store.hpp"
#include "tests/secrets/bundle_fixtures.hpp"
#include "tests/secrets/dir_store_fixture.hpp"
#include "tests/secrets/temp_dir.hpp"

namespace {

using std::chrono::seconds;

using test_fs::dir_store;

// The lease guarding the directory store at `path`.
std::unique_ptr<secrets::Locker> dir_locker(const std::string& path) {
    auto opened = secrets::make_store_with_locker("dir:" + path);
    if (!opened) {
        throw std::runtime_error(opened.error().message);
    }
    return std::move(opened->locker);
}

std::string read(const std::string& path) {
    auto text = core::read_file(path);
    return text ? *text : std::string("<missing>");
}

TEST(MakeStore, SchemeTable) {
    EXPECT_TRUE(secrets::make_store("dir:/tmp/x").ok());
    EXPECT_EQ(secrets::make_store("dir:/tmp/x").value()->describe(), "dir:/tmp/x");
    EXPECT_EQ(secrets::make_store("aws-sm:prod/example").value()->describe(), "aws-sm:prod/example");
    EXPECT_EQ(secrets::make_store("secretsmanager:prod/example").value()->describe(), "aws-sm:prod/example");
    for (const char* bad : {"nothing", "s3:bucket", "dir:", "aws-sm:"}) {
        auto store = secrets::make_store(bad);
        ASSERT_FALSE(store.ok()) << bad;
        EXPECT_EQ(store.error().kind, core::ErrorKind::invalid_input);
    }
    EXPECT_NE(secrets::make_store("s3:bucket").error().message.find("aws-sm:..."), std::string::npos);
}

TEST(MakeStore, WithLockerGivesBothForTheSameTarget) {
    for (const char* spec : {"dir:/tmp/x", "aws-sm:prod/example", "secretsmanager:prod/example"}) {
        auto opened = secrets::make_store_with_locker(spec);
        ASSERT_TRUE(opened.ok()) << spec;
        ASSERT_TRUE(opened->store && opened->locker) << spec;
        EXPECT_EQ(opened->locker->describe(), opened->store->describe()) << spec;
    }
    auto bad = secrets::make_store_with_locker("s3:bucket");
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().kind, core::ErrorKind::invalid_input);
}

TEST(DirStore, EmptyFolderHasNothing) {
    test_fs::TempDir dir;
    auto store = dir_store(dir / "missing");
    auto got = store->get();
    ASSERT_TRUE(got.ok()) << got.error().message;
    EXPECT_FALSE(got->has_value());
    EXPECT_FALSE(store->get(secrets::Stage::previous)->has_value());
    EXPECT_FALSE(store->get_account()->has_value());
}

TEST(DirStore, PutWritesFilesWithModesAtomically) {
    test_fs::TempDir dir;
    auto store = dir_store(dir / "example");
    const auto bundle = test_bundles::make();
    ASSERT_TRUE(store->put(bundle).ok());
    const auto folder = dir / "example";
    EXPECT_EQ(read(folder + "/fullchain.pem"), bundle.certificate);
    EXPECT_EQ(read(folder + "/privkey.pem"), bundle.private_key);
    EXPECT_EQ(read(folder + "/chain.pem"), bundle.chain);
    EXPECT_EQ(test_fs::mode_of(folder + "/privkey.pem"), 0600U);
    EXPECT_EQ(test_fs::mode_of(folder + "/bundle.json"), 0600U);
    EXPECT_EQ(test_fs::mode_of(folder + "/fullchain.pem"), 0644U);
    EXPECT_EQ(test_fs::mode_of(folder + "/chain.pem"), 0644U);
    // No temp files left behind; the PEM files are links into one version (core/live_files.hpp).
    EXPECT_EQ(test_fs::names_in(folder),
              (std::vector<std::string>{".v-1", "bundle.json", "chain.pem", "fullchain.pem", "live", "privkey.pem"}));
    auto got = store->get();
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ(**got, bundle);
}

TEST(DirStore, KeepsThePreviousVersion) {
    test_fs::TempDir dir;
    auto store = dir_store(dir.path());
    const auto first = test_bundles::make();
    const auto second = test_bundles::make();
    ASSERT_TRUE(store->put(first).ok());
    ASSERT_TRUE(store->put(second).ok());
    EXPECT_EQ(**store->get(), second);
    EXPECT_EQ(**store->get(secrets::Stage::previous), first);
    EXPECT_EQ(test_fs::mode_of(dir / "bundle.previous.json"), 0600U);
    // Re-putting the current bundle (a retry after a crash) does not rotate.
    ASSERT_TRUE(store->put(second).ok());
    EXPECT_EQ(**store->get(secrets::Stage::previous), first);
}

TEST(DirStore, ReconstructsFromPemFilesAlone) {
    test_fs::TempDir dir;
    const auto bundle = test_bundles::make();
    ASSERT_TRUE(core::write_file_atomic(dir / "fullchain.pem", bundle.certificate).ok());
    ASSERT_TRUE(core::write_file_atomic(dir / "privkey.pem", bundle.private_key, {0600, {}, {}}).ok());
    auto store = dir_store(dir.path());
    auto got = store->get();
    ASSERT_TRUE(got.ok()) << got.error().message;
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->serial, bundle.serial);
    EXPECT_EQ((*got)->domains, bundle.domains);
    EXPECT_TRUE(secrets::verify_bundle(**got).ok());
    // The first put keeps that certbot-style version as the previous one.
    ASSERT_TRUE(store->put(test_bundles::make()).ok());
    EXPECT_EQ((*store->get(secrets::Stage::previous))->serial, bundle.serial);
}

TEST(DirStore, CorruptBundleIsAnErrorNamingTheFile) {
    test_fs::TempDir dir;
    ASSERT_TRUE(core::write_file_atomic(dir / "bundle.json", "{\"certificate\": 1}").ok());
    auto got = dir_store(dir.path())->get();
    ASSERT_FALSE(got.ok());
    EXPECT_NE(got.error().message.find("bundle.json"), std::string::npos);
    EXPECT_NE(got.error().message.find("\"certificate\""), std::string::npos);
}

TEST(DirStore, AccountFile) {
    test_fs::TempDir dir;
    auto store = dir_store(dir.path());
    ASSERT_TRUE(store->put_account(R"({"url":"https://ca/acct/1"})").ok());
    EXPECT_EQ(**store->get_account(), R"({"url":"https://ca/acct/1"})");
    EXPECT_EQ(test_fs::mode_of(dir / "account.json"), 0600U);
    secrets::StoreConfig config;
    config.account = dir / "shared/acme-account.json";
    auto other = secrets::make_dir_store(dir / "cert2", config).value();
    ASSERT_TRUE(other->put_account("{}").ok());
    EXPECT_EQ(read(dir / "shared/acme-account.json"), "{}");
}

TEST(DirStore, LockIsExclusiveUntilReleased) {
    test_fs::TempDir dir;
    auto a = dir_locker(dir.path());
    auto b = dir_locker(dir.path());
    auto lease = a->try_acquire("run-a", seconds(600));
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    EXPECT_EQ(lease->owner, "run-a");
    auto second = b->try_acquire("run-b", seconds(600));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().kind, core::ErrorKind::conflict);
    EXPECT_NE(second.error().message.find("run-a"), std::string::npos);
    // A stale lease object (not the holder's token) frees nothing.
    secrets::Lease stranger{"run-b", "00", lease->expires_at};
    ASSERT_TRUE(b->release(stranger).ok());
    EXPECT_FALSE(b->try_acquire("run-b", seconds(600)).ok());
    ASSERT_TRUE(a->release(*lease).ok());
    auto third = b->try_acquire("run-b", seconds(600));
    EXPECT_TRUE(third.ok());
    EXPECT_EQ(test_fs::mode_of(dir / ".renewer.lock"), 0600U);
}

TEST(DirStore, ExpiredLeaseCanBeTaken) {
    test_fs::TempDir dir;
    auto a = dir_locker(dir.path());
    auto lease = a->try_acquire("run-a", seconds(0));  // expires at once
    ASSERT_TRUE(lease.ok());
    auto b = dir_locker(dir.path());
    auto taken = b->try_acquire("run-b", seconds(600));
    ASSERT_TRUE(taken.ok()) << taken.error().message;
    // The old holder's release does not free the new holder's lease.
    ASSERT_TRUE(a->release(*lease).ok());
    EXPECT_FALSE(a->try_acquire("run-a", seconds(600)).ok());
}

TEST(DirStore, RenewExtendsOnlyOurLease) {
    test_fs::TempDir dir;
    auto a = dir_locker(dir.path());
    auto lease = a->try_acquire("run-a", seconds(0));
    ASSERT_TRUE(lease.ok());
    auto renewed = a->renew(*lease, seconds(600));
    ASSERT_TRUE(renewed.ok()) << renewed.error().message;
    EXPECT_GT(renewed->expires_at, lease->expires_at);
    EXPECT_EQ(renewed->token, lease->token);
    EXPECT_FALSE(dir_locker(dir.path())->try_acquire("run-b", seconds(600)).ok());
    // Once it expired and another run took it, renewing is a conflict.
    ASSERT_TRUE(a->renew(*lease, seconds(0)).ok());
    ASSERT_TRUE(dir_locker(dir.path())->try_acquire("run-b", seconds(600)).ok());
    auto lost = a->renew(*lease, seconds(600));
    ASSERT_FALSE(lost.ok());
    EXPECT_EQ(lost.error().kind, core::ErrorKind::conflict);
    EXPECT_NE(lost.error().message.find("run-b"), std::string::npos) << lost.error().message;
}

TEST(DirStore, LeaseOfADeadProcessIsFree) {
    test_fs::TempDir dir;
    // A child takes the lease for an hour and dies without releasing it (SIGKILL-like).
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        auto opened = secrets::make_store_with_locker("dir:" + dir.path());
        const bool ok = opened.ok() && opened->locker->try_acquire("crashed-run", seconds(3600)).ok();
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto lease = dir_locker(dir.path())->try_acquire("next-run", seconds(600));
    EXPECT_TRUE(lease.ok()) << lease.error().message;
}

TEST(DirStore, ConcurrentAcquireHasOneWinner) {
    test_fs::TempDir dir;
    constexpr int k_threads = 8;
    std::atomic<int> winners{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < k_threads; ++i) {
        threads.emplace_back([&, i] {
            auto locker = dir_locker(dir.path());
            if (locker->try_acquire("t" + std::to_string(i), seconds(600)).ok()) {
                ++winners;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(winners.load(), 1);
}

}  // namespace
