// AccountStore over a local JSON file (mode 0600, atomic replace).
#include <utility>

#include "acme/account.hpp"
#include "core/atomic_file.hpp"

namespace acme {
namespace {

class FileAccountStore final : public AccountStore {
public:
    explicit FileAccountStore(std::string path) : path_(std::move(path)) {}

    core::Result<std::optional<StoredAccount>> load() override {
        auto text = core::read_file(path_);
        if (!text.ok()) {
            if (text.error().kind == core::ErrorKind::not_found) {
                return std::optional<StoredAccount>{};
            }
            return text.error().wrap("account file " + path_);
        }
        Json doc = Json::parse(*text, nullptr, false);
        if (!doc.is_object() || !doc.contains("key_pem") || !doc["key_pem"].is_string()) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    "account file " + path_ + ": not a JSON object with key_pem");
        }
        StoredAccount account;
        account.key_pem = doc["key_pem"].get<std::string>();
        account.url = doc.value("url", "");
        account.server = doc.value("server", "");
        return std::optional<StoredAccount>(std::move(account));
    }

    core::Status save(const StoredAccount& account) override {
        const Json doc = {{"server", account.server}, {"url", account.url}, {"key_pem", account.key_pem}};
        core::FileOptions options;
        options.mode = 0600;
        auto status = core::write_file_atomic(path_, doc.dump(2) + "\n", options);
        if (!status.ok()) {
            return status.error().wrap("account file " + path_);
        }
        return {};
    }

private:
    std::string path_;
};

}  // namespace

std::unique_ptr<AccountStore> make_file_account_store(std::string path) {
    return std::make_unique<FileAccountStore>(std::move(path));
}

}  // namespace acme
