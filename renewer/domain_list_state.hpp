// Each domain-list item shows its certificate's state
// (docs/customer-domains.md#the-item-shows-the-state): after a run that may
// change something (not `plan`, not --dry-run), the job writes what the run
// found into the item's own renewer_* attributes, so the application that
// owns the table can tell its customer "waiting for your DNS record" or
// "issued, valid until ..." without reading the job's logs.
//
// Writes are UpdateItem calls that only SET or REMOVE these attributes,
// conditioned on the item still existing (attribute_exists(id)): an item the
// application deleted during the run is not brought back. An item whose
// state is what the table already holds is not written (a run where nothing
// changed writes nothing). A failed write is logged and never fails the run:
// the certificates are already stored.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "renewer/report.hpp"

namespace aws {
struct ClientSettings;
}

namespace renewer {

// The attributes the job owns in an item; the application must not write them.
inline constexpr const char* k_state_attribute = "renewer_state";
inline constexpr const char* k_reason_attribute = "renewer_reason";
inline constexpr const char* k_not_after_attribute = "renewer_not_after";
inline constexpr const char* k_updated_attribute = "renewer_updated";

// A reason longer than this is cut (an item stays small; the full text is in
// the run's report and log).
inline constexpr std::size_t k_max_state_reason = 1000;

struct ItemState {
    // "issued", "waiting for customer DNS", "deferred" or "failed".
    std::string state;
    // Why, for every state but "issued" (whose reason, "expires in N days",
    // would change at every run and cost a write).
    std::string reason;
    // The current certificate's notAfter (RFC 3339), empty when unknown.
    std::string not_after;

    bool operator==(const ItemState&) const = default;
};

// The state a report line gives its item; nullopt where the run learnt
// nothing the item should show (a certificate another run holds the lease
// of: that run writes it; a plan's "due").
std::optional<ItemState> item_state_of(const CertificateResult& result);

// The state the item holds now (its renewer_* attributes as the Scan read
// them; empty strings where absent).
ItemState recorded_state_of(const nlohmann::json& item);

struct StateWrites {
    std::size_t written = 0;
    std::size_t unchanged = 0;
    std::size_t gone = 0;    // deleted by the application during the run
    std::size_t failed = 0;  // logged, one line each
};

// Writes the state of each certificate of `report` whose id is a key of
// `recorded` (the table's items and what they held) and whose state
// changed, to `table`, before `aws`'s deadline.
StateWrites write_item_states(const std::string& table, const std::map<std::string, ItemState>& recorded,
                              const RunReport& report, const aws::ClientSettings& aws);

}  // namespace renewer
