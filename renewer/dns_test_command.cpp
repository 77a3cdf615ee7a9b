#include <chrono>
#include <iostream>

#include <fmt/format.h>

#include "core/log.hpp"
#include "dns/solver.hpp"
#include "renewer/commands.hpp"
#include "renewer/exit_codes.hpp"
#include "renewer/names.hpp"

namespace renewer {
namespace {

double seconds(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

int dns_test_command(const std::vector<std::string>& names, const dns::DnsConfig& config) {
    auto provider = dns::make_provider(config.provider);
    if (!provider) {
        std::cerr << "renewer dns-test: " << provider.error().message << "\n";
        return k_exit_bad_config;
    }
    int exit_code = k_exit_ok;
    for (const auto& raw : names) {
        auto name = normalize_name(raw);
        if (!name) {
            std::cerr << "renewer dns-test: " << name.error().message << "\n";
            return k_exit_bad_config;
        }
        auto report = dns::run_dns_test(*provider, config.solver_options(), *name);
        if (!report) {
            core::log::error("dns-test failed", {{"domain", *name}, {"error", report.error().message}});
            exit_code = k_exit_failed;
            continue;
        }
        std::cout << fmt::format(
            "{}: TXT at {} applied in {:.2f} s, visible on every authoritative server after "
            "{:.2f} s more, cleaned up in {:.2f} s (total {:.2f} s)\n",
            *name, report->fqdn, seconds(report->present_time), seconds(report->propagation_time),
            seconds(report->cleanup_time), seconds(report->total_time));
    }
    return exit_code;
}

}  // namespace renewer
