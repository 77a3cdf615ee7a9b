// The domain list (docs/customer-domains.md#the-domain-list): with
// certificates_from = "dynamodb:TABLE" the certificates of `run`, `plan`
// (and --dry-run) and `status` are the table's items, read at the start of
// each (each Lambda invocation too), so an item added since the last run is
// simply a certificate whose store holds nothing yet, and a removed item is
// no longer renewed. Each item becomes a certificate by the configuration
// file's rules (renewer/domain_list_item.hpp, add_listed_certificates()):
// an item that breaks one is refused and reported by its key, the others go
// on. A table that cannot be read fails the run before any order, touching
// no store.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "renewer/domain_list_state.hpp"
#include "renewer/run.hpp"
#include "renewer/status.hpp"

namespace renewer {

// At most this many certificates left in place are named in a report; the
// rest are counted in one line (a report stays small when a whole customer
// segment leaves at once).
inline constexpr std::size_t k_max_left_in_place_named = 100;

// The Scan and each store listing end by then, retries included (unless the
// run's own deadline comes first): a table that does not answer fails the
// run instead of holding it.
inline constexpr std::chrono::seconds k_domain_list_budget{120};

struct DomainList {
    std::vector<RefusedItem> refused;
    // Certificates in the default store that no item names any more, by
    // their store spec, at most k_max_left_in_place_named of them.
    std::vector<std::string> left_in_place;
    std::size_t left_uncounted = 0;  // more of them, not named
    std::string left_note;           // why they were not looked for, or empty
    // What each item (by id) shows now (renewer/domain_list_state.hpp).
    std::map<std::string, ItemState> recorded;
};

// Every item of the table (Scan, ConsistentRead, every page), turned into
// certificates of settings.config, and the certificates left in place.
core::Result<DomainList> read_domain_list(RunSettings& settings);

// `run` (plan_run or execute_run) over the domain list's certificates, with
// a failed line per refused item and a "left in place" line per removed
// certificate in its report; without certificates_from, `run` as it is.
// After execute_run without --dry-run, each item whose state changed is
// written (renewer/domain_list_state.hpp).
// settings.config is as given again on return (a Lambda runtime reads the
// list anew for each invocation).
RunReport run_over_domain_list(RunSettings& settings, RunReport (*run)(const RunSettings&));

// `renewer status` over the domain list: refused items and left
// certificates are logged, and a refused item makes the exit status 1.
int status_over_domain_list(RunSettings settings, StatusFormat format);

}  // namespace renewer
