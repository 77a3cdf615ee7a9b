// Log lines (text and JSON), level filtering and redaction of keys and secrets.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/log.hpp"

namespace {

namespace log = core::log;

// "2026-11-23T19:00:00.123Z" ('d' = any digit). No std::regex: GCC 12 warns
// inside <regex> under sanitizers, and warnings are errors.
bool is_timestamp(std::string_view text) {
    constexpr std::string_view k_shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (text.size() != k_shape.size()) {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool ok = k_shape[i] == 'd' ? (text[i] >= '0' && text[i] <= '9') : text[i] == k_shape[i];
        if (!ok) {
            return false;
        }
    }
    return true;
}

constexpr const char* k_private_key =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\n"
    "OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r\n"
    "-----END PRIVATE KEY-----\n";

constexpr const char* k_ec_key =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\n"
    "-----END EC PRIVATE KEY-----";

constexpr const char* k_certificate =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBeTCCAR+gAwIBAgIUQmVuZ2luZSB0ZXN0IGNlcnRpZmljYXRlMAoGCCqGSM49\n"
    "-----END CERTIFICATE-----\n";

// Key material that must never show up in output.
constexpr const char* k_key_body = "evZzL1gdAFr88hb2";
constexpr const char* k_ec_key_body = "MHcCAQEEIIrYSSNQ";

// Log output captured in an unlinked temp file.
class Log : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/renewer-log-test-XXXXXX";
        fd_ = ::mkstemp(pattern);
        ASSERT_GE(fd_, 0);
        ::unlink(pattern);
        configure(log::Level::trace, log::Format::json);
    }
    void TearDown() override {
        log::configure(log::Options{});
        ::close(fd_);
    }

    void configure(log::Level level, log::Format format) {
        log::Options options;
        options.level = level;
        options.format = format;
        options.fd = fd_;
        log::configure(options);
    }

    std::string output() const {
        std::string out;
        char buffer[4096];
        off_t offset = 0;
        while (true) {
            const ssize_t n = ::pread(fd_, buffer, sizeof buffer, offset);
            if (n <= 0) {
                break;
            }
            out.append(buffer, static_cast<std::size_t>(n));
            offset += n;
        }
        return out;
    }

    std::vector<std::string> lines() const {
        std::vector<std::string> result;
        std::istringstream in(output());
        for (std::string line; std::getline(in, line);) {
            result.push_back(line);
        }
        return result;
    }

    nlohmann::json only_json_line() const {
        const auto all = lines();
        EXPECT_EQ(all.size(), 1U) << output();
        return all.empty() ? nlohmann::json() : nlohmann::json::parse(all.front());
    }

    int fd_ = -1;
};

TEST_F(Log, JsonLineHasTimeLevelMessageAndFields) {
    log::info("certificate renewed", {{"domain", "example.com"}, {"step", "store"}});
    const auto line = lines();
    ASSERT_EQ(line.size(), 1U);
    EXPECT_EQ(line[0].rfind("{\"time\":", 0), 0U) << "time comes first: " << line[0];
    const auto json = nlohmann::json::parse(line[0]);
    EXPECT_TRUE(is_timestamp(json.at("time").get<std::string>())) << json.at("time");
    EXPECT_EQ(json.at("level"), "info");
    EXPECT_EQ(json.at("msg"), "certificate renewed");
    EXPECT_EQ(json.at("domain"), "example.com");
    EXPECT_EQ(json.at("step"), "store");
}

TEST_F(Log, FieldsCannotShadowTheFixedKeys) {
    log::warn("m", {{"level", "fake"}, {"msg", "other"}});
    const auto json = only_json_line();
    EXPECT_EQ(json.at("level"), "warn");
    EXPECT_EQ(json.at("msg"), "m");
    EXPECT_EQ(json.at("field_level"), "fake");
}

TEST_F(Log, InvalidUtf8NeverThrowsAndStaysParsable) {
    EXPECT_NO_THROW(log::error("bad \xff\xfe bytes", {{"value", "\xc3\x28"}}));
    const auto json = only_json_line();
    EXPECT_EQ(json.at("level"), "error");
    EXPECT_NE(json.at("msg").get<std::string>().find("bytes"), std::string::npos);
}

TEST_F(Log, TextFormat) {
    configure(log::Level::info, log::Format::text);
    log::info("renewing", {{"domain", "example.com"}, {"reason", "expires in 20 days"}, {"empty", ""}});
    const auto line = lines();
    ASSERT_EQ(line.size(), 1U);
    ASSERT_GT(line[0].size(), 25U) << line[0];
    EXPECT_TRUE(is_timestamp(line[0].substr(0, 24))) << line[0];
    EXPECT_EQ(line[0].substr(24), R"( INFO renewing domain=example.com reason="expires in 20 days" empty="")");
}

TEST_F(Log, LevelsFilter) {
    configure(log::Level::warn, log::Format::json);
    EXPECT_EQ(log::level(), log::Level::warn);
    EXPECT_FALSE(log::enabled(log::Level::info));
    EXPECT_TRUE(log::enabled(log::Level::error));
    log::trace("t");
    log::debug("d");
    log::info("i");
    log::warn("w");
    log::error("e");
    const auto all = lines();
    ASSERT_EQ(all.size(), 2U) << output();
    EXPECT_EQ(nlohmann::json::parse(all[0]).at("msg"), "w");
    EXPECT_EQ(nlohmann::json::parse(all[1]).at("msg"), "e");

    configure(log::Level::off, log::Format::json);
    log::error("nothing");
    EXPECT_EQ(lines().size(), 2U);
    EXPECT_FALSE(log::enabled(log::Level::off));
}

