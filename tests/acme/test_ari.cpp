// RFC 9773: certificate identifier (the RFC's Appendix A example), the
// renewalInfo body (§4.2 example) and the pick inside the window.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include "pebble_fixture.hpp"

#include "acme/ari.hpp"

namespace {

std::string shared_file(const std::string& name) {
    std::ifstream in(test::shared_dir() + "/testdata/" + name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(Ari, Rfc9773AppendixACertificateId) {
    const nlohmann::json v = nlohmann::json::parse(shared_file("rfc-vectors.json"))["rfc9773_cert_id"];
    auto cert = core::Certificate::from_pem(shared_file("rfc9773-appendix-a-cert.pem"));
    ASSERT_TRUE(cert.ok()) << cert.error().message;
    auto id = acme::ari_certificate_id(*cert);
    ASSERT_TRUE(id.ok()) << id.error().message;
    EXPECT_EQ(*id, v["unique_identifier"].get<std::string>());
    EXPECT_EQ(*id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
}

TEST(Ari, NoAkiIsAnError) {
    core::CertInfo info;
    info.serial_der = std::string("\x01", 1);
    EXPECT_FALSE(acme::ari_certificate_id(info).ok());
}

TEST(Ari, Rfc9773RenewalInfoExample) {
    const nlohmann::json v = nlohmann::json::parse(shared_file("rfc-vectors.json"))["rfc9773_renewal_info_response"];
    auto info = acme::parse_renewal_info(v["body"].dump(), v["headers"]["Retry-After"].get<std::string>());
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(core::format_time(info->window_start), "2025-01-02T04:00:00Z");
    EXPECT_EQ(core::format_time(info->window_end), "2025-01-03T04:00:00Z");
    EXPECT_EQ(info->explanation_url, "https://acme.example.com/docs/ari");
    EXPECT_EQ(info->retry_after, std::chrono::milliseconds{21600 * 1000LL});
}

TEST(Ari, WindowPick) {
    auto info = acme::parse_renewal_info(
        R"({"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"}})");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(acme::pick_renewal_time(*info, 0.0), info->window_start);
    EXPECT_EQ(core::format_time(acme::pick_renewal_time(*info, 0.5)), "2025-01-02T16:00:00Z");
    bool early = false;
    bool late = false;
    for (int i = 0; i < 200; ++i) {
        const auto t = acme::pick_renewal_time(*info);
        ASSERT_GE(t, info->window_start);
        ASSERT_LT(t, info->window_end);
        early = early || t < info->window_start + std::chrono::hours(12);
        late = late || t >= info->window_start + std::chrono::hours(12);
    }
    EXPECT_TRUE(early && late) << "200 picks all in one half of the window";
}

TEST(Ari, InvalidWindows) {
    EXPECT_FALSE(acme::parse_renewal_info(R"({"suggestedWindow":{"start":"2025-01-03T04:00:00Z",)"
                                          R"("end":"2025-01-02T04:00:00Z"}})")
                     .ok());
    EXPECT_FALSE(acme::parse_renewal_info(R"({"explanationURL":"x"})").ok());
    EXPECT_FALSE(acme::parse_renewal_info("not json").ok());
}

}  // namespace
