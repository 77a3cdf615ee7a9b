#include "renewer/domain_list.hpp"

#include <algorithm>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aws/client.hpp"
#include "core/log.hpp"
#include "renewer/domain_list_item.hpp"
#include "renewer/exit_codes.hpp"
#include "secrets/store.hpp"

namespace renewer {
namespace {

using nlohmann::json;

constexpr std::string_view k_dynamodb_scheme = "dynamodb:";
constexpr std::string_view k_name_placeholder = "{name}";

std::string table_of(const Config& config) { return config.certificates_from.substr(k_dynamodb_scheme.size()); }

// The AWS calls of the domain list end by the run's store deadline or
// k_domain_list_budget, whichever comes first.
std::shared_ptr<aws::ClientSettings> client_settings(const RunSettings& settings) {
    auto out = std::make_shared<aws::ClientSettings>();
    out->deadline = core::Deadline::after(k_domain_list_budget);
    out->deadline_name = fmt::format("the domain list's {} s", k_domain_list_budget.count());
    if (settings.deadline && store_end_of(settings).at() < out->deadline.at()) {
        out->deadline = store_end_of(settings);
        out->deadline_name = settings.deadline_name;
    }
    return out;
}

// Every item of the table: Scan pages until there is no LastEvaluatedKey.
// ConsistentRead: an item written just before the run is in it.
core::Result<std::vector<json>> scan_table(const std::string& table, const aws::ClientSettings& settings) {
    aws::Client client(settings);
    std::vector<json> items;
    json body = {{"TableName", table}, {"ConsistentRead", true}};
    while (true) {
        auto page = client.json(aws::dynamodb, "Scan", body);
        if (!page) {
            return page.error().wrap(fmt::format("domain list dynamodb:{} (Scan)", table));
        }
        if (const auto it = page->find("Items"); it != page->end() && it->is_array()) {
            for (auto& item : *it) {
                items.push_back(std::move(item));
            }
        }
        const auto next = page->find("LastEvaluatedKey");
        if (next == page->end() || !next->is_object() || next->empty()) {
            return items;
        }
        body["ExclusiveStartKey"] = *next;
    }
}

// The certificates under the default store that no item names: the store
// template must end in "{name}" (its listing's names are then the ids) and
// the store must be able to list (secrets::Store::list()).
void find_left_in_place(const RunSettings& settings, const std::vector<ListedItem>& items, DomainList& out) {
    const std::string spec = listed_store_template(settings.config);
    const auto at = spec.find(k_name_placeholder);
    if (spec.empty() || at == std::string::npos || at + k_name_placeholder.size() != spec.size()) {
        out.left_note = fmt::format(
            "the default store \"{}\" does not end in {{name}}: certificates of removed items "
            "are not looked for",
            spec);
        return;
    }
    secrets::StoreConfig store_config;
    store_config.aws = client_settings(settings);
    auto store = secrets::make_store(spec.substr(0, at), store_config);
    auto listed = store ? (*store)->list("") : core::Result<std::vector<secrets::Listing>>(store.error());
    if (!listed) {
        out.left_note = "certificates of removed items were not looked for: " + listed.error().message;
        return;
    }
    std::set<std::string> named;
    for (const auto& item : items) {
        named.insert(expand_store(k_name_placeholder, item.key));
    }
    for (const auto& cert : settings.config.certificates) {
        named.insert(cert.store.spec);
    }
    for (const auto& listing : *listed) {
        if (named.contains(listing.name) || named.contains(listing.spec)) {
            continue;
        }
        if (out.left_in_place.size() < k_max_left_in_place_named) {
            out.left_in_place.push_back(listing.spec);
        } else {
            ++out.left_uncounted;
        }
    }
}

// The item has a usable key (an "id" of type S): its state can be written back.
bool has_string_id(const json& item) {
    const auto id = item.find("id");
    return id != item.end() && id->is_object() && id->contains("S") && id->at("S").is_string();
}

CertificateResult refused_result(const Config& config, const RefusedItem& refused) {
    CertificateResult result;
    result.id = refused.key;
    result.outcome = Outcome::failed;
    result.reason = fmt::format("refused by the domain list {}: {}", config.certificates_from, refused.reason);
    return result;
}

CertificateResult left_result(const std::string& store, std::string reason) {
    CertificateResult result;
    result.id = store.substr(store.find(':') + 1);
    result.store = store;
    result.outcome = Outcome::left_in_place;
    result.reason = std::move(reason);
    return result;
}

void add_to_report(const Config& config, const DomainList& list, RunReport& report) {
    for (const auto& refused : list.refused) {
        report.certificates.push_back(refused_result(config, refused));
    }
    for (const auto& store : list.left_in_place) {
        report.certificates.push_back(
            left_result(store, "no item of the domain list names it: not renewed, not deleted"));
    }
    if (list.left_uncounted > 0) {
        report.certificates.push_back(left_result(
            listed_store_template(config), fmt::format("and {} more certificates no item names", list.left_uncounted)));
    }
}

void log_list(const Config& config, const DomainList& list) {
    for (const auto& refused : list.refused) {
        core::log::error(refused_result(config, refused).reason, {{"certificate", refused.key}});
    }
    for (const auto& store : list.left_in_place) {
        core::log::warn("left in place: no item of the domain list names it", {{"store", store}});
    }
    if (!list.left_note.empty()) {
        core::log::info(list.left_note, {{"domain_list", config.certificates_from}});
    }
}

}  // namespace

core::Result<DomainList> read_domain_list(RunSettings& settings) {
    auto& config = settings.config;
    const auto aws = client_settings(settings);
    TRY_ASSIGN(const auto raw, scan_table(table_of(config), *aws));
    std::vector<ListedItem> items;
    items.reserve(raw.size());
    DomainList list;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        items.push_back(listed_item_of(raw[i], i));
        if (has_string_id(raw[i])) {
            list.recorded.emplace(items.back().key, recorded_state_of(raw[i]));
        }
    }
    list.refused = add_listed_certificates(config, items);
    find_left_in_place(settings, items, list);
    log_list(config, list);
    core::log::info("domain list read",
                    {{"domain_list", config.certificates_from},
                     {"items", std::to_string(items.size())},
                     {"certificates", std::to_string(config.certificates.size())},
                     {"refused", std::to_string(list.refused.size())},
                     {"left_in_place", std::to_string(list.left_in_place.size() + list.left_uncounted)}});
    return list;
}

