// Certificate names: normalization (IDN to punycode, case, trailing dot),
// validation (RFC 1035 §2.3.1 host names, RFC 5890/5891 IDNA2008 labels) and
// the allowlist of names an operator permits. Everything here is pure and runs
// before any network call (docs/configuration.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace renewer {

constexpr std::size_t k_max_name_length = 253;            // RFC 1035 §2.3.4, without the root dot
constexpr std::size_t k_max_label_length = 63;            // RFC 1035 §2.3.4
constexpr std::size_t k_max_names_per_certificate = 100;  // Let's Encrypt's limit on identifiers per order

// Turns what an operator typed into the name we order, or says what is wrong:
//   - one trailing dot is dropped ("example.com." -> "example.com");
//   - ASCII is lower-cased; a name with non-ASCII characters is converted to
//     its A-label form with libidn2 (UTS #46 non-transitional processing,
//     falling back to transitional): "bücher.example" -> "xn--bcher-kva.example";
//   - the result must be a host name: at most 253 characters, at least two
//     labels, each 1..63 letters, digits or hyphens, not starting or ending with
//     a hyphen, "--" in positions 3-4 only for valid "xn--" A-labels, and a
//     top-level label that is not all digits (no IP addresses);
//   - a wildcard is allowed only as the whole leftmost label, above at least
//     two labels ("*.example.com"); "*", "*.com", "a.*.example.com" and
//     "*foo.example.com" are refused.
// Errors are ErrorKind::invalid_input with a message that quotes `input`.
core::Result<std::string> normalize_name(std::string_view input);

// True when `name` starts with "*." (a wildcard name, already normalized).
bool is_wildcard(std::string_view name);

// Allowlist entries (normalized with normalize_allow_entry):
//   "example.com"    exactly this name, nothing else (not "*.example.com",
//                    not "www.example.com");
//   ".example.com"   any name strictly below example.com, wildcards included:
//   "*.example.com"  "www.example.com", "a.b.example.com", "*.example.com",
//                    "*.a.example.com"; the two spellings mean the same.
//                    The apex "example.com" itself is NOT included: list it too.
// `name_allowed` expects a normalized name; an empty list allows every name
// (no allowlist configured).
bool name_allowed(std::string_view name, const std::vector<std::string>& allow);

// Normalizes one allowlist entry (IDN, case, trailing dot) and returns it in
// the canonical form "example.com" or ".example.com" ("*.example.com" becomes
// ".example.com").
core::Result<std::string> normalize_allow_entry(std::string_view entry);

// Normalizes every name of one certificate and checks the set: at least one
// name, at most k_max_names_per_certificate, no duplicate after normalization
// ("Example.com" and "example.com." are the same name), every name permitted
// by `allow` (entries already normalized). Order is kept: the first name names
// the certificate.
core::Result<std::vector<std::string>> normalize_certificate_names(const std::vector<std::string>& names,
                                                                   const std::vector<std::string>& allow);

// The same checks without the result; the flag path (-d NAME) uses it.
core::Status validate_certificate_names(const std::vector<std::string>& names, const std::vector<std::string>& allow);

}  // namespace renewer
