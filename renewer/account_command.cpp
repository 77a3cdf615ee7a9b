#include "renewer/account_command.hpp"

#include <chrono>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "acme/jws.hpp"
#include "core/log.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/issue.hpp"
#include "renewer/prepare.hpp"

namespace renewer {
namespace {

using Json = nlohmann::json;

constexpr auto k_account_request_time = std::chrono::seconds(60);

std::optional<std::size_t> matching_record(const std::vector<acme::StoredAccount>& records, const std::string& server,
                                           const acme::AccountOptions& options) {
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (!records[i].key_pem.empty() && acme::account_matches(records[i], server, options)) {
            return i;
        }
    }
    return std::nullopt;
}

// Looks in `place`; true when the account is there (`found` filled in).
core::Result<bool> look_in(acme::AccountStore& place, const std::string& server, const acme::AccountOptions& options,
                           FoundAccount& found) {
    auto records = place.load();
    if (!records) {
        return records.error().wrap(place.describe());
    }
    const auto index = matching_record(*records, server, options);
    if (!index) {
        return false;
    }
    found.place = &place;
    found.records = std::move(*records);
    found.index = *index;
    return true;
}

// The CA's view of the account (RFC 8555 §7.3: POST-as-GET to its URL).
core::Result<Json> fetch_account(acme::Transport& transport, const acme::Account& account) {
    auto response = transport.post(account.signer(), account.url(), "", core::Deadline::after(k_account_request_time));
    if (!response) {
        return response.error().wrap("account");
    }
    auto body = Json::parse(response->body, nullptr, false);
    if (!body.is_object()) {
        return core::make_error(core::ErrorKind::protocol, "account: the CA's answer is not a JSON object");
    }
    return body;
}

int show(acme::Transport& transport, const FoundAccount& found, const acme::Account& account) {
    auto remote = fetch_account(transport, account);
    if (!remote) {
        core::log::error("account show: " + remote.error().message);
        return k_exit_failed;
    }
    const Json out = {{"url", account.url()},
                      {"server", transport.directory().url},
                      {"status", remote->value("status", "")},
                      {"contact", remote->value("contact", Json::array())},
                      {"key_type", core::to_string(account.key().type())},
                      {"thumbprint", account.thumbprint()},
                      {"stored_in", found.place->describe()}};
    std::cout << out.dump() << "\n";
    return k_exit_ok;
}

// Writes the records back; a failure is retried, since after a key change
// the record on disk is the only copy of the key the CA now knows.
core::Status save_records(FoundAccount& found) {
    core::Status saved;
    for (int attempt = 0; attempt < 3; ++attempt) {
        saved = found.place->save(found.records);
        if (saved) {
            return saved;
        }
    }
    return saved;
}

int rollover(const RunSettings& settings, acme::Transport& transport, FoundAccount& found,
             const acme::Account& account) {
    auto fresh = core::PrivateKey::generate(settings.account_key_type);
    if (!fresh) {
        core::log::error("account rollover: " + fresh.error().message);
        return k_exit_failed;
    }
    // RFC 8555 §7.3.5. The stored record keeps the old key until the CA has
    // accepted the new one: a refused or lost request leaves a working account.
    auto rolled = acme::roll_over_key(transport, account, std::make_shared<const core::PrivateKey>(std::move(*fresh)),
                                      core::Deadline::after(k_account_request_time));
    if (!rolled) {
        core::log::error("account rollover: " + rolled.error().message + "; the stored key is unchanged",
                         {{"stored_in", found.place->describe()}});
        return k_exit_failed;
    }
    found.records[found.index].key_pem = rolled->key().to_pem();
    found.records[found.index].url = rolled->url();
    if (auto saved = save_records(found); !saved) {
        // The CA knows only the new key now; say so loudly, with the key's
        // thumbprint (never the key) so an operator can match a backup.
        core::log::error(
            "account rollover: the CA accepted the new key but it could not be stored: " + saved.error().message,
            {{"stored_in", found.place->describe()}, {"new_thumbprint", rolled->thumbprint()}});
        return k_exit_failed;
    }
    const Json out = {{"url", rolled->url()},
                      {"old_thumbprint", account.thumbprint()},
                      {"new_thumbprint", rolled->thumbprint()},
                      {"stored_in", found.place->describe()}};
    std::cout << out.dump() << "\n";
    return k_exit_ok;
}

int deactivate(acme::Transport& transport, FoundAccount& found, const acme::Account& account) {
    if (auto done = acme::deactivate_account(transport, account, core::Deadline::after(k_account_request_time));
        !done) {
        core::log::error("account deactivate: " + done.error().message);
        return k_exit_failed;
    }
    // A deactivated account can do nothing (RFC 8555 §7.3.6): its record is
    // dropped so the next run registers a new account with a new key.
    found.records.erase(found.records.begin() + static_cast<std::ptrdiff_t>(found.index));
    if (auto saved = save_records(found); !saved) {
        core::log::error("account deactivate: deactivated at the CA, but the record could not be removed from " +
                         found.place->describe() + ": " + saved.error().message);
        return k_exit_failed;
    }
    const Json out = {{"url", account.url()}, {"status", "deactivated"}, {"removed_from", found.place->describe()}};
    std::cout << out.dump() << "\n";
    return k_exit_ok;
}

}  // namespace

