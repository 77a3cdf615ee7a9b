#include "renewer/account_store.hpp"

#include "core/log.hpp"
#include "renewer/run.hpp"

namespace renewer {
namespace {

// The ACME account kept inside a certificate store (a second secret, or a
// file in the folder), so a container with no disk keeps its account.
class StoreAccountStore final : public acme::AccountStore {
public:
    explicit StoreAccountStore(secrets::Store& store) : store_(store) {}

    core::Result<std::vector<acme::StoredAccount>> load() override {
        auto text = store_.get_account();
        if (!text) {
            return text.error();
        }
        if (!*text) {
            return std::vector<acme::StoredAccount>{};
        }
        return acme::accounts_from_json(**text, describe());
    }

    core::Status save(const std::vector<acme::StoredAccount>& accounts) override {
        return store_.put_account(acme::accounts_to_json(accounts));
    }

    std::string describe() const override { return "the account beside " + store_.describe(); }

private:
    secrets::Store& store_;
};

}  // namespace

std::unique_ptr<acme::AccountStore> make_store_account_store(secrets::Store& store) {
    return std::make_unique<StoreAccountStore>(store);
}

std::vector<acme::AccountStore*> AccountStores::elsewhere_list() const {
    std::vector<acme::AccountStore*> list;
    list.reserve(elsewhere.size());
    for (const auto& store : elsewhere) {
        list.push_back(store.get());
    }
    return list;
}

AccountStores account_stores_for(const RunSettings& settings, const std::vector<secrets::Store*>& certificate_stores) {
    AccountStores stores;
    if (!settings.account_file.empty()) {
        stores.home = acme::make_file_account_store(settings.account_file);
    } else if (settings.config.account_store) {
        auto store = secrets::make_store(settings.config.account_store->spec);
        if (store) {
            stores.holder = std::move(*store);
            stores.home = std::make_unique<StoreAccountStore>(*stores.holder);
        } else {
            core::log::warn("account store unusable; using the first certificate's store",
                            {{"error", store.error().message}});
        }
    }
    for (auto* store : certificate_stores) {
        if (store == nullptr) {
            continue;
        }
        // Not by position among the due ones: the same certificate every run.
        if (!stores.home) {
            stores.home = std::make_unique<StoreAccountStore>(*store);
        } else {
            stores.elsewhere.push_back(std::make_unique<StoreAccountStore>(*store));
        }
    }
    return stores;
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