TEST_F(Log, PrivateKeyInMessageAndFieldIsRedacted) {
    log::info(std::string("loaded key ") + k_private_key + "and more", {{"pem", k_ec_key}, {"after", "ok"}});
    const std::string out = output();
    EXPECT_EQ(out.find(k_key_body), std::string::npos) << out;
    EXPECT_EQ(out.find(k_ec_key_body), std::string::npos) << out;
    EXPECT_EQ(out.find("PRIVATE KEY"), std::string::npos) << out;
    const auto json = only_json_line();
    EXPECT_EQ(json.at("msg"), "loaded key [REDACTED]\nand more");
    EXPECT_EQ(json.at("pem"), "[REDACTED]");
    EXPECT_EQ(json.at("after"), "ok");
}

TEST_F(Log, CertificateIsNotRedacted) {
    log::info("chain", {{"certificate", k_certificate}});
    EXPECT_EQ(only_json_line().at("certificate"), k_certificate);
}

TEST_F(Log, TruncatedKeyIsRedactedToTheEnd) {
    const std::string truncated = std::string("head -----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
    EXPECT_EQ(log::redact(truncated), "head [REDACTED]");
}

TEST_F(Log, RedactKeepsTextAroundSeveralBlocks) {
    const std::string text = std::string("a ") + k_private_key + " b " + k_certificate + " c " + k_ec_key + " d";
    EXPECT_EQ(log::redact(text), std::string("a [REDACTED]\n b ") + k_certificate + " c [REDACTED] d");
    // A key inside a JSON document (escaped newlines) is still found.
    const std::string json =
        R"({"private_key":"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----\n"})";
    EXPECT_EQ(log::redact(json), R"({"private_key":"[REDACTED]\n"})");
    // Not a key: wrong label or lower-case.
    EXPECT_EQ(log::redact("-----BEGIN PUBLIC KEY-----x"), "-----BEGIN PUBLIC KEY-----x");
    EXPECT_EQ(log::redact("-----BEGIN private key-----x"), "-----BEGIN private key-----x");
}

TEST_F(Log, RegisteredSecretsAreRedactedAlsoWhenJsonEscaped) {
    const std::string secret = "wJalrXUtnFEMI/K7MDENG\"bPxRfi\\CYEXAMPLEKEY";
    log::register_secret(secret);
    log::register_secret("short");  // under 8 characters: ignored
    // Raw in the message, raw in a field, JSON-escaped inside a field.
    nlohmann::json body = {{"SecretAccessKey", secret}};
    log::info("using " + secret, {{"key", secret}, {"body", body.dump()}, {"word", "short"}});
    const std::string out = output();
    EXPECT_EQ(out.find("wJalrXUtnFEMI"), std::string::npos) << out;
    const auto json = only_json_line();
    EXPECT_EQ(json.at("msg"), "using [REDACTED]");
    EXPECT_EQ(json.at("key"), "[REDACTED]");
    EXPECT_EQ(json.at("body"), R"({"SecretAccessKey":"[REDACTED]"})");
    EXPECT_EQ(json.at("word"), "short");
    // Escaped '/' (as some encoders write it) too.
    EXPECT_EQ(log::redact(R"(wJalrXUtnFEMI\/K7MDENG\"bPxRfi\\CYEXAMPLEKEY)"), "[REDACTED]");
}

TEST_F(Log, ConcurrentLinesStayWhole) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([t] {
            for (int i = 0; i < 200; ++i) {
                log::info("line from thread " + std::to_string(t),
                          {{"i", std::to_string(i)}, {"pad", std::string(300, 'x')}});
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    const auto all = lines();
    ASSERT_EQ(all.size(), 1600U);
    for (const auto& line : all) {
        EXPECT_TRUE(nlohmann::json::accept(line)) << line;
    }
}

TEST_F(Log, ProgressIsSilentWhenNotATerminal) {
    configure(log::Level::info, log::Format::text);
    EXPECT_FALSE(log::is_terminal());
    log::progress("waiting for DNS 3/10");
    EXPECT_EQ(output(), "");
}

TEST(LogTerminal, ProgressRewritesTheLineOnATerminal) {
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT_GE(master, 0);
    ASSERT_EQ(::grantpt(master), 0);
    ASSERT_EQ(::unlockpt(master), 0);
    const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
    ASSERT_GE(slave, 0);

    log::Options options;
    options.fd = slave;  // Format::automatic: text, since it is a tty
    log::configure(options);
    EXPECT_TRUE(log::is_terminal());
    log::progress("waiting for DNS 3/10");
    log::info("done");

    std::string seen;
    for (int i = 0; i < 50 && seen.find("done") == std::string::npos; ++i) {
        pollfd pfd{master, POLLIN, 0};
        if (::poll(&pfd, 1, 100) > 0) {
            char buffer[512];
            const ssize_t n = ::read(master, buffer, sizeof buffer);
            if (n > 0) {
                seen.append(buffer, static_cast<std::size_t>(n));
            }
        }
    }
    log::configure(log::Options{});
    ::close(slave);
    ::close(master);
    EXPECT_NE(seen.find("\r\033[Kwaiting for DNS 3/10"), std::string::npos) << seen;
    // The next normal line clears the progress line first.
    EXPECT_NE(seen.find("3/10\r\033[K"), std::string::npos) << seen;
    EXPECT_NE(seen.find(" INFO done"), std::string::npos) << seen;
}

}  // namespace
