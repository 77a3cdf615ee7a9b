// secrets::Locker: the lease that keeps two runs from ordering the same
// certificate at once, kept apart from the bundle store (secrets::Store) as
// CertMagic keeps its Locker apart from its Storage: a reader (certfetch)
// needs only the store, and the lease's rules live in one place.
//
//   dir:/path     <path>/.renewer.lock, read-modify-written under flock(2)   dir_locker.cpp
//   aws-sm:NAME   a small secret "<name>-lock", taken by compare-and-swap    secretsmanager_locker.cpp
//
// Both records carry owner, random token, host, pid and expiry; a lease is
// free when released, expired, or held by a pid that no longer exists on
// this host. make_store_with_locker() (store.hpp) gives the locker for a spec.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/result.hpp"
#include "core/x509.hpp"

namespace secrets {

// A held lease. `token` identifies this holder (random per acquisition), so a
// release never frees a lease someone else took over after expiry.
struct Lease {
    std::string owner;  // who holds it, for messages ("host:pid" or as given)
    std::string token;  // random, hex
    core::SystemTime expires_at;
};

// A Locker is used by one thread at a time, like a Store.
class Locker {
public:
    virtual ~Locker() = default;
    Locker() = default;
    Locker(const Locker&) = delete;
    Locker& operator=(const Locker&) = delete;

    // Lease for one run on this certificate. Succeeds when the lease is free,
    // expired, or held by a process on this host that no longer exists (a
    // crashed run must not block the next one for `ttl`). Fails with
    // ErrorKind::conflict naming the holder and its expiry when someone else
    // holds it. The holder should release() when done; a crash leaves it to
    // expire.
    virtual core::Result<Lease> try_acquire(const std::string& owner, std::chrono::seconds ttl) = 0;
    // Extends a lease we still hold to `ttl` from now (a run that outlives its
    // first estimate, e.g. long DNS propagation). ErrorKind::conflict when it
    // expired and someone else took it: stop before storing anything.
    virtual core::Result<Lease> renew(const Lease& lease, std::chrono::seconds ttl) = 0;
    // Frees `lease` if it is still ours (same token); a no-op otherwise.
    virtual core::Status release(const Lease& lease) = 0;

    // For messages: the store it guards ("aws-sm:name" / "dir:/path").
    virtual std::string describe() const = 0;

    // Who holds the lease now, without taking it or writing anything
    // (`renewer status`, docs/operations.md#status): nullopt when it is free
    // by the rules of try_acquire(). A locker that cannot tell says so.
    virtual core::Result<std::optional<Lease>> peek() {
        return core::make_error(core::ErrorKind::internal,
                                describe() + ": this lease cannot be read without taking it");
    }
};

// The default lease owner: "<hostname>:<pid>".
std::string default_lock_owner();

}  // namespace secrets
