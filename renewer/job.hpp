// One certificate's state through a run (docs/architecture.md, "Data flow of
// one run"): prepared (store opened, current bundle read, spool handled),
// planned (decide()), then issued when due. Internal to the run.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "renewer/config.hpp"
#include "renewer/owed.hpp"
#include "renewer/report.hpp"
#include "secrets/bundle.hpp"
#include "secrets/store.hpp"

namespace renewer {

struct Job {
    const CertificateConfig* config = nullptr;
    std::unique_ptr<secrets::Store> store;
    std::unique_ptr<secrets::Locker> locker;  // guards `store`
    std::optional<secrets::Lease> lease;
    std::optional<secrets::Bundle> current;
    std::string unreadable;  // why the stored value could not be read ("" = it could, or there is none)
    std::string replaces;    // RFC 9773 id of the current certificate when the CA offers ARI
    // The store's replacement-owed note as read at the start of the run
    // (renewer/owed.hpp); its serial may be older than the current one.
    std::optional<OwedReplacement> owed;
    CertificateResult result;
    bool due = false;
    bool ari_window = false;  // due because the CA's ARI window began (Decision::ari_window)
};

// Failed, held by another run, deferred by the CA's budget, or done by
// storing a spooled certificate: nothing more happens to it in this run.
inline bool finished(const Job& job) {
    return job.result.outcome == Outcome::failed || job.result.outcome == Outcome::locked ||
           job.result.outcome == Outcome::stored_from_spool || job.result.outcome == Outcome::deferred;
}

// The report shows the certificate now current.
inline void fill_current(CertificateResult& result, const secrets::Bundle& bundle) {
    result.serial = bundle.serial;
    result.not_after = bundle.not_after;
}

}  // namespace renewer