RunReport run_over_domain_list(RunSettings& settings, RunReport (*run)(const RunSettings&)) {
    if (settings.config.certificates_from.empty()) {
        return run(settings);
    }
    const Config given = settings.config;
    const auto started = core::Clock::now();
    auto list = read_domain_list(settings);
    if (!list) {
        settings.config = given;
        RunReport report;
        CertificateResult failed;
        failed.id = settings.config.certificates_from;
        failed.reason = list.error().message + "; nothing was ordered and no store was touched";
        report.certificates.push_back(std::move(failed));
        report.duration = std::chrono::duration_cast<std::chrono::milliseconds>(core::Clock::now() - started);
        core::log::error(report.certificates.front().reason);
        return report;
    }
    RunReport report = run(settings);
    add_to_report(settings.config, *list, report);
    // A plan and a dry run change nothing, the items included.
    if (run == &execute_run && settings.dry_run == DryRun::no) {
        write_item_states(table_of(settings.config), list->recorded, report, *client_settings(settings));
    }
    settings.config = given;
    return report;
}

int status_over_domain_list(RunSettings settings, StatusFormat format) {
    if (settings.config.certificates_from.empty()) {
        return status_command(settings, format);
    }
    auto list = read_domain_list(settings);
    if (!list) {
        core::log::error(list.error().message);
        return k_exit_failed;
    }
    const int code = status_command(settings, format);
    return list->refused.empty() ? code : std::max(code, static_cast<int>(k_exit_failed));
}

}  // namespace renewer
