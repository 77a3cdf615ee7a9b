// Inputs the fuzz targets (tests/fuzz) found crashing, kept as unit tests of
// the pure parsers they reached. The raw inputs also stay in
// tests/fuzz/corpus/<target>/regress-*, replayed by fuzz_replay_<target>.
#include <string>

#include <gtest/gtest.h>

#include "renewer/config.hpp"

namespace {

// fuzz_config: a number nlohmann/json cannot hold threw out_of_range (406),
// which parse_config did not catch: the process ended instead of exiting 2.
TEST(FuzzRegressions, ConfigNumberOverflowIsAClearError) {
    for (const char* text : {R"({"concurrency": 8e1234})", R"({"certs":[{"domain{":[8e1234ecr89012:x"]}]})",
                             R"({"renew": {"fraction": -1e400}})"}) {
        auto config = renewer::parse_config(text, "renewer.json");
        ASSERT_FALSE(config.ok()) << text;
        EXPECT_EQ(config.error().kind, core::ErrorKind::invalid_input) << text;
        EXPECT_EQ(config.error().message.rfind("renewer.json: ", 0), 0U) << config.error().message;
        EXPECT_EQ(config.error().message.find("json.exception"), std::string::npos) << config.error().message;
    }
}

}  // namespace
