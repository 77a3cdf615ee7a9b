// Issuing what is due: for each due certificate, lease -> order -> verify ->
// spool -> store. Orders run concurrently (acme::obtain_many, bounded by the
// configuration's concurrency) under one ACME account; the steps after the
// order run per certificate.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "acme/transport.hpp"
#include "core/retry.hpp"
#include "dns/journal.hpp"
#include "renewer/job.hpp"
#include "secrets/spool.hpp"

namespace renewer {

struct RunSettings;

// What a certificate held in the spool after failing verification waits for.
inline constexpr const char* k_held_hint =
    "no new order for it until its configuration changes or --force (docs/troubleshooting.md)";

// The checks an issued certificate passes before it may replace anything
// (never a bad certificate over a good one): it parses, its key matches,
// every configured name is covered, it is valid now (notBefore up to
// secrets::k_clock_skew_tolerance ahead), and it chains to a --trust-root if given.
core::Status verify_issued(const secrets::Bundle& bundle, const CertificateConfig& config, const RunSettings& settings);

// What a spooled failure was ordered for: names, key type, profile.
std::string config_fingerprint(const CertificateConfig& config);

// The CA's directory; nullopt with `error` set when it cannot be reached.
std::optional<std::unique_ptr<acme::Transport>> connect_ca(const RunSettings& settings, std::string& error,
                                                           const core::Deadline& run_deadline);

// Claims, orders, verifies, spools and stores every due job. No order starts
// after `start_by`; nothing waits past `run_deadline`.
void issue_due(const RunSettings& settings, std::vector<Job>& jobs, acme::Transport& transport, secrets::Spool& spool,
               const std::shared_ptr<dns::Journal>& journal, const core::Deadline& run_deadline,
               const core::Deadline& start_by);

}  // namespace renewer
