// Certificates, start to finish (docs/architecture.md#data-flow-of-one-run), as
// a pipeline in three phases over every certificate of the run:
//   A. key, newOrder, authorizations (bounded concurrency) -> every pending TXT value;
//   B. ONE Dns01Solver::present_sets() with the values of all certificates: one
//      DNS change per zone and one propagation wait for the whole run;
//   C. answer every challenge -> poll (bounded), then the DNS cleanup of every
//      value at once, alongside finalize -> download -> choose chain (bounded).
// obtain() is the pipeline with one certificate.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "acme/account.hpp"
#include "acme/order.hpp"
#include "acme/transport.hpp"
#include "core/dns01.hpp"
#include "core/keys.hpp"
#include "core/result.hpp"
#include "core/retry.hpp"
#include "core/x509.hpp"

namespace acme {

// One dns-01 TXT record to publish at _acme-challenge.<domain> (RFC 8555 §8.4);
// `domain` comes without "*." (apex and wildcard share a name).
using Dns01Record = core::Dns01Challenge;

// The DNS side of DNS-01, declared here so acme needs no dns dependency; the
// dns/ layer adapts its providers to it. Records for the same domain arrive
// together (apex + wildcard: one name, two values). With obtain_many() the
// solver is called from several threads at once and must be thread-safe.
class Dns01Solver {
public:
    virtual ~Dns01Solver();
    // Publishes every record; returns once they are live everywhere the CA
    // may look (or an error).
    virtual core::Status present(const std::vector<Dns01Record>& records) = 0;
    // Removes exactly these values (other values at the same name stay).
    // Best effort: logs its own failures, never throws.
    virtual void cleanup(const std::vector<Dns01Record>& records) = 0;

    // The pipelined run: the records of several certificates (one set each)
    // in one go, so they share DNS changes and one propagation wait. Returns
    // one status per set, in order: a set that fails does not fail the
    // others. Every value of every set (failed ones included) must be removed
    // by ONE cleanup_sets() with the same sets. The defaults call present()
    // and cleanup() per set.
    virtual std::vector<core::Status> present_sets(const std::vector<std::vector<Dns01Record>>& sets);
    virtual void cleanup_sets(const std::vector<std::vector<Dns01Record>>& sets);
};

// Called by obtain_many() between its phases, from the calling thread, with
// the phase just finished: "orders", "dns", "challenges", "certificates"
// (the renewer renews its leases there, docs/stores.md#leases).
using PhaseHook = std::function<void(std::string_view phase)>;

struct ObtainRequest {
    std::vector<std::string> names;                 // first = the certificate's name in messages and CN
    core::KeyType key_type = core::KeyType::ec256;  // used when `key_pem` is empty
    std::string key_pem;                            // reuse this certificate key when not empty
    std::string profile;                            // "" = CA default (must be advertised otherwise)
    std::string replaces;                           // RFC 9773 certificate id of the one being renewed
    std::string preferred_chain;                    // issuer CN of the topmost certificate, "" = default
    std::chrono::milliseconds timeout{600'000};     // the whole flow, validation included
    PollSchedule poll;
    // obtain() places no order once this has passed (a run near its deadline
    // starts nothing it cannot finish); the error is k_not_started_deadline.
    core::Deadline start_by = core::Deadline::never();
    // Shared by the requests of one run: set by the first whose order the CA
    // refuses with rateLimited (RFC 8555 §6.7; a Retry-After short enough to
    // wait for is waited for by the transport), after which obtain() places
    // no more orders (k_not_started_rate_limited): every further newOrder
    // would be refused too, and might lengthen the CA's penalty.
    std::shared_ptr<std::atomic<bool>> hold_new_orders;
};

// The whole error message (ErrorKind::cancelled, not prefixed with the name)
// of an obtain() that began nothing: past `start_by`, or after core::cancel().
inline constexpr const char* k_not_started_deadline = "deadline: not started";
inline constexpr const char* k_not_started_cancelled = "cancelled: not started";
// ErrorKind::cancelled with code "rateLimited": not begun after ObtainRequest::hold_new_orders was set.
inline constexpr const char* k_not_started_rate_limited =
    "not started: the CA answered an earlier order of this run with rateLimited";

struct ObtainedCertificate {
    std::string fullchain_pem;  // leaf + intermediates
    std::string chain_pem;      // intermediates only
    std::string leaf_pem;
    std::string key_pem;  // PKCS#8, secret
    core::KeyType key_type = core::KeyType::ec256;
    core::CertInfo leaf;
    std::string certificate_url;
    std::string order_url;
    std::string replaced;  // the `replaces` the CA accepted, "" when none
};

// Obtains one certificate. Errors are one line naming the certificate's first
// domain and the failing step/domain, e.g.
// "example.test: authorization for *.example.test failed: dns: No TXT record found at ...".
// Thread-safe for distinct requests sharing the transport, account and solver.
core::Result<ObtainedCertificate> obtain(Transport& transport, const Account& account, Dns01Solver& solver,
                                         const ObtainRequest& request,
                                         const core::Deadline& run_deadline = core::Deadline::never());

// Obtains several certificates as one pipeline (above): at most `concurrency`
// CA conversations in flight per phase, ONE DNS present and ONE cleanup for
// all of them; one failure never stops the others. Results are in request
// order; when `durations` is given it receives each request's wall time
// (from the start of the run until its certificate or error), in that order.
std::vector<core::Result<ObtainedCertificate>> obtain_many(
    Transport& transport, const Account& account, Dns01Solver& solver, const std::vector<ObtainRequest>& requests,
    int concurrency = 16, const core::Deadline& run_deadline = core::Deadline::never(),
    std::vector<std::chrono::milliseconds>* durations = nullptr, const PhaseHook& between_phases = {});

}  // namespace acme
