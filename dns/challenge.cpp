#include "dns/challenge.hpp"

#include "dns/wire.hpp"

namespace dns {

std::string challenge_fqdn(std::string_view domain) {
    if (domain.starts_with("*.")) {
        domain.remove_prefix(2);
    }
    // RFC 8555 §8.4: prepend the label "_acme-challenge" to the domain name being validated.
    return wire::canonical_name("_acme-challenge." + std::string(domain));
}

}  // namespace dns
