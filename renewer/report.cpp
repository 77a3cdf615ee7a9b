#include "renewer/report.hpp"

#include <algorithm>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/metrics.hpp"

namespace renewer {
namespace {

std::string owed_line(const OwedReplacement& owed) {
    return fmt::format("{} replacement owed for serial {} since {}{}", owed.target, owed.serial, owed.since,
                       owed.error.empty() ? std::string() : " (last error: " + owed.error + ")");
}

nlohmann::json owed_json(const std::optional<OwedReplacement>& owed) {
    if (!owed) {
        return nullptr;
    }
    return {{"serial", owed->serial}, {"target", owed->target}, {"since", owed->since}, {"error", owed->error}};
}

}  // namespace

const char* to_string(Outcome outcome) {
    switch (outcome) {
        case Outcome::renewed: return "renewed";
        case Outcome::stored_from_spool: return "stored";
        case Outcome::not_due: return "not due";
        case Outcome::would_renew: return "due";
        case Outcome::locked: return "skipped";
        case Outcome::failed: return "failed";
        case Outcome::deferred: return "deferred";
        case Outcome::waiting_customer_dns: return "waiting for customer DNS";
        case Outcome::left_in_place: return "left in place";
    }
    return "unknown";
}

bool RunReport::any_changed() const {
    return std::any_of(certificates.begin(), certificates.end(), [](const CertificateResult& r) {
        return r.outcome == Outcome::renewed || r.outcome == Outcome::stored_from_spool;
    });
}

std::size_t RunReport::deferred() const {
    return static_cast<std::size_t>(
        std::count_if(certificates.begin(), certificates.end(),
                      [](const CertificateResult& r) { return r.outcome == Outcome::deferred; }));
}

int RunReport::exit_code() const {
    const bool failed = std::any_of(certificates.begin(), certificates.end(),
                                    [](const CertificateResult& r) { return r.outcome == Outcome::failed; });
    if (failed || !replacement_errors.empty()) {
        return k_exit_failed;
    }
    const bool refused = std::any_of(certificates.begin(), certificates.end(), [](const CertificateResult& r) {
        return r.outcome == Outcome::deferred && r.rate_limited;
    });
    return refused ? k_exit_deferred : k_exit_ok;
}

void print_report(const RunReport& report, std::string_view metrics_namespace) {
    if (core::log::is_terminal()) {
        std::cout << "\n";
        for (const auto& r : report.certificates) {
            std::cout << fmt::format("  {:<10} {:<32} {}", to_string(r.outcome), r.id, r.reason);
            if (!r.serial.empty() && r.outcome != Outcome::failed) {
                std::cout << fmt::format(" (serial {}, until {})", r.serial, r.not_after);
            }
            std::cout << "\n";
            if (r.replacement_owed) {
                std::cout << "  owed       " << owed_line(*r.replacement_owed) << "\n";
            }
        }
        for (const auto& r : report.replacements) {
            std::cout << "  replace    " << r.summary << "\n";
        }
        for (const auto& e : report.replacement_errors) {
            std::cout << "  replace    failed: " << e << "\n";
        }
        std::cout << fmt::format("\n{} certificate(s) in {:.1f} s", report.certificates.size(),
                                 static_cast<double>(report.duration.count()) / 1000.0);
        if (const auto deferred = report.deferred(); deferred > 0) {
            std::cout << fmt::format(", {} deferred to a later run", deferred);
        }
        std::cout << "\n";
        return;
    }
    print_report_json(report, metrics_namespace);
}

nlohmann::json report_to_json(const RunReport& report) {
    nlohmann::json certificates = nlohmann::json::array();
    for (const auto& r : report.certificates) {
        certificates.push_back({{"id", r.id},
                                {"domains", r.domains},
                                {"store", r.store},
                                {"outcome", to_string(r.outcome)},
                                {"reason", r.reason},
                                {"serial", r.serial},
                                {"not_after", r.not_after},
                                {"duration_ms", r.duration.count()},
                                {"replacement_owed", owed_json(r.replacement_owed)}});
    }
    nlohmann::json replacements = nlohmann::json::array();
    for (const auto& r : report.replacements) {
        replacements.push_back({{"replace", to_string(r.type)}, {"summary", r.summary}});
    }
    for (const auto& e : report.replacement_errors) {
        replacements.push_back({{"replace", "failed"}, {"error", e}});
    }
    return {{"exit_code", report.exit_code()},         {"changed", report.any_changed()},
            {"duration_ms", report.duration.count()},  {"deferred", report.deferred()},
            {"certificates", std::move(certificates)}, {"replacements", std::move(replacements)}};
}

void print_report_json(const RunReport& report, std::string_view metrics_namespace) {
    const auto dump = [](const nlohmann::json& line) {
        std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    };
    const nlohmann::json json = report_to_json(report);
    const bool metrics = !metrics_namespace.empty();
    const auto now = std::chrono::system_clock::now();
    // One line per certificate ("certificate" names it, as log lines do),
    // one per replacement, then the summary.
    for (std::size_t i = 0; i < report.certificates.size(); ++i) {
        nlohmann::json line = json["certificates"][i];
        line["certificate"] = line["id"];
        if (metrics) {
            metrics::add_certificate_metrics(line, report.certificates[i], metrics_namespace, now);
        }
        dump(line);
    }
    for (const auto& replacement : json["replacements"]) {
        dump(replacement);
    }
    nlohmann::json summary = {{"summary", true},
                              {"certificates", json["certificates"].size()},
                              {"changed", json["changed"]},
                              {"exit_code", json["exit_code"]},
                              {"deferred", json["deferred"]},
                              {"duration_ms", json["duration_ms"]}};
    if (metrics) {
        metrics::add_run_metrics(summary, report, metrics_namespace, now);
    }
    dump(summary);
    std::cout.flush();
}

}  // namespace renewer
