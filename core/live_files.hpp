// Files that readers must see change together (a private key and its
// certificate). Renaming them one by one leaves a window, and after a crash a
// state, where a reader pairs a new key with an old certificate (nginx then
// refuses to start: "key values mismatch"). Here each version lives in its own
// folder and one symbolic link names the live one; switching versions is one
// rename(2) of that link (docs/architecture.md#crash-safety):
//
//   DIR/.v-7/fullchain.pem ...              a version (N counts up), fsynced
//   DIR/live -> .v-7                        the version readers get
//   DIR/previous -> .v-6                    the one before: kept for a reader that
//                                           resolved `live` just before the switch
//   DIR/fullchain.pem -> live/fullchain.pem the stable paths existing configs name
//
// Every step leaves each path reading either the old version or the new one,
// whole. The functions that write assume one writer per folder at a time (the
// caller holds a lock or lease); readers need no lock.
#pragma once

#include <sys/types.h>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace core {

inline constexpr const char* k_live_link = "live";
inline constexpr const char* k_previous_link = "previous";

struct LiveFile {
    std::string name;  // a plain file name, no '/'
    std::string content;
    mode_t mode = 0644;
    std::optional<uid_t> owner;
    std::optional<gid_t> group;
};

// What a reader gets now from DIR/NAME for each of `names`; names that are
// the stable link are all read from the one version `live` named when this
// started. Absent names are left out.
Result<std::map<std::string, std::string>> read_live_files(const std::string& dir,
                                                           const std::vector<std::string>& names);

// True when each of `names` is the stable link `live/NAME`.
bool is_live_layout(const std::string& dir, const std::vector<std::string>& names);

// Moves what DIR/NAME reads now (flat files from an older release, or
// anything else that is not the stable link) into a version, points `live`
// at it and replaces each name by its stable link; no path reads anything
// different at any step. Returns true when it changed something.
Result<bool> adopt_live_layout(const std::string& dir, const std::vector<std::string>& names);

// Makes `files` the live version: adopt_live_layout, a new version folder with
// every file fsynced, `previous` -> the old live one, `live` -> the new one
// (the single switch), the folder fsynced, then sweep_live_versions. Returns
// the new version's folder name.
Result<std::string> publish_live_files(const std::string& dir, const std::vector<LiveFile>& files);

// Removes version folders that neither `live` nor `previous` names (a killed
// writer's half-made version, versions older than the previous one) and
// temporary links a killed writer left. Returns how many it removed.
int sweep_live_versions(const std::string& dir);

}  // namespace core
