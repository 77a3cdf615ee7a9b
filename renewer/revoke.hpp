// `renewer revoke --cert NAME --reason REASON [--with-cert-key]`
// (docs/commands.md): revokes the certificate a store holds (RFC 8555 §7.6)
// and records the revocation in its bundle, so the next run replaces it.
#pragma once

#include <string>
#include <string_view>

#include "acme/order.hpp"
#include "core/result.hpp"
#include "renewer/run.hpp"

namespace renewer {

// An RFC 5280 §5.3.1 reason name (case-insensitive: "keyCompromise",
// "keycompromise") to its code. Only the reasons RFC 8555 §7.6 CAs accept
// from a subscriber; any other name is an error listing those.
core::Result<acme::RevocationReason> parse_revocation_reason(std::string_view name);
const char* to_string(acme::RevocationReason reason);

enum class RevokeSigner { account, certificate_key };

// `id`: the configured certificate's id (its "name", by default its first
// domain); empty when the configuration has exactly one certificate.
int revoke_command(const RunSettings& settings, const std::string& id, acme::RevocationReason reason,
                   RevokeSigner signer);

}  // namespace renewer
