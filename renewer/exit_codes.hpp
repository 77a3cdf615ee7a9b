// The exit-code contract schedulers rely on (documented in --help and README).
#pragma once

namespace renewer {

enum ExitCode : int {
    k_exit_ok = 0,          // nothing to do, or everything renewed / written
    k_exit_failed = 1,      // some certificate (or the fetch) failed
    k_exit_bad_config = 2,  // bad configuration or flags; nothing was attempted
    // Nothing failed, but the CA answered rateLimited and some due
    // certificate was left to a later run (docs/configuration.md, "Many
    // certificates"): no certificate is at fault, yet the account's budget is
    // set too high or shared, and the operator must see that. (Deferrals by
    // --max-new-orders alone are the configured pacing: exit 0.)
    k_exit_deferred = 3,
};

}  // namespace renewer
