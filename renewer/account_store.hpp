// Where the run's ACME account lives (docs/stores.md#the-acme-account): a
// file (--account-file), the configuration's account store, or else the
// store of the first certificate of the configuration, whichever certificates
// are due. Accounts older versions kept beside another certificate are found
// there and adopted, never registered a second time.
#pragma once

#include <memory>
#include <vector>

#include "acme/account.hpp"
#include "secrets/store.hpp"

namespace renewer {

struct RunSettings;

// The accounts kept inside a certificate store (a second secret, or a file in
// the folder), in the JSON of acme::accounts_to_json().
std::unique_ptr<acme::AccountStore> make_store_account_store(secrets::Store& store);

// The run's account places: `home`, where the account is read and saved, and
// `elsewhere`, every certificate store an older version may have left one in.
struct AccountStores {
    std::unique_ptr<secrets::Store> holder;  // the configured account store, when one is opened
    std::unique_ptr<acme::AccountStore> home;
    std::vector<std::unique_ptr<acme::AccountStore>> elsewhere;

    std::vector<acme::AccountStore*> elsewhere_list() const;
};

// settings.account_file, else the configured account store, else the first
// of `certificate_stores` (the configuration's certificates in order, each
// null when its store could not be opened). Null home when there is none.
AccountStores account_stores_for(const RunSettings& settings, const std::vector<secrets::Store*>& certificate_stores);

// Contact, terms of service and external account binding from the configuration.
acme::AccountOptions account_options(const RunSettings& settings);

}  // namespace renewer
