// Preparing and planning a run's jobs, beside decide() (renewer/plan.hpp):
// one job per configured certificate, its store opened and its current bundle
// read, a certificate an earlier run spooled stored, then decide() for each
// with the CA's renewal information (RFC 9773) when it offers it.
#pragma once

#include <optional>
#include <vector>

#include "acme/ari.hpp"
#include "acme/transport.hpp"
#include "core/retry.hpp"
#include "renewer/job.hpp"
#include "secrets/spool.hpp"

namespace renewer {

struct RunSettings;

// The options a certificate's store is opened with wherever it is opened
// (a run, `renewer account`, `renewer revoke`): its lease table and the KMS
// key of the secrets it creates.
secrets::StoreConfig store_config_for(const StoreSpec& store);

// One job per certificate of the configuration, each "not due" until
// prepare_jobs()/plan_jobs() say otherwise.
std::vector<Job> make_jobs(const RunSettings& settings);

// What prepare_jobs() does with a certificate an earlier run issued but never
// stored: leave it (planning only), or claim the job and store it.
enum class SpooledCertificates { leave, store };

// Reads every certificate's store (no lease: reading changes nothing) and,
// with SpooledCertificates::store, claims and stores the ones an earlier run
// spooled. Jobs that fail here are finished (result set).
void prepare_jobs(const RunSettings& settings, std::vector<Job>& jobs, secrets::Spool& spool,
                  SpooledCertificates spooled);

// Takes the job's lease before anything is written for it, and reads the
// store again under it: another run may have stored a certificate since our
// first read. False when the job is finished (held by another run, or failed).
bool claim(const RunSettings& settings, Job& job);

// The CA's renewal window for the job's current certificate (RFC 9773 §4.2),
// when the CA offers ARI; also sets job.replaces for the order.
std::optional<acme::RenewalInfo> renewal_info(Job& job, acme::Transport* transport, const core::Deadline& run_deadline);

// Decides for every open job; asks the CA for its renewal window when
// `transport` is given and the CA offers ARI.
void plan_jobs(const RunSettings& settings, std::vector<Job>& jobs, acme::Transport* transport,
               const core::Deadline& run_deadline);

// Releases every lease the run holds (also after SIGTERM: a released lease
// lets the next run start at once).
void release_leases(std::vector<Job>& jobs);

}  // namespace renewer
