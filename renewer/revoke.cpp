#include "renewer/revoke.hpp"

#include <array>
#include <chrono>
#include <iostream>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base64.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "renewer/account_command.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/issue.hpp"
#include "renewer/prepare.hpp"
#include "secrets/store.hpp"

namespace renewer {
namespace {

using Json = nlohmann::json;
using acme::RevocationReason;

constexpr auto k_revoke_request_time = std::chrono::seconds(60);

constexpr std::array<std::pair<RevocationReason, const char*>, 5> k_reasons = {{
    {RevocationReason::unspecified, "unspecified"},
    {RevocationReason::key_compromise, "keyCompromise"},
    {RevocationReason::affiliation_changed, "affiliationChanged"},
    {RevocationReason::superseded, "superseded"},
    {RevocationReason::cessation_of_operation, "cessationOfOperation"},
}};

const CertificateConfig* find_certificate(const Config& config, const std::string& id, std::string& error) {
    if (id.empty() && config.certificates.size() == 1) {
        return &config.certificates.front();
    }
    std::string known;
    for (const auto& certificate : config.certificates) {
        if (certificate.id == id) {
            return &certificate;
        }
        known += (known.empty() ? "" : ", ") + certificate.id;
    }
    error = id.empty() ? fmt::format("--cert: which certificate? the configuration has {}", known)
                       : fmt::format("--cert {}: no such certificate in the configuration (it has {})", id, known);
    return nullptr;
}

// RFC 8555 §7.6: signed by the account (kid) or by the certificate's own
// key with its JWK. `owner_key` keeps that key alive for the signer.
core::Status post_revocation(acme::Transport& transport, const acme::Signer& signer, const std::string& der,
                             RevocationReason reason) {
    const Json payload = {{"certificate", core::base64url_encode(der)}, {"reason", static_cast<int>(reason)}};
    auto response = transport.post(signer, transport.directory().revoke_cert, payload.dump(),
                                   core::Deadline::after(k_revoke_request_time));
    if (!response) {
        return response.error().wrap("revocation");
    }
    return {};
}

core::Status revoke_at_ca(const RunSettings& settings, acme::Transport& transport, const secrets::Bundle& bundle,
                          RevocationReason reason, RevokeSigner how) {
    TRY_ASSIGN(const auto leaf, core::Certificate::from_pem(bundle.certificate));
    const std::string der = leaf.to_der();
    if (how == RevokeSigner::certificate_key) {
        TRY_ASSIGN(const auto key, core::PrivateKey::from_pem(bundle.private_key));
        return post_revocation(transport, acme::Signer{&key, ""}, der, reason);
    }
    TRY_ASSIGN(auto found, find_stored_account(settings, transport.directory().url));
    TRY_ASSIGN(const auto account, open_account(transport, found, core::Deadline::after(k_revoke_request_time)));
    return post_revocation(transport, account.signer(), der, reason);
}

int revoke_stored(const RunSettings& settings, secrets::Store& store, RevocationReason reason, RevokeSigner how) {
    auto current = store.get();
    if (!current || !*current) {
        core::log::error("revoke: no certificate to revoke in " + store.describe() +
                         (current ? "" : ": " + current.error().message));
        return k_exit_failed;
    }
    secrets::Bundle bundle = std::move(**current);
    std::string error;
    auto transport = connect_ca(settings, error, core::Deadline::after(k_revoke_request_time));
    if (!transport) {
        core::log::error("revoke: the CA: " + error);
        return k_exit_failed;
    }
    if (auto revoked = revoke_at_ca(settings, **transport, bundle, reason, how); !revoked) {
        // RFC 8555 §6.7 alreadyRevoked: the goal is reached; still record it.
        if (revoked.error().code != "alreadyRevoked") {
            core::log::error("revoke: " + revoked.error().message, {{"store", store.describe()}});
            return k_exit_failed;
        }
        core::log::warn("revoke: the CA says the certificate was revoked already", {{"store", store.describe()}});
    }
    bundle.revoked_at = core::format_time(std::chrono::system_clock::now());
    bundle.revocation_reason = to_string(reason);
    if (auto saved = store.put(bundle); !saved) {
        core::log::error("revoke: revoked at the CA but not recorded in " + store.describe() + ": " +
                         saved.error().message + " (`renewer run --force` replaces it)");
        return k_exit_failed;
    }
    const Json out = {{"store", store.describe()},
                      {"serial", bundle.serial},
                      {"revoked_at", bundle.revoked_at},
                      {"reason", bundle.revocation_reason},
                      {"signed_with", how == RevokeSigner::account ? "account key" : "certificate key"}};
    std::cout << out.dump() << "\n";
    return k_exit_ok;
}

}  // namespace

core::Result<RevocationReason> parse_revocation_reason(std::string_view name) {
    std::string names;
    for (const auto& [code, text] : k_reasons) {
        if (core::ascii_lower(name) == core::ascii_lower(text)) {
            return code;
        }
        names += (names.empty() ? "" : ", ") + std::string(text);
    }
    return core::make_error(core::ErrorKind::invalid_input,
                            fmt::format("--reason {}: not a reason a subscriber may give (RFC 5280 §5.3.1, "
                                        "RFC 8555 §7.6); one of {}",
                                        name, names));
}

const char* to_string(RevocationReason reason) {
    for (const auto& [code, text] : k_reasons) {
        if (code == reason) {
            return text;
        }
    }
    return "unspecified";
}

int revoke_command(const RunSettings& settings, const std::string& id, RevocationReason reason, RevokeSigner signer) {
    std::string error;
    const auto* certificate = find_certificate(settings.config, id, error);
    if (certificate == nullptr) {
        core::log::error("revoke: " + error);
        return k_exit_bad_config;
    }
    auto store = secrets::make_store(certificate->store.spec, store_config_for(certificate->store));
    if (!store) {
        core::log::error("revoke: " + store.error().message, {{"certificate", certificate->id}});
        return k_exit_bad_config;
    }
    return revoke_stored(settings, **store, reason, signer);
}

}  // namespace renewer
