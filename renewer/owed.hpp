// "Replacement owed for serial X": the note a run keeps with the store
// (secrets::Store::put_note, kind k_owed_note) from just before it calls the
// replacement target until the call succeeds, so a replacement that failed or
// was killed is retried by every later run, also when nothing is due
// (docs/replacement.md#a-replacement-owed).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace secrets {
class Store;
}

namespace renewer {

inline constexpr const char* k_owed_note = "replace-owed";

struct OwedReplacement {
    std::string serial;  // the stored certificate the web tier has not picked up yet
    std::string target;  // "autoscaling", "ecs", ... (replace::to_string)
    std::string since;   // RFC 3339 UTC, when it first became owed
    std::string error;   // the last attempt's error; empty while the first attempt runs

    bool operator==(const OwedReplacement&) const = default;
};

// The note's text; an empty serial is the cleared note.
std::string owed_to_json(const OwedReplacement& owed);

// nullopt for a cleared note; an error text (in `problem`) when it does not parse.
std::optional<OwedReplacement> owed_from_json(std::string_view text, std::string& problem);

// The store's note: nullopt when there is none, it is cleared, or it cannot
// be read (then a warning naming the store is logged).
std::optional<OwedReplacement> read_owed(secrets::Store& store, const std::string& certificate);

// Writes `owed` (or the cleared note when its serial is empty); false with an
// error line logged when the store refuses.
bool write_owed(secrets::Store& store, const std::string& certificate, const OwedReplacement& owed);

}  // namespace renewer
