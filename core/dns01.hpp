// DNS-01 (RFC 8555 §8.4) as both acme/ and dns/ see it: the TXT value for a
// key authorization and the record to publish. Lives in core so neither
// layer needs the other.
#pragma once

#include <string>
#include <string_view>

namespace core {

// One dns-01 TXT record to publish at _acme-challenge.<domain>.
struct Dns01Challenge {
    // The name being validated; a leading "*." does not change the record
    // name (apex and wildcard share one, dns::challenge_fqdn).
    std::string domain;
    std::string value;  // the TXT value, dns01_txt_value(key authorization)
};

// base64url(SHA-256(key_authorization)), no padding (RFC 8555 §8.4).
std::string dns01_txt_value(std::string_view key_authorization);

}  // namespace core
