// Where the ACME account comes from (acme/account.hpp): one record per CA and
// EAB key id, adopted from where an older version kept it, a new key
// registered without a wasted onlyReturnExisting lookup; and the TLS roots the
// client trusts (an extra CA bundle joins the system roots). Runs against
// ari_responder.py, which logs every newAccount payload.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "acme/account.hpp"
#include "pebble_fixture.hpp"

namespace {

using std::chrono::seconds;

struct Responder {
    test::TempDir dir;
    test::TlsFiles tls;
    test::Process process;
    std::string base;

    void start() {
        tls = test::make_tls_cert(dir);
        const std::string port_file = dir.file("port");
        process = test::Process({test::python(), test::source_dir() + "/tests/acme/ari_responder.py", "--cert",
                                 tls.cert, "--key", tls.key, "--port-file", port_file},
                                {}, dir.file("responder.log"));
        ASSERT_TRUE(test::wait_until([&] { return !test::read_text(port_file).empty(); }, seconds{10}, &process))
            << test::read_text(dir.file("responder.log"));
        base = "https://127.0.0.1:" + test::read_text(port_file);
    }

    nlohmann::json get(const std::string& path) const {
        core::http::ClientOptions options;
        options.ca_bundle = tls.ca;
        core::http::Client client(options);
        core::http::Request request;
        request.url = base + path;
        auto response = client.send(request);
        EXPECT_TRUE(response.ok()) << response.error().message;
        return response.ok() ? nlohmann::json::parse(response->body, nullptr, false) : nlohmann::json();
    }
};

class AccountStore : public ::testing::Test {
protected:
    void SetUp() override {
        responder_.start();
        acme::TransportOptions options;
        options.directory_url = responder_.base + "/dir";
        options.http.ca_bundle = responder_.tls.ca;
        auto transport = acme::Transport::connect(options, core::Deadline::after(seconds{10}));
        ASSERT_TRUE(transport.ok()) << transport.error().message;
        transport_ = std::move(*transport);
        options_.terms = acme::TermsOfService::agreed;
    }

    core::Deadline soon() const { return core::Deadline::after(seconds{10}); }

