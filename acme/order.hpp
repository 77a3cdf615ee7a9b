// ACME resources (RFC 8555 §7.1, §7.4-§7.6): orders, authorizations,
// challenges, finalization, certificate download with alternate chains,
// revocation. Each function is one protocol step over the Transport; the
// whole flow lives in obtain.hpp.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/account.hpp"
#include "acme/status.hpp"
#include "acme/transport.hpp"
#include "core/result.hpp"
#include "core/retry.hpp"

namespace acme {

struct Identifier {
    std::string type = "dns";
    std::string value;
};

struct Challenge {
    std::string type;  // "dns-01", "http-01", ...
    std::string url;
    std::string token;
    ResourceStatus status = ResourceStatus::pending;  // pending, processing, valid, invalid
    std::optional<core::Error> error;
};

// RFC 8555 §7.1.4.
struct Authorization {
    std::string url;
    Identifier identifier;                            // without "*." for wildcards
    ResourceStatus status = ResourceStatus::pending;  // pending, valid, invalid, deactivated, expired, revoked
    bool wildcard = false;
    std::vector<Challenge> challenges;
    std::chrono::milliseconds retry_after{0};

    // The identifier as it was ordered: "*.example.test" for wildcards.
    std::string name() const { return wildcard ? "*." + identifier.value : identifier.value; }
    const Challenge* challenge(std::string_view type) const;
    // The first challenge error, when the authorization failed.
    std::optional<core::Error> error() const;
};

// RFC 8555 §7.1.3.
struct Order {
    std::string url;
    ResourceStatus status = ResourceStatus::pending;  // pending, ready, processing, valid, invalid
    std::vector<Identifier> identifiers;
    std::vector<std::string> authorizations;
    std::string finalize;
    std::string certificate;
    std::string profile;
    std::string replaces;
    std::optional<core::Error> error;
    std::chrono::milliseconds retry_after{0};
};

struct NewOrderRequest {
    std::vector<std::string> names;  // "*.example.test" allowed (RFC 8555 §7.1.3)
    std::string replaces;            // RFC 9773 §5 certificate identifier, "" = none
    std::string profile;             // "" = CA default
};

// RFC 8555 §7.4 newOrder. With `profile`, fails with a clear error naming
// the profile and the offered ones when the directory does not advertise it.
// With `replaces`, when the CA answers any 4xx other than rateLimited and
// badNonce (alreadyReplaced, malformed, Boulder's unauthorized for another
// account's certificate), retries ONCE without it and logs a warning saying
// so (RFC 9773 §5).
core::Result<Order> new_order(Transport& transport, const Account& account, const NewOrderRequest& request,
                              const core::Deadline& deadline);

// The directory's profile check alone (RFC: draft-aaron-acme-profiles §3).
core::Status check_profile(const Directory& directory, std::string_view profile);

// The JSON bodies of an order (§7.1.3) and an authorization (§7.1.4) as pure
// functions: what fetch_order/fetch_authorization read (fuzzed in tests/fuzz).
// An error when the body is not a JSON object or a status is missing or not
// one of RFC 8555 §7.1.6 (naming it); other members of the wrong type are
// read as absent.
core::Result<Order> parse_order(std::string_view body, std::string url,
                                std::chrono::milliseconds retry_after = std::chrono::milliseconds{0});
core::Result<Authorization> parse_authorization(std::string_view body, std::string url,
                                                std::chrono::milliseconds retry_after = std::chrono::milliseconds{0});

core::Result<Order> fetch_order(Transport& transport, const Account& account, const std::string& url,
                                const core::Deadline& deadline);
core::Result<Authorization> fetch_authorization(Transport& transport, const Account& account, const std::string& url,
                                                const core::Deadline& deadline);

// RFC 8555 §7.5.1: POST {} to the challenge URL.
core::Status respond_to_challenge(Transport& transport, const Account& account, const Challenge& challenge,
                                  const core::Deadline& deadline);

// The polling schedule: `first`, doubling up to `cap`; a Retry-After from
// the server (up to `max_retry_after`) lengthens a wait, the one before the
// first look included. Always bounded by the deadline and interrupted by
// core::cancelled().
struct PollSchedule {
    std::chrono::milliseconds first{50};
    std::chrono::milliseconds cap{1000};
    std::chrono::milliseconds max_retry_after{60'000};
};

// Polls until the authorization leaves "pending" (RFC 8555 §7.5.1).
core::Result<Authorization> poll_authorization(Transport& transport, const Account& account, const std::string& url,
                                               const core::Deadline& deadline, const PollSchedule& schedule = {});

// Polls until the order is neither "pending" nor "processing" (RFC 8555 §7.1.6).
core::Result<Order> poll_order(Transport& transport, const Account& account, const std::string& url,
                               const core::Deadline& deadline, const PollSchedule& schedule = {});

// RFC 8555 §7.4: POST {"csr": base64url(DER)} to finalize, then polls until
// valid, the first look after the answer's Retry-After. An orderNotReady
// answer for an order already "processing" or "valid" (a re-sent finalize
// whose first answer was lost) is polled too. An error when the order ends
// invalid.
core::Result<Order> finalize_order(Transport& transport, const Account& account, const Order& order,
                                   std::string_view csr_der, const core::Deadline& deadline,
                                   const PollSchedule& schedule = {});

struct CertificateChain {
    std::string url;
    std::string pem;  // leaf first, then issuers
};

enum class Alternates { exclude, include };

// RFC 8555 §7.4.2: POST-as-GET with Accept: application/pem-certificate-chain;
// with Alternates::include also every Link rel="alternate" chain that can be
// fetched (one that cannot is left out with a warning).
core::Result<std::vector<CertificateChain>> download_certificate(Transport& transport, const Account& account,
                                                                 const std::string& url, const core::Deadline& deadline,
                                                                 Alternates alternates = Alternates::include);

// Targets of the Link header values (RFC 8288) with the given rel, in order.
std::vector<std::string> parse_links(const std::vector<std::string>& link_headers, std::string_view rel);

// certbot/lego --preferred-chain: the index of the first chain whose topmost
// certificate's issuer CN equals `issuer_cn`; 0 (the default chain) when none
// does, when `issuer_cn` is empty, or when a chain does not parse.
std::size_t select_chain(const std::vector<CertificateChain>& chains, std::string_view issuer_cn);

// RFC 5280 §5.3.1 reason codes accepted by RFC 8555 §7.6.
enum class RevocationReason : int {
    unspecified = 0,
    key_compromise = 1,
    affiliation_changed = 3,
    superseded = 4,
    cessation_of_operation = 5,
};

// RFC 8555 §7.6: revokeCert signed by the account key (kid).
core::Status revoke_certificate(Transport& transport, const Account& account, std::string_view certificate_der,
                                RevocationReason reason, const core::Deadline& deadline);

}  // namespace acme
