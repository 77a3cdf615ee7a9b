// `certfetch --all`: every certificate under a store location, one folder per
// name (OUT/NAME/{fullchain,privkey,chain}.pem, each its own live/ version),
// for one nginx serving many customer names (docs/customer-domains.md).
#pragma once

#include <string>

#include "renewer/certfetch.hpp"

namespace renewer::certfetch {

// --parallel's default: enough to hide Secrets Manager's round trips
// (tens of milliseconds each) without a burst that its request quota
// (GetSecretValue: thousands per second) would notice.
inline constexpr int k_default_workers = 8;

// Lists options.store (or "aws-sm:" + options.secret_id) with
// secrets::Store::list(prefix), fetches each bundle exactly as run() fetches
// one (verified, AWSPREVIOUS fallback, atomic switch; its folder name must be
// covered by the certificate) under one lock on options.out_dir, and runs
// options.reload once when any folder changed. A name whose bundle cannot be
// served is logged with its name and skipped: its folder stays as it was and
// the others go on. `workers` names are fetched at once, each worker with
// its own connection. Returns the exit code: 0 all fetched, 1 the listing
// failed or some name was skipped, 2 bad options, 3 the reload failed.
int run_all(const Options& options, const std::string& prefix, int workers = k_default_workers);

}  // namespace renewer::certfetch
