#include "renewer/account_store.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "renewer/run.hpp"

namespace renewer {
namespace {

// The ACME account kept inside a certificate store (a second secret, or a
// file in the folder), so a container with no disk keeps its account.
class StoreAccountStore final : public acme::AccountStore {
public:
    explicit StoreAccountStore(secrets::Store& store) : store_(store) {}

    core::Result<std::optional<acme::StoredAccount>> load() override {
        auto text = store_.get_account();
        if (!text) {
            return text.error();
        }
        if (!*text) {
            return std::optional<acme::StoredAccount>{};
        }
        const auto json = nlohmann::json::parse(**text, nullptr, false);
        if (json.is_discarded() || !json.is_object() || !json.contains("key_pem") || !json["key_pem"].is_string()) {
            return core::make_error(
                core::ErrorKind::invalid_input,
                fmt::format("{}: the stored ACME account is not valid JSON with a key_pem", store_.describe()));
        }
        acme::StoredAccount account;
        account.key_pem = json["key_pem"].get<std::string>();
        // Not json.value(): GCC's -Wnull-dereference false positive at -O2.
        for (auto [key, field] : {std::pair{"url", &account.url}, std::pair{"server", &account.server}}) {
            if (const auto it = json.find(key); it != json.end()) {
                if (const auto* value = it->get_ptr<const std::string*>()) {
                    *field = *value;
                }
            }
        }
        return std::optional<acme::StoredAccount>(std::move(account));
    }

    core::Status save(const acme::StoredAccount& account) override {
        const nlohmann::json json = {{"server", account.server}, {"url", account.url}, {"key_pem", account.key_pem}};
        return store_.put_account(json.dump());
    }

private:
    secrets::Store& store_;
};

}  // namespace

std::unique_ptr<acme::AccountStore> make_store_account_store(secrets::Store& store) {
    return std::make_unique<StoreAccountStore>(store);
}

std::unique_ptr<acme::AccountStore> account_store_for(const RunSettings& settings,
                                                      std::unique_ptr<secrets::Store>& holder,
                                                      secrets::Store* fallback) {
    if (!settings.account_file.empty()) {
        return acme::make_file_account_store(settings.account_file);
    }
    if (settings.config.account_store) {
        auto store = secrets::make_store(settings.config.account_store->spec);
        if (store) {
            holder = std::move(*store);
            return std::make_unique<StoreAccountStore>(*holder);
        }
        core::log::warn("account store unusable; using the first certificate's store",
                        {{"error", store.error().message}});
    }
    return std::make_unique<StoreAccountStore>(*fallback);
}

acme::AccountOptions account_options(const RunSettings& settings) {
    acme::AccountOptions options;
    options.email = settings.config.email;
    options.terms = settings.config.agree_tos ? acme::TermsOfService::agreed : acme::TermsOfService::not_agreed;
    if (!settings.config.eab.kid.empty()) {
        options.eab = acme::ExternalAccountBinding{settings.config.eab.kid, settings.config.eab.hmac_key};
    }
    return options;
}

}  // namespace renewer
