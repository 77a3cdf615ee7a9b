// secrets::Spool: an issued bundle that could not be stored waits here.
#include <cstdlib>

#include <gtest/gtest.h>

#include "secrets/spool.hpp"
#include "tests/secrets/bundle_fixtures.hpp"
#include "tests/secrets/temp_dir.hpp"

namespace {

TEST(Spool, PutTakeRemove) {
    test_fs::TempDir dir;
    secrets::Spool spool(dir / "spool");
    auto none = spool.take("example.com");
    ASSERT_TRUE(none.ok());
    EXPECT_FALSE(none->has_value());
    EXPECT_TRUE(spool.list()->empty());

    const auto bundle = test_bundles::make();
    ASSERT_TRUE(spool.put("example.com", bundle).ok());
    EXPECT_EQ(test_fs::mode_of(dir / "spool"), 0700U);
    EXPECT_EQ(test_fs::mode_of(spool.path_for("example.com")), 0600U);
    EXPECT_EQ(test_fs::names_in(dir / "spool"), (std::vector<std::string>{"example.com.bundle.json"}));

    // take() leaves it in place until remove(): a crash in between loses nothing.
    for (int i = 0; i < 2; ++i) {
        auto got = spool.take("example.com");
        ASSERT_TRUE(got.ok()) << got.error().message;
        ASSERT_TRUE(got->has_value());
        EXPECT_EQ(**got, bundle);
    }
    EXPECT_EQ(*spool.list(), (std::vector<std::string>{"example.com"}));
    ASSERT_TRUE(spool.remove("example.com").ok());
    EXPECT_FALSE(spool.take("example.com")->has_value());
    EXPECT_TRUE(spool.remove("example.com").ok());  // idempotent
}

TEST(Spool, NamesThatAreNotFileNames) {
    test_fs::TempDir dir;
    secrets::Spool spool(dir.path());
    const auto a = test_bundles::make();
    const auto b = test_bundles::make();
    ASSERT_TRUE(spool.put("*.example.com", a).ok());
    ASSERT_TRUE(spool.put("_.example.com", b).ok());
    ASSERT_TRUE(spool.put("../escape", a).ok());
    EXPECT_EQ(**spool.take("*.example.com"), a);
    EXPECT_EQ(**spool.take("_.example.com"), b);
    EXPECT_EQ(*spool.list(), (std::vector<std::string>{"*.example.com", "../escape", "_.example.com"}));
    for (const auto& name : test_fs::names_in(dir.path())) {
        EXPECT_EQ(name.find('/'), std::string::npos);
    }
}

TEST(Spool, ReplacesAnOlderBundle) {
    test_fs::TempDir dir;
    secrets::Spool spool(dir.path());
    ASSERT_TRUE(spool.put("c", test_bundles::make()).ok());
    const auto newer = test_bundles::make();
    ASSERT_TRUE(spool.put("c", newer).ok());
    EXPECT_EQ(**spool.take("c"), newer);
    EXPECT_EQ(test_fs::names_in(dir.path()).size(), 1U);  // no temp files
}

TEST(Spool, DefaultDirFollowsTheEnvironment) {
    ::setenv("RENEWER_SPOOL_DIR", "/x/spool", 1);
    EXPECT_EQ(secrets::Spool::default_dir(), "/x/spool");
    ::unsetenv("RENEWER_SPOOL_DIR");
    ::setenv("STATE_DIRECTORY", "/var/lib/renewer:/other", 1);
    EXPECT_EQ(secrets::Spool::default_dir(), "/var/lib/renewer/spool");
    ::unsetenv("STATE_DIRECTORY");
    ::setenv("XDG_STATE_HOME", "/home/u/.state", 1);
    EXPECT_EQ(secrets::Spool::default_dir(), "/home/u/.state/renewer/spool");
    ::unsetenv("XDG_STATE_HOME");
}

}  // namespace
