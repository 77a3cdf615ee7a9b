// Internal to secrets/: the lease record both stores keep (a lock file, a
// small lock secret), and the rule that decides whether it may be taken.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/x509.hpp"
#include "secrets/store.hpp"

namespace secrets::detail {

struct LeaseRecord {
    std::string owner;
    std::string token;  // empty = released
    std::string host;
    long pid = 0;
    core::SystemTime expires_at{};
};

// A fresh record for `owner`, valid for `ttl` from now.
LeaseRecord new_lease(const std::string& owner, std::chrono::seconds ttl);
std::string lease_to_json(const LeaseRecord& record);
// nullopt when the text is not a lease record (then it is treated as free).
std::optional<LeaseRecord> lease_from_json(std::string_view text);

// Free when released, expired, or held by a process of this host that is gone
// (kill(pid, 0) == ESRCH): a SIGKILLed run must not block the next one.
bool lease_is_free(const LeaseRecord& record, core::SystemTime now);

core::Error lease_conflict(const LeaseRecord& holder, const std::string& where);

// renew_lock() found the lease gone or someone else's (`holder`, when known).
core::Error lease_lost(const std::optional<LeaseRecord>& holder, const std::string& where);

// now + ttl, to the second (what the record keeps).
core::SystemTime expiry_after(std::chrono::seconds ttl);

Lease to_lease(const LeaseRecord& record);

// Random UUID v4 text (RFC 9562 §5.4) from core::random_bytes.
std::string uuid_v4();
std::string hostname();

}  // namespace secrets::detail
