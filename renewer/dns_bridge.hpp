// Connects the ACME flow to the DNS layer: acme::Dns01Solver (declared in
// acme/, which knows no DNS code) implemented over dns::Solver.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "acme/obtain.hpp"
#include "core/result.hpp"
#include "dns/solver.hpp"

namespace renewer {

// Routes each record to the solver of the certificate it belongs to, and
// keeps each presentation until cleanup(). Thread-safe (obtain_many).
class DnsBridge final : public acme::Dns01Solver {
public:
    // Records for `domain` (without "*.") go to `solver`.
    void route(const std::string& domain, std::shared_ptr<dns::Solver> solver);

    core::Status present(const std::vector<acme::Dns01Record>& records) override;
    void cleanup(const std::vector<acme::Dns01Record>& records) override;

    // The pipelined run: every set routed to its solver, ONE
    // dns::Solver::present_sets() per solver (the solvers side by side), and
    // the presentations kept until cleanup_sets() of the same sets.
    std::vector<core::Status> present_sets(const std::vector<std::vector<acme::Dns01Record>>& sets) override;
    void cleanup_sets(const std::vector<std::vector<acme::Dns01Record>>& sets) override;

private:
    std::shared_ptr<dns::Solver> solver_of(const std::string& domain);

    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<dns::Solver>> routes_;
    std::multimap<std::string, dns::Presentation> presentations_;  // key: the records, see key_of()
};

}  // namespace renewer
