// The directory store's PEM files as certfetch and nginx read them: one
// version folder per certificate behind one `live` link (core/live_files.hpp),
// flat files of older releases adopted (the crash matrix kills a put() at
// each step: tests/faults/dir_store_put.cpp).
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "core/atomic_file.hpp"
#include "core/live_files.hpp"
#include "file_probe.hpp"
#include "secrets/store.hpp"
#include "tests/secrets/bundle_fixtures.hpp"
#include "tests/secrets/temp_dir.hpp"

namespace {

using test_files::link_of;
using test_files::read;

TEST(CertfetchDirStore, PemFilesAreOneVersionSwitchedTogether) {
    test_fs::TempDir root;
    const std::string dir = root / "store";
    auto store = secrets::make_store("dir:" + dir).value();
    for (int i = 1; i <= 3; ++i) {
        const auto bundle = test_bundles::make();
        ASSERT_TRUE(store->put(bundle).ok());
        EXPECT_EQ(link_of(dir + "/live"), ".v-" + std::to_string(i));
        for (const char* name : {"fullchain.pem", "privkey.pem", "chain.pem"}) {
            EXPECT_EQ(link_of(dir + "/" + name), std::string("live/") + name);
        }
        EXPECT_EQ(read(dir + "/privkey.pem"), bundle.private_key);
        EXPECT_EQ(read(dir + "/fullchain.pem"), bundle.certificate);
        EXPECT_EQ(test_fs::mode_of(dir + "/privkey.pem"), 0600U);
        auto got = store->get();
        ASSERT_TRUE(got.ok() && got->has_value());
        EXPECT_EQ((*got)->serial, bundle.serial);
    }
    EXPECT_EQ(link_of(dir + "/previous"), ".v-2");
    EXPECT_FALSE(std::filesystem::exists(dir + "/.v-1"));
}

// A folder certbot or an older release filled: the PEM files are the current
// version (get() reads them; put() keeps them as the previous one).
TEST(CertfetchDirStore, FlatPemFilesAreReadAndAdopted) {
    test_fs::TempDir root;
    const std::string dir = root / "store";
    std::filesystem::create_directories(dir);
    const auto old = test_bundles::make();
    ASSERT_TRUE(core::write_file_atomic(dir + "/fullchain.pem", old.certificate).ok());
    ASSERT_TRUE(core::write_file_atomic(dir + "/privkey.pem", old.private_key, {0600, {}, {}}).ok());
    auto store = secrets::make_store("dir:" + dir).value();
    auto got = store->get();
    ASSERT_TRUE(got.ok() && got->has_value()) << (got.ok() ? "none" : got.error().message);
    EXPECT_EQ((*got)->serial, old.serial);
    const auto next = test_bundles::make();
    ASSERT_TRUE(store->put(next).ok());
    EXPECT_EQ(read(dir + "/fullchain.pem"), next.certificate);
    EXPECT_EQ(read(dir + "/previous/fullchain.pem"), old.certificate);
    auto previous = store->get(secrets::Stage::previous);
    ASSERT_TRUE(previous.ok() && previous->has_value());
    EXPECT_EQ((*previous)->serial, old.serial);
}

}  // namespace
