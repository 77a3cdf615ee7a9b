// ACME accounts (RFC 8555 §7.3): find-or-create, External Account Binding,
// key rollover, deactivation; and AccountStore, the seam through which the
// caller persists (account key PEM, account URL, server).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "acme/jws.hpp"
#include "acme/transport.hpp"
#include "core/keys.hpp"
#include "core/result.hpp"
#include "core/retry.hpp"

namespace acme {

enum class TermsOfService { not_agreed, agreed };

// RFC 8555 §7.3.4: the key identifier and MAC key the CA handed out
// (ZeroSSL, Google Trust Services). `hmac_key` is base64url, as given.
struct ExternalAccountBinding {
    std::string kid;
    std::string hmac_key;
};

struct AccountOptions {
    std::string email;  // "" = no contact; sent as "mailto:<email>"
    TermsOfService terms = TermsOfService::not_agreed;
    std::optional<ExternalAccountBinding> eab;
};

// A registered account: its key and its URL (the JWS "kid"). Immutable and
// therefore shareable between threads.
class Account {
public:
    Account(std::shared_ptr<const core::PrivateKey> key, std::string url);

    const core::PrivateKey& key() const { return *key_; }
    const std::shared_ptr<const core::PrivateKey>& key_ptr() const { return key_; }
    const std::string& url() const { return url_; }
    // RFC 7638 thumbprint of the account key (for key authorizations).
    const std::string& thumbprint() const { return thumbprint_; }
    Signer signer() const { return Signer{key_.get(), url_}; }

private:
    std::shared_ptr<const core::PrivateKey> key_;
    std::string url_;
    std::string thumbprint_;
};

// RFC 8555 §7.3.1: onlyReturnExisting. ErrorKind::not_found when the CA has
// no account for this key.
core::Result<Account> find_account(Transport& transport, std::shared_ptr<const core::PrivateKey> key,
                                   const core::Deadline& deadline);

// onlyReturnExisting first; when there is none, newAccount with the contact,
// termsOfServiceAgreed (only when agreed) and the EAB when given (§7.3, §7.3.4).
core::Result<Account> find_or_create_account(Transport& transport, std::shared_ptr<const core::PrivateKey> key,
                                             const AccountOptions& options, const core::Deadline& deadline);

// RFC 8555 §7.3.5: replaces the account key; returns the account with the new key.
core::Result<Account> roll_over_key(Transport& transport, const Account& account,
                                    std::shared_ptr<const core::PrivateKey> new_key, const core::Deadline& deadline);

// RFC 8555 §7.3.6: deactivates the account (irreversible).
core::Status deactivate_account(Transport& transport, const Account& account, const core::Deadline& deadline);

// What is persisted about an account. `key_pem` is secret.
struct StoredAccount {
    std::string key_pem;
    std::string url;     // may be empty: key known, registration to be found
    std::string server;  // directory URL it belongs to
};

// Persistence of the account, chosen by the caller (local file here, Secrets
// Manager elsewhere). Implementations must be safe to call from one thread at
// a time; load_or_register() is the only caller in the ACME library.
class AccountStore {
public:
    virtual ~AccountStore();
    // nullopt when nothing is stored yet.
    virtual core::Result<std::optional<StoredAccount>> load() = 0;
    virtual core::Status save(const StoredAccount& account) = 0;
};

// A JSON file {"server","url","key_pem"} written atomically with mode 0600
// (account_file.cpp).
std::unique_ptr<AccountStore> make_file_account_store(std::string path);

// The run's account: the stored one for this server when there is one (its
// cached URL is used as is), else find-or-create with the stored key or a new
// key of `key_type`; saves what changed.
core::Result<Account> load_or_register(Transport& transport, AccountStore& store, const AccountOptions& options,
                                       core::KeyType key_type, const core::Deadline& deadline);

}  // namespace acme
