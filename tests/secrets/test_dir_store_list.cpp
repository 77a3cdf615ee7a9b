// secrets::Store::list / open on the directory store (docs/customer-domains.md):
// the bundle folders directly inside the store's folder, sorted, never the
// live/ link, dot-folders or folders without a bundle.
#include <filesystem>

#include <gtest/gtest.h>

#include "core/atomic_file.hpp"
#include "secrets/store.hpp"
#include "tests/secrets/bundle_fixtures.hpp"
#include "tests/secrets/dir_store_fixture.hpp"
#include "tests/secrets/temp_dir.hpp"

namespace {

using test_fs::dir_store;

std::vector<std::string> names(const std::vector<secrets::Listing>& listed) {
    std::vector<std::string> out;
    for (const auto& entry : listed) {
        out.push_back(entry.name);
    }
    return out;
}

TEST(DirStoreList, BundleFoldersOnlySortedWithSpecs) {
    test_fs::TempDir dir;
    const auto root = dir.path();
    const auto shop = test_bundles::make({"shop.example.com"});
    ASSERT_TRUE(dir_store(root + "/shop.example.com")->put(shop));
    // A certbot-style folder: the PEM pair, no bundle.json.
    std::filesystem::create_directories(root + "/blog.example.com");
    const auto blog = test_bundles::make({"blog.example.com"});
    ASSERT_TRUE(core::write_file_atomic(root + "/blog.example.com/fullchain.pem", blog.certificate, {}));
    ASSERT_TRUE(core::write_file_atomic(root + "/blog.example.com/privkey.pem", blog.private_key, {}));
    // Not bundles: an empty folder, a dot-folder, a link to a bundle folder, a file.
    std::filesystem::create_directories(root + "/empty.example.com");
    std::filesystem::create_directories(root + "/.v-1");
    ASSERT_TRUE(core::write_file_atomic(root + "/.v-1/bundle.json", "{}", {}));
    std::filesystem::create_directory_symlink(root + "/shop.example.com", root + "/link.example.com");
    ASSERT_TRUE(core::write_file_atomic(root + "/account.json", "{}", {}));

    auto all = dir_store(root)->list("");
    ASSERT_TRUE(all) << all.error().message;
    EXPECT_EQ(names(*all), (std::vector<std::string>{"blog.example.com", "shop.example.com"}));
    EXPECT_EQ(all->back().spec, "dir:" + root + "/shop.example.com");

    auto some = dir_store(root)->list("sh");
    ASSERT_TRUE(some);
    EXPECT_EQ(names(*some), std::vector<std::string>{"shop.example.com"});

    auto location = dir_store(root);
    for (const auto& [name, serial] : {std::pair{"shop.example.com", shop.serial}, {"blog.example.com", blog.serial}}) {
        auto opened = location->open(name);
        ASSERT_TRUE(opened);
        auto got = (*opened)->get();
        ASSERT_TRUE(got && *got) << name;
        EXPECT_EQ((*got)->serial, serial) << name;
    }
}

TEST(DirStoreList, MissingFolderIsNotFound) {
    test_fs::TempDir dir;
    auto listed = dir_store(dir.path() + "/nope")->list("");
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.error().kind, core::ErrorKind::not_found);
    EXPECT_NE(listed.error().message.find(dir.path() + "/nope"), std::string::npos) << listed.error().message;
}

}  // namespace
