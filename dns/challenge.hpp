// The only place where DNS-01 meets ACME (RFC 8555 §8.4): the record name
// and the TXT value for a domain and a key authorization. Providers never
// see key authorizations (docs/architecture.md#layers).
#pragma once

#include <string>
#include <string_view>

namespace dns {

// "_acme-challenge.<domain>." with a leading "*." removed and one trailing
// dot; lower-cased (DNS names compare case-insensitively, RFC 4343).
// "*.Example.com" -> "_acme-challenge.example.com."
std::string challenge_fqdn(std::string_view domain);

// base64url(SHA-256(key_authorization)), no padding (RFC 8555 §8.4).
std::string txt_value(std::string_view key_authorization);

}  // namespace dns
