// The presentation journal (docs/architecture.md#the-dns-journal): which TXT values this host presented
// and has not removed yet. An entry is written just before each provider
// change is sent (only values that were sent: a present refused before it
// sent anything leaves none) and deleted once the clean-up succeeded, so a run
// killed in between (SIGKILL, OOM, a lost host) leaves the next run exactly
// the values of ours to remove, and nobody else's. An entry that later runs
// cannot clear expires (see expired()). One small JSON file per presentation,
// 0600, written atomically, in a folder beside the spool.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/process.hpp"
#include "core/result.hpp"
#include "dns/provider.hpp"

namespace dns {

struct JournalEntry {
    std::string id;        // the file name
    std::string provider;  // which DNS settings presented it (the caller's key)
    std::vector<TxtRecord> records;
    core::ProcessIdentity writer;  // host, boot id, pid namespace, pid, start time
    std::string run;               // random per process
    std::chrono::system_clock::time_point written_at;
    int failed_attempts = 0;  // later runs that could not remove the values
};

// A run gives up on an entry after this many failed removals, once it is at
// least `k_journal_min_age` old (a daily timer: five days; a run every few
// minutes: a day), with one warning.
constexpr int k_journal_max_attempts = 5;
constexpr std::chrono::hours k_journal_min_age{24};

class Journal {
public:
    explicit Journal(std::string dir);

    // Records `records` as presented by `provider` before the change is made.
    // Returns the entry id for remove().
    core::Result<std::string> add(const std::string& provider, const std::vector<TxtRecord>& records);

    // The entry now holds `records` (more were sent, or some were refused).
    core::Status replace(const std::string& id, const std::string& provider, const std::vector<TxtRecord>& records);

    // The clean-up succeeded: forget the entry. Ok when it is already gone.
    core::Status remove(const std::string& id);

    // A run could not remove the entry's values: counts the attempt in the
    // entry and returns true when the entry has now expired (removed; the
    // caller warns once).
    core::Result<bool> failed(const JournalEntry& entry);

    // Entries whose run is over: written by a process that is certainly dead
    // (core::identity_is_dead: our host, boot and pid namespace, its pid gone
    // or reused), or by anyone else (another host on a shared volume, a
    // container with host networking, an entry without these fields) longer
    // than `max_age` ago. Our own entries never are. Unreadable files are
    // skipped with a warning. An absent folder is an empty journal.
    core::Result<std::vector<JournalEntry>> orphans(std::chrono::seconds max_age) const;

    const std::string& dir() const { return dir_; }

private:
    std::string dir_;
};

}  // namespace dns
