// The DNS-01 flow the renewer uses (docs/architecture.md#data-flow-of-one-run): (domain, TXT value)
// pairs -> CNAME delegation of `_acme-challenge` -> one present per provider
// (one change per zone inside it; apex and wildcard values share one RRSet)
// -> wait until every authoritative server shows every value -> the caller
// answers the ACME challenges -> clean up exactly what was added, also on
// failure (docs/dns-providers.md#batches-and-clean-up).
//
// Concurrency: two certificates in one process may present at the same name
// at once. Every provider read-modify-write is serialized per record name by
// a process-wide lock table; the providers themselves merge with the values
// already there (Route53: a compare-and-swap of the set).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/dns01.hpp"
#include "core/result.hpp"
#include "dns/journal.hpp"
#include "dns/propagation.hpp"
#include "dns/provider.hpp"
#include "dns/resolver.hpp"

namespace dns {

enum class CnameMode {
    follow,  // `_acme-challenge.<domain>` CNAME -> the TXT goes to the chain's final target
    ignore,  // always write at `_acme-challenge.<domain>`
};

enum class PropagationMode {
    check,  // wait until every authoritative server answers every value
    skip,   // trust the provider (private zones, split horizon)
};

struct SolverOptions {
    CnameMode cname = CnameMode::follow;
    PropagationMode propagation_mode = PropagationMode::check;
    // Resolver/nameserver overrides and timing; `propagation.resolver` also
    // serves the CNAME look-ups.
    PropagationOptions propagation;
    // Zone-specific providers: a record whose (delegated) name lies in `zone`
    // goes to that provider; the longest matching zone wins; everything else
    // goes to the solver's default provider.
    std::vector<std::pair<std::string, std::shared_ptr<Provider>>> zone_providers;
};

// One DNS-01 challenge: the identifier as in the order ("*.example.com") and
// its TXT value (core::dns01_txt_value of the key authorization).
using Challenge = core::Dns01Challenge;

// The records a present() put in place. Move-only: cleanup() removes exactly
// them; when it was never called, the destructor does it (best effort,
// logged) so an early return or an exception leaves nothing behind.
class Presentation {
public:
    Presentation(Presentation&&) noexcept;
    Presentation& operator=(Presentation&&) noexcept;
    Presentation(const Presentation&) = delete;
    Presentation& operator=(const Presentation&) = delete;
    ~Presentation();

    // Removes exactly the values that were added; idempotent.
    core::Status cleanup();

    // The records as written (after CNAME delegation), in challenge order.
    const std::vector<TxtRecord>& records() const;
    std::chrono::milliseconds present_time() const;      // until the provider(s) reported applied
    std::chrono::milliseconds propagation_time() const;  // then until visible everywhere

private:
    friend class Solver;
    struct State;
    explicit Presentation(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

// What Solver::present_sets() did: ONE presentation holding every value it
// may have written (those of the sets that failed too, so one cleanup()
// removes everything), and the outcome of each set, in order.
struct SetsPresentation {
    Presentation presentation;
    std::vector<core::Status> outcomes;
};

class Solver {
public:
    Solver(std::shared_ptr<Provider> provider, SolverOptions options);

    // Presents every challenge and waits until it is visible. On any failure,
    // whatever was added is removed again before the error returns. Errors
    // are one line naming the domain and, where known, the zone.
    core::Result<Presentation> present(const std::vector<Challenge>& challenges);

    // The pipelined run (docs/architecture.md#data-flow-of-one-run): the
    // challenges of many certificates, one set each, as ONE present: one
    // change per zone (split only past the provider's limits) and one
    // propagation wait for all of them. A set whose names fail (CNAME
    // look-up, delegation, provider refusal, propagation) fails alone; its
    // values are still removed by the presentation's cleanup().
    SetsPresentation present_sets(const std::vector<std::vector<Challenge>>& sets);

    // `_acme-challenge.<domain>.` after CNAME delegation (per the options).
    core::Result<std::string> record_name(const std::string& domain) const;

    // Every present() is recorded in `journal` under `key`: each change just
    // before the provider sends it (nothing for a present refused before it
    // sent anything), and forgotten once its clean-up succeeded
    // (a killed run's values are removed by the next run: docs/architecture.md#the-dns-journal).
    void set_journal(std::shared_ptr<Journal> journal, std::string key);

    // Removes exactly `records` (as written, after delegation) through the
    // provider each belongs to: values a killed run left behind (journal).
    // Returns how many of them were there and are gone now.
    core::Result<std::size_t> remove(const std::vector<TxtRecord>& records);

    const SolverOptions& options() const { return options_; }

private:
    core::Status check_no_cname(const ResolverOptions& ro, const std::string& fqdn) const;
    core::Status check_delegation(const std::vector<TxtRecord>& records) const;
    core::Result<std::vector<TxtRecord>> set_records(const std::vector<Challenge>& set,
                                                     std::map<std::string, std::string>& name_of) const;
    void check_sets_delegation(const std::vector<std::vector<TxtRecord>>& records,
                               const std::vector<std::string>& labels, std::vector<core::Status>& outcomes) const;
    void present_sets_records(Presentation::State& state, const std::vector<std::vector<TxtRecord>>& records,
                              const std::vector<std::string>& labels, std::vector<core::Status>& outcomes) const;
    void wait_sets_visible(const std::vector<std::vector<TxtRecord>>& records, const std::vector<std::string>& labels,
                           std::vector<core::Status>& outcomes) const;

    std::shared_ptr<Provider> provider_;
    SolverOptions options_;
    std::shared_ptr<Journal> journal_;
    std::string journal_key_;
};

// What `renewer dns-test -d NAME` reports.
struct DnsTestReport {
    std::string domain;
    std::string fqdn;                               // where the TXT went (after CNAME delegation)
    std::string value;                              // the random value presented
    std::chrono::milliseconds present_time{0};      // provider applied (Route53 INSYNC)
    std::chrono::milliseconds propagation_time{0};  // visible on every authoritative server
    std::chrono::milliseconds cleanup_time{0};
    std::chrono::milliseconds total_time{0};
};

// Presents a random TXT value for `domain` through `provider`, waits until
// every authoritative server shows it, reports the time taken and cleans up
// (also when a step fails). The first thing an operator runs to check
// credentials and permissions.
core::Result<DnsTestReport> run_dns_test(std::shared_ptr<Provider> provider, const SolverOptions& options,
                                         const std::string& domain);

}  // namespace dns
