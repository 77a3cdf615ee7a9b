// Internal to certfetch: the steps of one certificate's fetch (certfetch.cpp)
// that `certfetch --all` (certfetch_all.cpp) repeats per name.
#pragma once

#include <string>

#include "core/result.hpp"
#include "renewer/certfetch.hpp"
#include "secrets/store.hpp"

namespace renewer::certfetch::detail {

// Removes what a killed certfetch left in `dir` (temp files, unfinished
// versions); the caller holds the lock that covers `dir`.
void sweep_folder(const std::string& dir);

struct Fetched {
    std::string files;    // the files that changed, comma-separated; empty = none
    std::string serial;   // of the bundle now served; empty when the disk was kept
    bool current = true;  // the store's current version is what is served now
};

// select + install for one certificate into options.out_dir (it exists and
// is locked): AWSCURRENT, else AWSPREVIOUS, verified against
// options.expect_name; files on disk that beat the store are kept. `marker`:
// the reload-owed file written before a switch (empty = none). An error
// leaves the folder exactly as it was.
core::Result<Fetched> fetch_into(secrets::Store& store, const Options& options, const std::string& marker);

// The reload when `changed` or a reload is still owed (options.out_dir's
// marker); the process exit code as for run().
int reload_once(const Options& options, bool changed);

}  // namespace renewer::certfetch::detail
