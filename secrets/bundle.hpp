// The certificate bundle: one JSON object per certificate, the secret
// format of docs/stores.md#the-secret-format. Its `certificate` and `private_key` keys are what the
// existing consumers read; the rest is metadata derived from the leaf.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/x509.hpp"

namespace secrets {

struct Bundle {
    std::string certificate;           // leaf + intermediates, PEM
    std::string private_key;           // PKCS#8 PEM (never logged)
    std::string chain;                 // intermediates only, PEM; empty for a leaf without intermediates
    std::vector<std::string> domains;  // the leaf's subjectAltName dNSNames, in order
    // Metadata, all derived from the leaf by build_bundle(). An empty value
    // means "not recorded" (a bundle written by another tool) and is not checked.
    std::string not_before;  // RFC 3339 UTC
    std::string not_after;   // RFC 3339 UTC
    std::string serial;      // lower-case hex (core::CertInfo::serial_hex)
    std::string issuer;      // RFC 2253 one-line issuer (core::CertInfo::issuer)
    std::string key_type;    // "ec256", "rsa2048", ... (core::to_string(KeyType))
    std::string renewed_at;  // RFC 3339 UTC, when this bundle was issued/stored
    // The URL of the ACME account that ordered it (RFC 8555 §7.3), so a
    // renewal names it in `replaces` (RFC 9773 §5) only from the same
    // account; empty in bundles of other tools and older versions.
    std::string account;
    // Set by `renewer revoke` (RFC 8555 §7.6) once the CA accepted the
    // revocation: when (RFC 3339 UTC) and the RFC 5280 §5.3.1 reason name.
    // A revoked certificate is due (renewer/plan.cpp); empty = not revoked.
    std::string revoked_at;
    std::string revocation_reason;

    bool operator==(const Bundle&) const = default;
};

// Compact JSON text of the bundle, keys in the order of docs/stores.md#the-secret-format.
std::string to_json(const Bundle& bundle);

// Parses the JSON text of a bundle. `certificate` and `private_key` are
// required non-empty strings; every other field may be absent but must have
// its type when present. Unknown keys are ignored (forward compatibility).
// Errors (ErrorKind::invalid_input) name the field: "bundle: field
// \"private_key\" is missing". The message never quotes the text itself.
// Its errors carry the code k_unreadable_bundle, which tells a stored value
// that is there but broken from a store that cannot be reached.
core::Result<Bundle> parse_bundle(std::string_view json_text);
inline constexpr const char* k_unreadable_bundle = "UnreadableBundle";

// A bundle from what the CA returned: `fullchain_pem` (leaf first), the
// certificate's private key (any PEM form; stored as PKCS#8) and when it was
// renewed. Metadata (domains, validity, serial, issuer, chain) comes from the
// certificate. `key_type` empty = taken from the key. Fails when the PEM does
// not parse or the key does not match the leaf.
core::Result<Bundle> build_bundle(std::string_view fullchain_pem, std::string_view key_pem, std::string_view key_type,
                                  core::SystemTime renewed_at);

struct VerifyOptions {
    std::string expect_name;              // empty = no name required
    std::optional<core::SystemTime> now;  // empty = the system clock
    // When not empty, the chain must verify up to one of these roots (core::verify_chain).
    std::vector<core::Certificate> roots;
    // A certificate whose notBefore is at most this far ahead of `now` counts
    // as valid: CAs backdate little or not at all, and a host clock a little
    // slow must not reject what the CA just issued.
    std::chrono::seconds not_before_tolerance{0};
};

// The tolerance renewer allows for a slow local clock (docs/stores.md#verification).
inline constexpr std::chrono::seconds k_clock_skew_tolerance{300};

// Checks that a bundle is safe to serve: the certificate chain parses, the
// private key parses and matches the leaf, notBefore <= now < notAfter,
// `expect_name` is covered by the leaf's names (RFC 6125 §6.4.3 wildcard
// rule), `chain` equals the certificate's intermediates, and every recorded
// metadata field agrees with the leaf. The first failure is returned
// (ErrorKind::invalid_input, or crypto for a key mismatch), naming the field.
core::Status verify_bundle(const Bundle& bundle, const VerifyOptions& options = {});

// RFC 6125 §6.4.3 as the CA/Browser Forum applies it: case-insensitive, a
// trailing dot ignored; "*.example.com" covers exactly one extra leftmost
// label ("www.example.com", not "example.com" nor "a.b.example.com"). A
// wildcard `name` is covered only by the identical wildcard `pattern`.
bool name_matches(std::string_view pattern, std::string_view name);

// The intermediates of a full chain as PEM (every certificate after the
// first), or an error when the text does not parse.
core::Result<std::string> intermediates_pem(std::string_view fullchain_pem);

}  // namespace secrets
