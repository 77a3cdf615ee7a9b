// One run of the job (DESIGN.md "Data flow of one run"): for each certificate
// take its lease, read the stored bundle, store a spooled one, decide; order
// what is due (concurrently, bounded), verify, store (spool on failure);
// then replace once when something changed, and report.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/x509.hpp"
#include "renewer/config.hpp"
#include "renewer/plan.hpp"
#include "renewer/replace.hpp"

namespace renewer {

// What a run needs beyond the configuration file's contents.
struct RunSettings {
    Config config;
    Force force = Force::no;
    DryRun dry_run = DryRun::no;       // plan and report; order, store and replace nothing
    core::KeyType account_key_type = core::KeyType::ec256;
    std::string account_file;          // when set, the ACME account lives in this file
    std::string preferred_chain;
    std::vector<core::Certificate> trust_roots;  // issued chains must verify to one of these
    bool reuse_key = false;
    std::chrono::seconds order_timeout{600};
    std::chrono::seconds lease_ttl{1800};
};

enum class Outcome { renewed, stored_from_spool, not_due, would_renew, locked, failed };
const char* to_string(Outcome outcome);

struct CertificateResult {
    std::string id;
    std::vector<std::string> domains;
    std::string store;
    Outcome outcome = Outcome::failed;
    std::string reason;     // why (due reason, error line, lock holder)
    std::string serial;     // of the certificate now current, when known
    std::string not_after;  // of the certificate now current, when known
    std::chrono::milliseconds duration{0};
};

struct RunReport {
    std::vector<CertificateResult> certificates;
    std::vector<ReplaceOutcome> replacements;
    std::vector<std::string> replacement_errors;
    std::chrono::milliseconds duration{0};

    bool any_changed() const;
    // 0 nothing to do or all renewed; 1 some certificate (or replacement) failed.
    int exit_code() const;
};

// Plans only: reads every store and decides, changing nothing.
RunReport plan_run(const RunSettings& settings);

// The whole run.
RunReport execute_run(const RunSettings& settings);

// Prints the report: aligned text on a terminal, JSON lines otherwise.
void print_report(const RunReport& report);

}  // namespace renewer
