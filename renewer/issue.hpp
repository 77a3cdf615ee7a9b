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

// The CA's directory; nullopt with `error` set when it cannot be reached.
std::optional<std::unique_ptr<acme::Transport>> connect_ca(const RunSettings& settings, std::string& error,
                                                           const core::Deadline& run_deadline);

// Claims, orders, verifies, spools and stores every due job. No order starts
// after `start_by`; nothing waits past `run_deadline`.
void issue_due(const RunSettings& settings, std::vector<Job>& jobs, acme::Transport& transport, secrets::Spool& spool,
               const std::shared_ptr<dns::Journal>& journal, const core::Deadline& run_deadline,
               const core::Deadline& start_by);

}  // namespace renewer
