// Account records as JSON, and an AccountStore over a local JSON file (mode
// 0600, atomic replace).
#include <utility>

#include "acme/account.hpp"
#include "core/atomic_file.hpp"

namespace acme {
namespace {

Json record_json(const StoredAccount& account) {
    return {
        {"server", account.server}, {"eab_kid", account.eab_kid}, {"url", account.url}, {"key_pem", account.key_pem}};
}

std::string text_field(const Json& object, const char* key) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_string()) {
        return {};
    }
    return it->get<std::string>();
}

core::Result<StoredAccount> record_from_json(const Json& object, const std::string& where) {
    const auto key = object.is_object() ? object.find("key_pem") : object.end();
    if (!object.is_object() || key == object.end() || !key->is_string()) {
        return core::make_error(core::ErrorKind::invalid_input,
                                where + ": the stored ACME account is not a JSON object with key_pem");
    }
    StoredAccount account;
    account.key_pem = key->get<std::string>();
    account.url = text_field(object, "url");
    account.server = text_field(object, "server");
    account.eab_kid = text_field(object, "eab_kid");
    return account;
}

class FileAccountStore final : public AccountStore {
public:
    explicit FileAccountStore(std::string path) : path_(std::move(path)) {}

    core::Result<std::vector<StoredAccount>> load() override {
        auto text = core::read_file(path_);
        if (!text.ok()) {
            if (text.error().kind == core::ErrorKind::not_found) {
                return std::vector<StoredAccount>{};
            }
            return text.error().wrap(describe());
        }
        return accounts_from_json(*text, describe());
    }

    core::Status save(const std::vector<StoredAccount>& accounts) override {
        core::FileOptions options;
        options.mode = 0600;
        auto status = core::write_file_atomic(path_, accounts_to_json(accounts) + "\n", options);
        if (!status.ok()) {
            return status.error().wrap(describe());
        }
        return {};
    }

    std::string describe() const override { return "account file " + path_; }

private:
    std::string path_;
};

}  // namespace

std::string accounts_to_json(const std::vector<StoredAccount>& accounts) {
    if (accounts.size() == 1) {
        return record_json(accounts.front()).dump(2);
    }
    Json list = Json::array();
    for (const auto& account : accounts) {
        list.push_back(record_json(account));
    }
    return Json{{"accounts", list}}.dump(2);
}

core::Result<std::vector<StoredAccount>> accounts_from_json(std::string_view text, const std::string& where) {
    // The parser's own message is not used: it may quote the key.
    const Json doc = Json::parse(text, nullptr, false);
    std::vector<StoredAccount> accounts;
    if (doc.is_object() && doc.contains("accounts")) {
        const Json& list = doc["accounts"];
        if (!list.is_array()) {
            return core::make_error(core::ErrorKind::invalid_input, where + ": \"accounts\" is not a JSON array");
        }
        for (const auto& item : list) {
            TRY_ASSIGN(auto account, record_from_json(item, where));
            accounts.push_back(std::move(account));
        }
        return accounts;
    }
    TRY_ASSIGN(auto account, record_from_json(doc, where));
    accounts.push_back(std::move(account));
    return accounts;
}

std::unique_ptr<AccountStore> make_file_account_store(std::string path) {
    return std::make_unique<FileAccountStore>(std::move(path));
}

}  // namespace acme
