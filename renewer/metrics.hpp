// CloudWatch metrics of a run, in the Embedded Metric Format (EMF): the JSON
// report lines of `renewer run` (report.hpp) carry an `_aws` member that tells
// CloudWatch Logs which of their top-level numbers are metrics, so Lambda
// turns them into metrics with no agent and no cloudwatch:PutMetricData
// permission (docs/operations.md#metrics). A text report (a terminal) and
// `renewer plan` carry none.
//
// k_emitted_metrics is the one table of the metrics the code emits:
// tests/deploy/test_alarms.py reads it and checks that every alarm of
// deploy/cloudformation.yaml names one of them (namespace, name, dimensions),
// and tests/e2e/test_metrics.py checks the emitted lines name exactly these.
// One row per line, kept in this shape: the test parses it.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "core/x509.hpp"
#include "renewer/report.hpp"
#include "renewer/run.hpp"

namespace renewer::metrics {

inline constexpr std::string_view k_default_namespace = "Renewer";
// The dimension of the per-certificate metrics: the certificate's id.
inline constexpr std::string_view k_certificate_dimension = "Certificate";

struct MetricRow {
    std::string_view name;
    std::string_view unit;   // a CloudWatch standard unit
    std::string_view scope;  // "certificate": dimension Certificate; "run": no dimension
    std::string_view what;
};

inline constexpr std::array k_emitted_metrics = {
    MetricRow{"DaysUntilExpiry", "None", "certificate", "days until the current certificate's notAfter"},
    MetricRow{"RenewalSucceeded", "Count", "certificate", "1 when this run stored a new certificate, else 0"},
    MetricRow{"RenewalFailed", "Count", "certificate", "1 when the certificate failed in this run, else 0"},
    MetricRow{"RunDuration", "Milliseconds", "run", "wall time of the run"},
    MetricRow{"CertificatesDue", "Count", "run", "certificates that needed work: renewed, stored, failed, due"},
    MetricRow{"OrdersPlaced", "Count", "run", "certificates this run sent to the CA for an order"},
    MetricRow{"Failures", "Count", "run", "failed certificates plus failed replacements"},
    MetricRow{"MinDaysUntilExpiry", "None", "run", "the smallest DaysUntilExpiry of the run"},
    MetricRow{"RunSucceeded", "Count", "run", "1 when the run's exit code is 0, else 0"},
};

// The namespace the metrics of this run go to (default k_default_namespace);
// "" when metrics are off (`--no-metrics`, "metrics": false) and for a dry
// run, which renews nothing and must not count as a successful run.
std::string namespace_of(const RunSettings& settings);

// Adds the per-certificate metrics and their `_aws` directive to `line`.
void add_certificate_metrics(nlohmann::json& line, const CertificateResult& result, std::string_view ns,
                             core::SystemTime now);
// Adds the per-run metrics and their `_aws` directive to the summary `line`.
void add_run_metrics(nlohmann::json& line, const RunReport& report, std::string_view ns, core::SystemTime now);

}  // namespace renewer::metrics