core::Result<FoundAccount> find_stored_account(const RunSettings& settings, const std::string& server) {
    FoundAccount found;
    std::vector<secrets::Store*> pointers;
    for (const auto& certificate : settings.config.certificates) {
        auto store = secrets::make_store(certificate.store.spec, store_config_for(certificate.store));
        found.certificate_stores.push_back(store ? std::move(*store) : nullptr);
        pointers.push_back(found.certificate_stores.back().get());
    }
    found.stores = account_stores_for(settings, pointers);
    if (!found.stores.home) {
        return core::make_error(core::ErrorKind::invalid_input, "no place for an ACME account is configured");
    }
    const auto options = account_options(settings);
    std::vector<acme::AccountStore*> places{found.stores.home.get()};
    for (auto* other : found.stores.elsewhere_list()) {
        places.push_back(other);
    }
    for (auto* place : places) {
        auto here = look_in(*place, server, options, found);
        if (!here) {
            return here.error();
        }
        if (*here) {
            return found;
        }
    }
    return core::make_error(core::ErrorKind::not_found,
                            fmt::format("no ACME account for {} in {} (`renewer run` registers one)", server,
                                        found.stores.home->describe()));
}

core::Result<acme::Account> open_account(acme::Transport& transport, const FoundAccount& found,
                                         const core::Deadline& deadline) {
    const auto& record = found.records[found.index];
    auto key = core::PrivateKey::from_pem(record.key_pem);
    if (!key) {
        return key.error().wrap("the account key in " + found.place->describe());
    }
    auto shared = std::make_shared<const core::PrivateKey>(std::move(*key));
    if (!record.url.empty()) {
        return acme::Account(shared, record.url);
    }
    return acme::find_account(transport, shared, deadline);
}

int account_command(const RunSettings& settings, AccountAction action) {
    std::string error;
    auto transport = connect_ca(settings, error, core::Deadline::after(k_account_request_time));
    if (!transport) {
        core::log::error("account: the CA: " + error);
        return k_exit_failed;
    }
    auto found = find_stored_account(settings, (*transport)->directory().url);
    if (!found) {
        core::log::error("account: " + found.error().message);
        return k_exit_failed;
    }
    auto account = open_account(**transport, *found, core::Deadline::after(k_account_request_time));
    if (!account) {
        core::log::error("account: " + account.error().message);
        return k_exit_failed;
    }
    switch (action) {
        case AccountAction::show: return show(**transport, *found, *account);
        case AccountAction::rollover: return rollover(settings, **transport, *found, *account);
        case AccountAction::deactivate: return deactivate(**transport, *found, *account);
    }
    return k_exit_failed;
}

}  // namespace renewer
