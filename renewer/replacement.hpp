// The run's replacement step (docs/replacement.md): once per run, per target,
// for the certificates this run stored and for those whose replacement an
// earlier run still owes (renewer/owed.hpp). The note is written before the
// target is called and cleared after it succeeded, so a failed or killed
// replacement is retried by every later run, also when nothing is due.
#pragma once

#include <vector>

#include "renewer/job.hpp"
#include "renewer/report.hpp"

namespace renewer {

struct RunSettings;

// Reads every open job's replacement-owed note; the report then shows the
// ones owed for the certificate now current.
void read_owed_notes(std::vector<Job>& jobs);

// Calls each replacement target once; records and clears the notes (not in a dry run).
void replace_changed(const RunSettings& settings, std::vector<Job>& jobs, RunReport& report);

}  // namespace renewer
