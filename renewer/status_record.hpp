// The last run's outcome per certificate, for `renewer status`
// (docs/operations.md#status): a small JSON file beside the spool, where the
// run already keeps its state (<spool>-last-run.json; the DNS journal is
// <spool>-dns-journal). On the machine that ran the job only: a Lambda's or a
// task's /tmp goes with it, and there the metrics and alarms tell instead.
#pragma once

#include <map>
#include <string>

#include "renewer/report.hpp"
#include "renewer/run.hpp"

namespace renewer {

struct RecordedOutcome {
    std::string outcome;  // to_string(Outcome)
    std::string reason;
    std::string at;      // RFC 3339, end of the run
    std::string serial;  // of the certificate current after it
};

// The run's spool folder (--spool-dir, else secrets::Spool::default_dir()).
std::string spool_dir_of(const RunSettings& settings);

// <spool dir>-last-run.json.
std::string outcome_record_path(const std::string& spool_dir);

// Merges this run's outcomes into the record (certificates this run did not
// see keep theirs). Best effort: a failure is a warning, the run's result
// does not depend on it.
void record_outcomes(const std::string& spool_dir, const RunReport& report);

// {certificate id: its last recorded outcome}; empty when there is no record.
std::map<std::string, RecordedOutcome> read_outcomes(const std::string& spool_dir);

}  // namespace renewer
