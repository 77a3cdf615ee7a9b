// The exit-code contract schedulers rely on (documented in --help and README).
#pragma once

namespace renewer {

enum ExitCode : int {
    k_exit_ok = 0,          // nothing to do, or everything renewed / written
    k_exit_failed = 1,      // some certificate (or the fetch) failed
    k_exit_bad_config = 2,  // bad configuration or flags; nothing was attempted
};

}  // namespace renewer
