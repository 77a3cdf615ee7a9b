#include "renewer/dns_bridge.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "core/log.hpp"

namespace renewer {
namespace {

std::string key_of(const std::vector<acme::Dns01Record>& records) {
    std::vector<std::string> parts;
    parts.reserve(records.size());
    for (const auto& record : records) {
        parts.push_back(record.domain + "=" + record.value);
    }
    std::sort(parts.begin(), parts.end());
    std::string key;
    for (const auto& part : parts) {
        key += part;
        key += ';';
    }
    return key;
}

}  // namespace

std::string key_of_sets(const std::vector<std::vector<acme::Dns01Record>>& sets) {
    std::vector<acme::Dns01Record> all;
    for (const auto& set : sets) {
        all.insert(all.end(), set.begin(), set.end());
    }
    return "sets:" + key_of(all);
}

void log_cleanup_failure(const core::Status& status) {
    if (!status) {
        core::log::warn("DNS cleanup failed; the record may need removing by hand",
                        {{"error", status.error().message}});
    }
}

std::shared_ptr<dns::Solver> DnsBridge::solver_of(const std::string& domain) {
    std::lock_guard lock(mutex_);
    const auto it = routes_.find(domain);
    return it == routes_.end() ? nullptr : it->second;
}

void DnsBridge::route(const std::string& domain, std::shared_ptr<dns::Solver> solver) {
    std::lock_guard lock(mutex_);
    routes_.emplace(domain, std::move(solver));
}

core::Status DnsBridge::present(const std::vector<acme::Dns01Record>& records) {
    if (records.empty()) {
        return {};
    }
    std::shared_ptr<dns::Solver> solver;
    {
        std::lock_guard lock(mutex_);
        const auto it = routes_.find(records.front().domain);
        if (it == routes_.end()) {
            return core::make_error(
                core::ErrorKind::internal,
                fmt::format("{}: no DNS provider configured for this name", records.front().domain));
        }
        solver = it->second;
    }
    std::vector<dns::Challenge> challenges;
    challenges.reserve(records.size());
    for (const auto& record : records) {
        challenges.push_back({record.domain, record.value});
    }
    auto presentation = solver->present(challenges);
    if (!presentation) {
        return presentation.error();
    }
    std::lock_guard lock(mutex_);
    presentations_.emplace(key_of(records), std::move(*presentation));
    return {};
}

void DnsBridge::cleanup(const std::vector<acme::Dns01Record>& records) {
    std::optional<dns::Presentation> presentation;
    {
        std::lock_guard lock(mutex_);
        const auto it = presentations_.find(key_of(records));
        if (it == presentations_.end()) {
            return;  // present() failed and cleaned up after itself
        }
        presentation.emplace(std::move(it->second));
        presentations_.erase(it);
    }
    log_cleanup_failure(presentation->cleanup());
}

std::vector<core::Status> DnsBridge::present_sets(const std::vector<std::vector<acme::Dns01Record>>& sets) {
    std::vector<core::Status> outcomes(sets.size());
    // Sets per solver, in order: a solver per distinct DNS setting.
    std::vector<std::pair<std::shared_ptr<dns::Solver>, std::vector<std::size_t>>> by_solver;
    for (std::size_t i = 0; i < sets.size(); ++i) {
        if (sets[i].empty()) {
            continue;
        }
        auto solver = solver_of(sets[i].front().domain);
        if (!solver) {
            outcomes[i] =
                core::make_error(core::ErrorKind::internal,
                                 fmt::format("{}: no DNS provider configured for this name", sets[i].front().domain));
            continue;
        }
        auto it = std::find_if(by_solver.begin(), by_solver.end(), [&](const auto& e) { return e.first == solver; });
        if (it == by_solver.end()) {
            by_solver.emplace_back(solver, std::vector<std::size_t>{});
            it = std::prev(by_solver.end());
        }
        it->second.push_back(i);
    }
    const std::string key = key_of_sets(sets);
    // Each solver's wait is its own (another provider, other servers): side by side.
    std::vector<std::jthread> threads;
    for (auto& [solver, indices] : by_solver) {
        threads.emplace_back([&, solver = solver, &indices = indices] {
            std::vector<std::vector<dns::Challenge>> challenges;
            for (const std::size_t i : indices) {
                auto& c = challenges.emplace_back();
                for (const auto& record : sets[i]) {
                    c.push_back({record.domain, record.value});
                }
            }
            auto presented = solver->present_sets(challenges);
            for (std::size_t k = 0; k < indices.size(); ++k) {
                outcomes[indices[k]] = std::move(presented.outcomes[k]);
            }
            std::lock_guard lock(mutex_);
            presentations_.emplace(key, std::move(presented.presentation));
        });
    }
    threads.clear();  // joins
    return outcomes;
}

void DnsBridge::cleanup_sets(const std::vector<std::vector<acme::Dns01Record>>& sets) {
    std::vector<dns::Presentation> taken;
    {
        std::lock_guard lock(mutex_);
        const auto [first, last] = presentations_.equal_range(key_of_sets(sets));
        for (auto it = first; it != last; ++it) {
            taken.push_back(std::move(it->second));
        }
        presentations_.erase(first, last);
    }
    // Each solver cleans up its own (one change per zone): side by side too.
    std::vector<std::jthread> threads;
    for (auto& presentation : taken) {
        threads.emplace_back([&presentation] { log_cleanup_failure(presentation.cleanup()); });
    }
}

}  // namespace renewer
