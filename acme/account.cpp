#include "acme/account.hpp"

#include <cctype>
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

bool base64_common(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

core::Error eab_key_error(const std::string& what) {
    return core::make_error(core::ErrorKind::invalid_input,
                            "the EAB HMAC key " + what + " (give it as the CA handed it out: base64url or base64)");
}

}  // namespace

core::Result<std::string> eab_hmac_key_base64url(std::string_view given) {
    while (!given.empty() && std::isspace(static_cast<unsigned char>(given.front())) != 0) {
        given.remove_prefix(1);
    }
    while (!given.empty() && std::isspace(static_cast<unsigned char>(given.back())) != 0) {
        given.remove_suffix(1);
    }
    // RFC 4648 §3.2: up to two '=' of padding at the end (base64 only).
    std::size_t padding = 0;
    while (padding < 2 && padding < given.size() && given[given.size() - 1 - padding] == '=') {
        ++padding;
    }
    given.remove_suffix(padding);
    if (given.empty()) {
        return eab_key_error("is empty");
    }
    bool url_alphabet = false;  // RFC 4648 §5: '-' and '_'
    bool std_alphabet = false;  // RFC 4648 §4: '+' and '/'
    std::string out;
    out.reserve(given.size());
    for (std::size_t i = 0; i < given.size(); ++i) {
        const char c = given[i];
        if (c == '-' || c == '_') {
            url_alphabet = true;
            out.push_back(c);
        } else if (c == '+' || c == '/') {
            std_alphabet = true;
            out.push_back(c == '+' ? '-' : '_');
        } else if (base64_common(c)) {
            out.push_back(c);
        } else {
            return eab_key_error("has a character that is not base64 at position " + std::to_string(i + 1));
        }
    }
    if (url_alphabet && std_alphabet) {
        return eab_key_error("mixes the base64url ('-', '_') and base64 ('+', '/') alphabets");
    }
    if (out.size() % 4 == 1) {
        return eab_key_error("has a length that no base64 text has");
    }
    return out;
}

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
    return create_account(transport, std::move(key), options, deadline);
}

core::Result<Account> create_account(Transport& transport, std::shared_ptr<const core::PrivateKey> key,
                                     const AccountOptions& options, const core::Deadline& deadline) {
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
        TRY_ASSIGN(const std::string hmac_key, eab_hmac_key_base64url(options.eab->hmac_key));
        core::log::register_secret(hmac_key);
        TRY_ASSIGN(payload["externalAccountBinding"],
                   eab_jws(key->public_params(), options.eab->kid, hmac_key, dir.new_account));
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

bool account_matches(const StoredAccount& stored, const std::string& server, const AccountOptions& options) {
    if (!stored.server.empty() && stored.server != server) {
        return false;
    }
    const std::string kid = options.eab ? options.eab->kid : "";
    return stored.eab_kid.empty() || stored.eab_kid == kid;
}

namespace {

// The record in `accounts` for this CA and configuration, or null.
StoredAccount* matching(std::vector<StoredAccount>& accounts, const std::string& server,
                        const AccountOptions& options) {
    for (auto& stored : accounts) {
        if (account_matches(stored, server, options) && !stored.key_pem.empty()) {
            return &stored;
        }
    }
    return nullptr;
}

// An account older versions kept beside some certificate (the first due one
// of some run): registering again would make a second account, and EAB keys
// expire once used or unused for days, so the old one is adopted.
std::optional<StoredAccount> find_elsewhere(const std::vector<AccountStore*>& elsewhere, const std::string& server,
                                            const AccountOptions& options) {
    for (auto* other : elsewhere) {
        auto records = other->load();
        if (!records) {
            core::log::warn("cannot read an account record",
                            {{"where", other->describe()}, {"error", records.error().message}});
            continue;
        }
        if (auto* found = matching(*records, server, options)) {
            core::log::info("acme: adopting the account kept beside a certificate",
                            {{"from", other->describe()}, {"account", found->url}});
            return *found;
        }
    }
    return std::nullopt;
}

core::Result<std::shared_ptr<const core::PrivateKey>> stored_key(const StoredAccount& stored) {
    auto parsed = core::PrivateKey::from_pem(stored.key_pem);
    if (!parsed.ok()) {
        return parsed.error().wrap("stored account key");
    }
    return std::make_shared<const core::PrivateKey>(std::move(*parsed));
}

}  // namespace

core::Result<Account> load_or_register(Transport& transport, AccountStore& home, const AccountOptions& options,
                                       core::KeyType key_type, const core::Deadline& deadline,
                                       const std::vector<AccountStore*>& elsewhere) {
    TRY_ASSIGN(std::vector<StoredAccount> records, home.load());
    const std::string& server = transport.directory().url;
    std::optional<StoredAccount> stored;
    if (auto* found = matching(records, server, options)) {
        stored = *found;
    } else {
        stored = find_elsewhere(elsewhere, server, options);
    }
    std::optional<Account> account;
    if (stored) {
        TRY_ASSIGN(auto key, stored_key(*stored));
        if (!stored->url.empty()) {
            account.emplace(key, stored->url);
        } else {
            TRY_ASSIGN(account, find_or_create_account(transport, key, options, deadline));
        }
    } else {
        TRY_ASSIGN(core::PrivateKey fresh, core::PrivateKey::generate(key_type));
        TRY_ASSIGN(account, create_account(transport, std::make_shared<const core::PrivateKey>(std::move(fresh)),
                                           options, deadline));
    }
    StoredAccount record{account->key().to_pem(), account->url(), server, options.eab ? options.eab->kid : ""};
    if (auto* found = matching(records, server, options)) {
        if (found->key_pem == record.key_pem && found->url == record.url && found->server == record.server &&
            found->eab_kid == record.eab_kid) {
            return *account;
        }
        *found = std::move(record);
    } else {
        records.push_back(std::move(record));
    }
    TRY(home.save(records));
    return *account;
}

}  // namespace acme
