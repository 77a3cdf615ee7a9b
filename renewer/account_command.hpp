// `renewer account show|rollover|deactivate` (docs/commands.md), and the
// lookup of the stored account that `renewer revoke` shares with them: each
// acts on the account a run would use (renewer/account_store.hpp) and none
// registers a new one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "acme/account.hpp"
#include "acme/transport.hpp"
#include "renewer/account_store.hpp"
#include "renewer/run.hpp"
#include "secrets/store.hpp"

namespace renewer {

// The account a run would use, as stored: the place it is kept (where a new
// key is written back), every record there, and which record it is.
struct FoundAccount {
    std::vector<std::unique_ptr<secrets::Store>> certificate_stores;
    AccountStores stores;
    acme::AccountStore* place = nullptr;
    std::vector<acme::StoredAccount> records;
    std::size_t index = 0;
};

// The stored account for the transport's CA; an error naming where it looked
// when there is none (the run registers one; these commands never do).
core::Result<FoundAccount> find_stored_account(const RunSettings& settings, const std::string& server);

// The found record as an Account; a record without a URL is looked up with
// onlyReturnExisting (RFC 8555 §7.3.1).
core::Result<acme::Account> open_account(acme::Transport& transport, const FoundAccount& found,
                                         const core::Deadline& deadline);

enum class AccountAction { show, rollover, deactivate };

int account_command(const RunSettings& settings, AccountAction action);

}  // namespace renewer
