// Where DNS-01 meets ACME (RFC 8555 §8.4): the record name for a domain.
// Providers never see key authorizations (docs/architecture.md#layers).
#pragma once

#include <string>
#include <string_view>

namespace dns {

// "_acme-challenge.<domain>." with a leading "*." removed and one trailing
// dot; lower-cased (DNS names compare case-insensitively, RFC 4343).
// "*.Example.com" -> "_acme-challenge.example.com."
std::string challenge_fqdn(std::string_view domain);

// The TXT value is core::dns01_txt_value (core/dns01.hpp).

}  // namespace dns
