// The DNS settings side of a run, kept in one place: which solver a
// certificate gets (certificates with equal dns::DnsConfig share one; the
// journal names the settings by DnsConfig::identity()), and the cleanup of
// TXT values an interrupted run left behind.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "dns/journal.hpp"
#include "dns/solver.hpp"
#include "renewer/config.hpp"
#include "renewer/job.hpp"

namespace renewer {

struct RunSettings;

// The solver for `config`'s DNS settings; with `max_wait`, no DNS wait
// (INSYNC, propagation) lasts longer than that (at least 1 s). Route53's
// calls, the clean-up's included, end by the run's hard end (hard_end_of).
core::Result<std::shared_ptr<dns::Solver>> solver_for(const RunSettings& settings, const CertificateConfig& config,
                                                      std::optional<std::chrono::seconds> max_wait = std::nullopt);

// TXT values a killed run left behind: the journal beside the spool lists
// them; removes them through the provider of a certificate with the same DNS
// settings, before anything is ordered.
void replay_dns_journal(const RunSettings& settings, const std::vector<Job>& jobs, dns::Journal& journal);

}  // namespace renewer
