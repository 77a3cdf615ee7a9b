// `renewer status` (docs/operations.md#status): one line per configured
// certificate — names, store, serial, notAfter, days left, the next renewal
// (the CA's ARI window, RFC 9773, else the planner's lifetime rule), the last
// run's outcome (status_record.hpp) and the lease holder. Reads only: the
// stores, the lease records, the CA's directory and renewalInfo; writes
// nothing anywhere.
#pragma once

#include "renewer/run.hpp"

namespace renewer {

enum class StatusFormat { automatic, json };  // automatic: a table when stdout is a terminal

// Prints the status; 0, or 1 when some certificate's store could not be read.
int status_command(const RunSettings& settings, StatusFormat format);

}  // namespace renewer
