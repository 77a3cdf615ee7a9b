#include "renewer/dns_bridge.hpp"

#include <algorithm>
#include <optional>
#include <string_view>

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
    if (auto status = presentation->cleanup(); !status) {
        core::log::warn("DNS cleanup failed; the record may need removing by hand",
                        {{"error", status.error().message}});
    }
}

}  // namespace renewer
