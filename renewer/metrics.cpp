#include "renewer/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>

namespace renewer::metrics {
namespace {

std::string_view unit_of(std::string_view name) {
    for (const auto& row : k_emitted_metrics) {
        if (row.name == name) {
            return row.unit;
        }
    }
    return "None";  // unreachable for the names below: the table lists them all
}

// One EMF directive (the CloudWatch EMF specification, "MetricDirective
// object"): every metric named here is a top-level number of `line`, every
// dimension a top-level string. At most 100 metrics per directive, 30
// dimensions per set; ours stay far below.
void add_directive(nlohmann::json& line, std::string_view ns, const std::vector<std::string_view>& names,
                   nlohmann::json dimension_set, core::SystemTime now) {
    nlohmann::json metrics = nlohmann::json::array();
    for (const auto name : names) {
        metrics.push_back({{"Name", name}, {"Unit", unit_of(name)}});
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    line["_aws"] = {
        {"Timestamp", ms},
        {"CloudWatchMetrics", nlohmann::json::array({{{"Namespace", ns},
                                                      {"Dimensions", nlohmann::json::array({std::move(dimension_set)})},
                                                      {"Metrics", std::move(metrics)}}})}};
}

// Days from `now` to the certificate's notAfter, two decimals; nullopt when
// the report knows no current certificate.
std::optional<double> days_until_expiry(const CertificateResult& result, core::SystemTime now) {
    if (result.not_after.empty()) {
        return std::nullopt;
    }
    const auto not_after = core::parse_time(result.not_after);
    if (!not_after) {
        return std::nullopt;
    }
    const double seconds = std::chrono::duration<double>(*not_after - now).count();
    return std::round(seconds / 86400.0 * 100.0) / 100.0;
}

// Due this run, whatever became of it (a deferred certificate is due too:
// the budget or the CA postponed it, docs/configuration.md; so is one
// waiting for its customer's CNAME, docs/customer-domains.md).
bool needed_work(const CertificateResult& r) {
    return r.outcome == Outcome::renewed || r.outcome == Outcome::stored_from_spool || r.outcome == Outcome::failed ||
           r.outcome == Outcome::would_renew || r.outcome == Outcome::deferred ||
           r.outcome == Outcome::waiting_customer_dns;
}

}  // namespace

std::string namespace_of(const RunSettings& settings) {
    const auto& run = settings.config.run;
    if (settings.dry_run == DryRun::yes || !core::settings::boolean(run, "metrics", true)) {
        return {};
    }
    return core::settings::text(run, "metrics_namespace", std::string(k_default_namespace));
}

void add_certificate_metrics(nlohmann::json& line, const CertificateResult& result, std::string_view ns,
                             core::SystemTime now) {
    std::vector<std::string_view> names;
    if (const auto days = days_until_expiry(result, now)) {
        line["DaysUntilExpiry"] = *days;
        names.emplace_back("DaysUntilExpiry");
    }
    const bool stored = result.outcome == Outcome::renewed || result.outcome == Outcome::stored_from_spool;
    line["RenewalSucceeded"] = stored ? 1 : 0;
    line["RenewalFailed"] = result.outcome == Outcome::failed ? 1 : 0;
    names.emplace_back("RenewalSucceeded");
    names.emplace_back("RenewalFailed");
    line[std::string(k_certificate_dimension)] = result.id;
    add_directive(line, ns, names, nlohmann::json::array({k_certificate_dimension}), now);
}

void add_run_metrics(nlohmann::json& line, const RunReport& report, std::string_view ns, core::SystemTime now) {
    const auto& certificates = report.certificates;
    const auto count = [&](auto predicate) {
        return std::count_if(certificates.begin(), certificates.end(), predicate);
    };
    line["RunDuration"] = report.duration.count();
    line["CertificatesDue"] = count(needed_work);
    line["OrdersPlaced"] = count([](const CertificateResult& r) { return r.ordered; });
    line["Failures"] = count([](const CertificateResult& r) { return r.outcome == Outcome::failed; }) +
                       static_cast<std::ptrdiff_t>(report.replacement_errors.size());
    line["RunSucceeded"] = report.exit_code() == 0 ? 1 : 0;
    std::vector<std::string_view> names = {"RunDuration", "CertificatesDue", "OrdersPlaced", "Failures",
                                           "RunSucceeded"};
    std::optional<double> min_days;
    for (const auto& r : certificates) {
        if (const auto days = days_until_expiry(r, now)) {
            min_days = std::min(min_days.value_or(*days), *days);
        }
    }
    if (min_days) {
        line["MinDaysUntilExpiry"] = *min_days;
        names.emplace_back("MinDaysUntilExpiry");
    }
    // No dimension: one series per namespace (an empty DimensionSet).
    add_directive(line, ns, names, nlohmann::json::array(), now);
}

}  // namespace renewer::metrics
