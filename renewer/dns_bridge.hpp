// Connects the ACME flow to the DNS layer: acme::Dns01Solver (declared in
// acme/, which knows no DNS code) implemented over dns::Solver, and the
// mapping from our DNS options to the providers' settings.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "acme/obtain.hpp"
#include "core/result.hpp"
#include "dns/solver.hpp"
#include "renewer/dns_options.hpp"

namespace renewer {

// The provider named by `options`. Settings come from `options`, then the
// process environment (lego's names).
core::Result<std::shared_ptr<dns::Provider>> make_dns_provider(const DnsOptions& options);
// CNAME and propagation settings.
dns::SolverOptions dns_solver_options(const DnsOptions& options);
// Both together.
core::Result<std::shared_ptr<dns::Solver>> make_dns_solver(const DnsOptions& options);

// Routes each record to the solver of the certificate it belongs to, and
// keeps each presentation until cleanup(). Thread-safe (obtain_many).
class DnsBridge final : public acme::Dns01Solver {
public:
    // Records for `domain` (without "*.") go to `solver`.
    void route(const std::string& domain, std::shared_ptr<dns::Solver> solver);

    core::Status present(const std::vector<acme::Dns01Record>& records) override;
    void cleanup(const std::vector<acme::Dns01Record>& records) override;

private:
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<dns::Solver>> routes_;
    std::multimap<std::string, dns::Presentation> presentations_;  // key: the records, see key_of()
};

}  // namespace renewer