    Responder responder_;
    test::TempDir dir_;
    std::unique_ptr<acme::Transport> transport_;
    acme::AccountOptions options_;
};

TEST_F(AccountStore, ANewKeyIsRegisteredWithoutALookupFirst) {
    auto home = acme::make_file_account_store(dir_.file("account.json"));
    auto account = acme::load_or_register(*transport_, *home, options_, core::KeyType::ec256, soon());
    ASSERT_TRUE(account.ok()) << account.error().message;
    const auto payloads = responder_.get("/accounts");
    ASSERT_TRUE(payloads.is_array());
    // RFC 8555 §7.3.1: onlyReturnExisting cannot find a key made a moment ago.
    for (const auto& payload : payloads) {
        EXPECT_FALSE(payload.contains("onlyReturnExisting")) << payloads.dump();
    }
    EXPECT_EQ(payloads.size(), 1u) << payloads.dump();
    EXPECT_EQ(account->url(), responder_.base + "/acct/1");
}

TEST_F(AccountStore, AnAccountKeptElsewhereIsAdoptedNotRegisteredAgain) {
    auto key = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(key.ok());
    const std::string server = transport_->directory().url;
    auto beside_certificate = acme::make_file_account_store(dir_.file("beside-b.json"));
    ASSERT_TRUE(beside_certificate->save({{key->to_pem(), responder_.base + "/acct/7", server, ""}}).ok());
    // Another CA's account in the home file stays as it is.
    auto other = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(other.ok());
    auto home = acme::make_file_account_store(dir_.file("home.json"));
    ASSERT_TRUE(home->save({{other->to_pem(), "https://other.example/acct/1", "https://other.example/dir", ""}}).ok());

    auto account =
        acme::load_or_register(*transport_, *home, options_, core::KeyType::ec256, soon(), {beside_certificate.get()});
    ASSERT_TRUE(account.ok()) << account.error().message;
    EXPECT_EQ(account->url(), responder_.base + "/acct/7");
    EXPECT_EQ(responder_.get("/accounts").size(), 0u) << "a new account was registered";
    auto kept = home->load();
    ASSERT_TRUE(kept.ok()) << kept.error().message;
    ASSERT_EQ(kept->size(), 2u);
    EXPECT_EQ((*kept)[0].server, "https://other.example/dir");
    EXPECT_EQ((*kept)[1].url, responder_.base + "/acct/7");
    EXPECT_EQ((*kept)[1].server, server);

    // The next run finds it at home, with no lookup elsewhere.
    auto again = acme::load_or_register(*transport_, *home, options_, core::KeyType::ec256, soon());
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(again->url(), responder_.base + "/acct/7");
}

TEST_F(AccountStore, AnotherEabKeyIdIsAnotherAccount) {
    auto key = core::PrivateKey::generate(core::KeyType::ec256);
    ASSERT_TRUE(key.ok());
    const acme::StoredAccount stored{key->to_pem(), responder_.base + "/acct/7", transport_->directory().url,
                                     "kid-old"};
    acme::AccountOptions with_kid = options_;
    with_kid.eab = acme::ExternalAccountBinding{"kid-old", "AAAA"};
    EXPECT_TRUE(acme::account_matches(stored, transport_->directory().url, with_kid));
    with_kid.eab->kid = "kid-new";
    EXPECT_FALSE(acme::account_matches(stored, transport_->directory().url, with_kid));
    EXPECT_FALSE(acme::account_matches(stored, "https://other.example/dir", options_));
}

TEST(EabKey, StandardBase64AndBase64UrlGiveTheSameKey) {
    const std::string url = "BVUni19H_bmBuVQCJA-5kL9JQybbCFSwyAPCMQfsC9k";
    for (const std::string& given : {url, std::string("BVUni19H/bmBuVQCJA+5kL9JQybbCFSwyAPCMQfsC9k="),
                                     std::string("BVUni19H/bmBuVQCJA+5kL9JQybbCFSwyAPCMQfsC9k"), url + "=\n"}) {
        auto key = acme::eab_hmac_key_base64url(given);
        ASSERT_TRUE(key.ok()) << given << ": " << key.error().message;
        EXPECT_EQ(*key, url);
    }
    for (const std::string& bad : {std::string("BVUni19H_bmBuVQCJA+5kL9J"), std::string("BVUn*19H"), std::string("")}) {
        auto key = acme::eab_hmac_key_base64url(bad);
        ASSERT_FALSE(key.ok()) << bad;
        EXPECT_NE(key.error().message.find("EAB HMAC key"), std::string::npos) << key.error().message;
        if (!bad.empty()) {
            EXPECT_EQ(key.error().message.find(bad), std::string::npos) << "the key is quoted";
        }
    }
}

// ClientOptions::ca_bundle adds roots: a server the system roots trust (here
// SSL_CERT_FILE names them) and one only the extra bundle trusts both answer.
TEST(ExtraRoots, JoinTheSystemRoots) {
    Responder system_ca;
    Responder private_ca;
    system_ca.start();
    private_ca.start();
    const char* old = std::getenv("SSL_CERT_FILE");
    const std::string saved = old != nullptr ? old : "";
    ::setenv("SSL_CERT_FILE", system_ca.tls.ca.c_str(), 1);
    core::http::ClientOptions options;
    options.ca_bundle = private_ca.tls.ca;
    core::http::Client client(options);
    for (const auto* server : {&system_ca, &private_ca}) {
        core::http::Request request;
        request.url = server->base + "/dir";
        auto response = client.send(request);
        ASSERT_TRUE(response.ok()) << server->base << ": " << response.error().message;
        EXPECT_EQ(response->status, 200);
    }
    core::http::Client system_only;
    core::http::Request request;
    request.url = private_ca.base + "/dir";
    EXPECT_FALSE(system_only.send(request).ok()) << "a private CA trusted without its bundle";
    if (old != nullptr) {
        ::setenv("SSL_CERT_FILE", saved.c_str(), 1);
    } else {
        ::unsetenv("SSL_CERT_FILE");
    }
}

TEST(ExtraRoots, AnUnreadableBundleIsAClearError) {
    Responder server;
    server.start();
    core::http::ClientOptions options;
    options.ca_bundle = server.dir.file("missing.pem");
    core::http::Client client(options);
    core::http::Request request;
    request.url = server.base + "/dir";
    auto response = client.send(request);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().kind, core::ErrorKind::invalid_input) << response.error().message;
    EXPECT_NE(response.error().message.find("CA bundle"), std::string::npos) << response.error().message;
}

}  // namespace
