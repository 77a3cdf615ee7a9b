#include "acme/account.hpp"

#include <utility>

#include "acme/problem.hpp"
#include "acme/status.hpp"
#include "core/log.hpp"

namespace acme {
namespace {

core::Result<Account> account_from_response(const core::http::Response& response,
                                            std::shared_ptr<const core::PrivateKey> key) {
    // RFC 8555 §7.3: the account URL is in Location.
    std::string url = response.header("location");
    if (url.empty()) {
        return core::make_error(core::ErrorKind::protocol, "newAccount answered without a Location header");
    }
    return Account(std::move(key), std::move(url));
}

}  // namespace

Account::Account(std::shared_ptr<const core::PrivateKey> key, std::string url)
    : key_(std::move(key)), url_(std::move(url)), thumbprint_(jwk_thumbprint(key_->public_params())) {}

AccountStore::~AccountStore() = default;

core::Result<Account> find_account(Transport& transport, std::shared_ptr<const core::PrivateKey> key,
                                   const core::Deadline& deadline) {
    const Signer signer{key.get(), ""};
    // RFC 8555 §7.3.1: onlyReturnExisting finds the account without creating one.
    auto response =
        transport.post(signer, transport.directory().new_account, R"({"onlyReturnExisting":true})", deadline);
    if (!response.ok()) {
        core::Error error = response.error();
        if (error.code == "accountDoesNotExist") {
            error.kind = core::ErrorKind::not_found;
        }
        return error;
    }
    return account_from_response(*response, std::move(key));
}

core::Result<Account> find_or_create_account(Transport& transport, std::shared_ptr<const core::PrivateKey> key,
                                             const AccountOptions& options, const core::Deadline& deadline) {
    auto found = find_account(transport, key, deadline);
    if (found.ok()) {
        core::log::debug("acme: found existing account", {{"account", found->url()}});
        return found;
    }
    if (found.error().kind != core::ErrorKind::not_found) {
        return found.error().wrap("account lookup");
    }
    const Directory& dir = transport.directory();
    if (dir.external_account_required && !options.eab) {
        return core::make_error(
            core::ErrorKind::invalid_input,
            "account: the CA at " + dir.url + " requires External Account Binding: pass --eab-kid and --eab-hmac-key");
    }
    // RFC 8555 §7.3: newAccount.
    Json payload = Json::object();
    if (!options.email.empty()) {
        payload["contact"] = Json::array({"mailto:" + options.email});
    }
    if (options.terms == TermsOfService::agreed) {
        payload["termsOfServiceAgreed"] = true;
    }
    if (options.eab) {
        core::log::register_secret(options.eab->hmac_key);
        TRY_ASSIGN(payload["externalAccountBinding"],
                   eab_jws(key->public_params(), options.eab->kid, options.eab->hmac_key, dir.new_account));
    }
    auto response = transport.post(Signer{key.get(), ""}, dir.new_account, payload.dump(), deadline);
    if (!response.ok()) {
        core::Error error = response.error();
        // Only when the CA itself refused (a problem document), not on network errors.
        const bool ca_refused = !error.code.empty();
        if (options.terms == TermsOfService::not_agreed && ca_refused &&
            (!dir.terms_of_service.empty() || error.message.find("terms") != std::string::npos)) {
            std::string hint = "the CA requires agreeing to its terms of service";
            if (!dir.terms_of_service.empty()) {
                hint += " (" + dir.terms_of_service + ")";
            }
            error.message += "; " + hint + ": pass --agree-tos";
        } else if (error.code == "externalAccountRequired") {
            error.message += "; pass --eab-kid and --eab-hmac-key";
        }
        return error.wrap("account registration");
    }
    auto account = account_from_response(*response, std::move(key));
    if (account.ok()) {
        core::log::info("acme: registered account", {{"account", account->url()}});
    }
    return account;
}

core::Result<Account> roll_over_key(Transport& transport, const Account& account,
                                    std::shared_ptr<const core::PrivateKey> new_key, const core::Deadline& deadline) {
    const std::string& url = transport.directory().key_change;
    if (url.empty()) {
        return core::make_error(core::ErrorKind::protocol, "key rollover: the CA offers no keyChange");
    }
    // RFC 8555 §7.3.5: inner JWS signed by the NEW key with its jwk, no nonce,
    // payload {account, oldKey}; outer JWS signed by the old key with kid.
    const Json inner_payload = {{"account", account.url()}, {"oldKey", jwk(account.key().public_params())}};
    TRY_ASSIGN(const Json inner, sign_jws(Signer{new_key.get(), ""}, "", url, inner_payload.dump()));
    auto response = transport.post(account.signer(), url, inner.dump(), deadline);
    if (!response.ok()) {
        return response.error().wrap("key rollover");
    }
    core::log::info("acme: account key rolled over", {{"account", account.url()}});
    return Account(std::move(new_key), account.url());
}

core::Status deactivate_account(Transport& transport, const Account& account, const core::Deadline& deadline) {
    // RFC 8555 §7.3.6.
    const Json payload = {{"status", to_string(ResourceStatus::deactivated)}};
    auto response = transport.post(account.signer(), account.url(), payload.dump(), deadline);
    if (!response.ok()) {
        return response.error().wrap("account deactivation");
    }
    core::log::info("acme: account deactivated", {{"account", account.url()}});
    return {};
}

core::Result<Account> load_or_register(Transport& transport, AccountStore& store, const AccountOptions& options,
                                       core::KeyType key_type, const core::Deadline& deadline) {
    TRY_ASSIGN(std::optional<StoredAccount> stored, store.load());
    const std::string& server = transport.directory().url;
    std::shared_ptr<const core::PrivateKey> key;
    if (stored && !stored->key_pem.empty()) {
        auto parsed = core::PrivateKey::from_pem(stored->key_pem);
        if (!parsed.ok()) {
            return parsed.error().wrap("stored account key");
        }
        key = std::make_shared<const core::PrivateKey>(std::move(*parsed));
        if (stored->server == server && !stored->url.empty()) {
            return Account(key, stored->url);
        }
        if (stored->server != server && !stored->server.empty()) {
            core::log::warn("acme: stored account belongs to another server; registering a new one",
                            {{"stored_server", stored->server}, {"server", server}});
            key.reset();
        }
    }
    if (!key) {
        TRY_ASSIGN(core::PrivateKey fresh, core::PrivateKey::generate(key_type));
        key = std::make_shared<const core::PrivateKey>(std::move(fresh));
    }
    TRY_ASSIGN(Account account, find_or_create_account(transport, key, options, deadline));
    TRY(store.save(StoredAccount{account.key().to_pem(), account.url(), server}));
    return account;
}

}  // namespace acme
