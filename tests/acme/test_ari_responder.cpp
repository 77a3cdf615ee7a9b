// The client against a test-only ACME responder (ari_responder.py) serving
// what Debian's Pebble lacks: renewalInfo (RFC 9773 §4.2), profiles, and a
// CA answering alreadyReplaced to `replaces` (RFC 9773 §5).
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "acme/account.hpp"
#include "acme/ari.hpp"
#include "acme/order.hpp"
#include "core/log.hpp"
#include "pebble_fixture.hpp"

namespace {

class AriResponder : public ::testing::Test {
protected:
    void SetUp() override {
        tls_ = test::make_tls_cert(dir_);
        const std::string port_file = dir_.file("port");
        server_ = test::Process({test::python(), test::source_dir() + "/tests/acme/ari_responder.py", "--cert",
                                 tls_.cert, "--key", tls_.key, "--port-file", port_file},
                                {}, dir_.file("responder.log"));
        ASSERT_TRUE(
            test::wait_until([&] { return !test::read_text(port_file).empty(); }, std::chrono::seconds{10}, &server_))
            << test::read_text(dir_.file("responder.log"));
        base_ = "https://127.0.0.1:" + test::read_text(port_file);
        acme::TransportOptions options;
        options.directory_url = base_ + "/dir";
        options.http.ca_bundle = tls_.ca;
        auto transport = acme::Transport::connect(options, core::Deadline::after(std::chrono::seconds{10}));
        ASSERT_TRUE(transport.ok()) << transport.error().message;
        transport_ = std::move(*transport);
    }

    std::string log_path() const { return dir_.file("client.log"); }

    test::TempDir dir_;
    test::TlsFiles tls_;
    test::Process server_;
    std::string base_;
    std::unique_ptr<acme::Transport> transport_;
};

TEST_F(AriResponder, RenewalInfoForTheRfcCertificate) {
    auto cert =
        core::Certificate::from_pem(test::read_text(test::shared_dir() + "/testdata/rfc9773-appendix-a-cert.pem"));
    ASSERT_TRUE(cert.ok());
    auto id = acme::ari_certificate_id(*cert);
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(transport_->directory().renewal_info, base_ + "/renewal-info");
    auto info = acme::fetch_renewal_info(*transport_, *id, core::Deadline::after(std::chrono::seconds{10}));
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_EQ(core::format_time(info->window_start), "2025-01-02T04:00:00Z");
    EXPECT_EQ(core::format_time(info->window_end), "2025-01-03T04:00:00Z");
    EXPECT_EQ(info->explanation_url, "https://acme.example.com/docs/ari");
    EXPECT_EQ(info->retry_after, std::chrono::seconds{21600});

    auto missing = acme::fetch_renewal_info(*transport_, "AA.AA", core::Deadline::after(std::chrono::seconds{10}));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().kind, core::ErrorKind::not_found);
}

TEST_F(AriResponder, RetryAfterOn503IsHonoured) {
    const auto start = std::chrono::steady_clock::now();
    auto info = acme::fetch_renewal_info(*transport_, "busy.AQ", core::Deadline::after(std::chrono::seconds{10}));
    ASSERT_TRUE(info.ok()) << info.error().message;
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds{950});
}

TEST_F(AriResponder, AlreadyReplacedRetriesOnceWithoutReplacesAndSaysSo) {
    const int fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    core::log::configure({core::log::Level::info, core::log::Format::text, fd});
    const auto deadline = core::Deadline::after(std::chrono::seconds{10});
    auto key = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(key.ok());
    acme::AccountOptions account_options;
    account_options.terms = acme::TermsOfService::agreed;
    // The responder answers the first POST with badNonce: retried transparently.
    auto account = acme::find_or_create_account(*transport_, std::make_shared<const core::PrivateKey>(std::move(*key)),
                                                account_options, deadline);
    ASSERT_TRUE(account.ok()) << account.error().message;
    EXPECT_EQ(account->url(), base_ + "/acct/1");

    auto order = acme::new_order(
        *transport_, *account,
        acme::NewOrderRequest{{"example.test", "*.example.test"}, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", "shortlived"},
        deadline);
    core::log::configure({});
    ::close(fd);
    ASSERT_TRUE(order.ok()) << order.error().message;
    EXPECT_EQ(order->profile, "shortlived");
    EXPECT_TRUE(order->replaces.empty());

    core::http::Client client(transport_->options().http);
    core::http::Request request;
    request.url = base_ + "/log";
    auto log = client.send(request);
    ASSERT_TRUE(log.ok());
    const auto orders = nlohmann::json::parse(log->body);
    ASSERT_EQ(orders.size(), 2u);
    EXPECT_EQ(orders[0]["replaces"], "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    EXPECT_FALSE(orders[1].contains("replaces"));
    EXPECT_EQ(orders[1]["profile"], "shortlived");
    const std::string text = test::read_text(log_path());
    EXPECT_NE(text.find("retrying once without it"), std::string::npos) << text;
    EXPECT_NE(text.find("alreadyReplaced"), std::string::npos) << text;
}

TEST_F(AriResponder, UnknownProfileIsAClearError) {
    auto key = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(key.ok());
    const acme::Account account(std::make_shared<const core::PrivateKey>(std::move(*key)), base_ + "/acct/1");
    auto order = acme::new_order(*transport_, account, acme::NewOrderRequest{{"example.test"}, "", "tlsserver"},
                                 core::Deadline::after(std::chrono::seconds{10}));
    ASSERT_FALSE(order.ok());
    EXPECT_EQ(order.error().kind, core::ErrorKind::invalid_input);
    EXPECT_NE(order.error().message.find("\"tlsserver\""), std::string::npos) << order.error().message;
    EXPECT_NE(order.error().message.find("classic, shortlived"), std::string::npos) << order.error().message;
}

}  // namespace
