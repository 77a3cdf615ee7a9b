// Internal to secrets/: the lease record both lockers keep (a lock file, a
// small lock secret), the rule that decides whether it may be taken, and the
// lockers' factories.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/process.hpp"
#include "core/result.hpp"
#include "core/x509.hpp"
#include "secrets/locker.hpp"
#include "secrets/store.hpp"

namespace secrets::detail {

struct LeaseRecord {
    std::string owner;
    std::string token;             // empty = released
    core::ProcessIdentity holder;  // who took it (host, boot id, pid namespace, pid, start time)
    core::SystemTime expires_at{};
};

// A fresh record for `owner`, valid for `ttl` from now.
LeaseRecord new_lease(const std::string& owner, std::chrono::seconds ttl);
std::string lease_to_json(const LeaseRecord& record);
// nullopt when the text is not a lease record (then it is treated as free).
std::optional<LeaseRecord> lease_from_json(std::string_view text);

// Free when released, expired, or held by a process that is certainly dead
// (core::identity_is_dead: same host, boot and pid namespace, pid gone or
// reused): a SIGKILLed run must not block the next one, and a live run in
// another container on the same host must not lose its lease.
bool lease_is_free(const LeaseRecord& record, core::SystemTime now);

core::Error lease_conflict(const LeaseRecord& holder, const std::string& where);

// Locker::renew() found the lease gone or someone else's (`holder`, when known).
core::Error lease_lost(const std::optional<LeaseRecord>& holder, const std::string& where);

// now + ttl, to the second (what the record keeps).
core::SystemTime expiry_after(std::chrono::seconds ttl);

Lease to_lease(const LeaseRecord& record);

// Random UUID v4 text (RFC 9562 §5.4) from core::random_bytes.
std::string uuid_v4();
std::string hostname();

// Creates `path` and its parents; ErrorKind::io naming it when that fails.
core::Status make_dirs(const std::string& path);

// The lease of the directory store at `dir`: <dir>/.renewer.lock (dir_locker.cpp).
std::unique_ptr<Locker> make_dir_locker(std::string dir);

// The lease (pk, "lease") in the DynamoDB table config.lease_table, for a
// store that keeps its leases there (dynamodb_locker.cpp); `where` names the
// store in messages. ErrorKind::invalid_input for a malformed table name.
core::Result<std::unique_ptr<Locker>> make_lease_table_locker(const StoreConfig& config, std::string pk,
                                                              std::string where);

}  // namespace secrets::detail
