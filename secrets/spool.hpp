// The local spool (docs/stores.md#the-spool): a certificate that was issued but could
// not be stored (Secrets Manager down, throttled, killed mid-write) is kept
// here and stored by the next run without a new order: CA rate limits are
// precious. One file per certificate name, 0600 in a 0700 folder, written
// atomically; it holds the private key, so it never leaves this host.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "secrets/bundle.hpp"

namespace secrets {

// A spooled certificate that failed its checks after issuance (a wrong trust
// root, a clock far behind): kept instead of dropped, so the next run can
// store it once the cause is fixed, and does not order again meanwhile.
struct SpoolFailure {
    std::string reason;  // the verification error
    std::string config;  // fingerprint of the certificate's configuration it was ordered for
};

struct SpoolEntry {
    Bundle bundle;
    std::optional<SpoolFailure> failure;  // nullopt: verified, waiting to be stored
};

class Spool {
public:
    // Files live in `dir` (created on the first put()).
    explicit Spool(std::string dir);

    // $RENEWER_SPOOL_DIR; else $STATE_DIRECTORY/spool (systemd StateDirectory=);
    // else $XDG_STATE_HOME/renewer/spool; else /var/lib/renewer/spool for root;
    // else ~/.local/state/renewer/spool.
    static std::string default_dir();

    // Keeps `bundle` for certificate `name` (the config's certificate name),
    // replacing what was spooled for it before.
    core::Status put(const std::string& name, const Bundle& bundle,
                     const std::optional<SpoolFailure>& failure = std::nullopt);

    // The spooled bundle for `name`, or nullopt. The file stays: remove() it
    // only once the store accepted the bundle, so a crash in between loses
    // nothing (the next run finds it again).
    core::Result<std::optional<Bundle>> take(const std::string& name) const;
    // The same with the failure mark, when there is one.
    core::Result<std::optional<SpoolEntry>> take_entry(const std::string& name) const;

    // Forgets `name`'s bundle; ok when there was none.
    core::Status remove(const std::string& name);

    // Names with a spooled bundle, sorted.
    core::Result<std::vector<std::string>> list() const;

    const std::string& dir() const { return dir_; }
    // The file that holds `name`'s bundle.
    std::string path_for(const std::string& name) const;

private:
    std::string dir_;
};

}  // namespace secrets
