// Where the run's ACME account lives: a file (--account-file), the
// configuration's account store, or beside the first due certificate's
// bundle, so a container with no disk keeps its account.
#pragma once

#include <memory>

#include "acme/account.hpp"
#include "secrets/store.hpp"

namespace renewer {

struct RunSettings;

// The account kept inside a certificate store (a second secret, or a file in
// the folder) as JSON {"server", "url", "key_pem"}.
std::unique_ptr<acme::AccountStore> make_store_account_store(secrets::Store& store);

// The run's account store: settings.account_file, else the configured account
// store (opened into `holder`), else `fallback`.
std::unique_ptr<acme::AccountStore> account_store_for(const RunSettings& settings,
                                                      std::unique_ptr<secrets::Store>& holder,
                                                      secrets::Store* fallback);

// Contact, terms of service and external account binding from the configuration.
acme::AccountOptions account_options(const RunSettings& settings);

}  // namespace renewer
