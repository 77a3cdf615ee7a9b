// certfetch: the host-side fetcher (docs/deployment.md, web hosts). Fetches the certificate
// bundle (AWSCURRENT, else AWSPREVIOUS), verifies it, makes fullchain.pem,
// privkey.pem and chain.pem a new version that readers get in one atomic
// switch, and runs the reload command only when something changed. Links no
// ACME code.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <sys/types.h>

#include "core/x509.hpp"
#include "secrets/store.hpp"

namespace renewer::certfetch {

struct Options {
    std::string secret_id;    // Secrets Manager name or ARN ...
    std::string store;        // ... or a store spec ("dir:/path"); exactly one of the two
    std::string out_dir;      // created when absent
    std::string expect_name;  // a name the certificate must cover; empty = any
    std::optional<uid_t> owner;
    std::optional<gid_t> group;
    mode_t key_mode = 0600;                   // privkey.pem; the certificate files are 0644
    std::string reload;                       // run with /bin/sh -c when a file changed; empty = none
    std::chrono::seconds reload_timeout{60};  // the reload's process group is stopped after this
    // With no valid files on disk (a fresh host at boot), a store that cannot
    // be read (network, instance credentials not ready) is retried with
    // backoff for this long before giving up; 0 = one attempt.
    std::chrono::seconds retry_for{120};
    // How long to wait for another certfetch writing the same folder.
    std::chrono::seconds lock_wait{300};
    // What is served expires within this many days: a warning (the exit
    // status is unchanged, docs/operations.md#web-hosts); 0 = never.
    int warn_days = 14;
    std::optional<core::SystemTime> now;  // tests; empty = the clock
    secrets::StoreConfig store_config;    // tests (endpoint, credentials); defaults otherwise
};

// The files were written (or a reload was owed) but --reload failed: nginx
// may still serve the old certificate; the next run retries the reload.
inline constexpr int k_exit_reload_failed = 3;

// Does the whole job; returns the process exit code: 0 written or unchanged,
// 1 failure (existing files left exactly as they were), 2 bad options,
// 3 written but the reload failed.
int run(const Options& options);

// The files nginx reads, in `out_dir`: stable links into the live version
// (core/live_files.hpp: DIR/live -> DIR/.v-N, switched in one rename).
inline constexpr const char* k_fullchain_file = "fullchain.pem";
inline constexpr const char* k_privkey_file = "privkey.pem";
inline constexpr const char* k_chain_file = "chain.pem";
// Present while a reload is owed: the files changed but --reload has not yet
// succeeded, so the next run retries it even though nothing changes then.
inline constexpr const char* k_reload_marker = ".certfetch-reload-pending";

}  // namespace renewer::certfetch
