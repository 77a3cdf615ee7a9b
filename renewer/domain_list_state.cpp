#include "renewer/domain_list_state.hpp"

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aws/client.hpp"
#include "core/log.hpp"
#include "core/x509.hpp"

namespace renewer {
namespace {

using nlohmann::json;

// DynamoDB's code for a condition that did not hold: here, the item is gone.
constexpr std::string_view k_condition_failed = "ConditionalCheckFailedException";

// At most this many failed writes are logged one by one; the rest are counted.
constexpr std::size_t k_max_failures_logged = 10;

std::string text_attribute(const json& item, const char* name) {
    const auto it = item.find(name);
    if (it == item.end() || !it->is_object()) {
        return "";
    }
    const auto text = it->find("S");
    return text != it->end() && text->is_string() ? text->get<std::string>() : "";
}

// The reason cut to k_max_state_reason bytes, never inside a UTF-8 sequence.
std::string short_reason(std::string reason) {
    if (reason.size() <= k_max_state_reason) {
        return reason;
    }
    std::size_t end = k_max_state_reason;
    while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0U) == 0x80U) {
        --end;
    }
    reason.resize(end);
    return reason + "...";
}

// The UpdateItem that makes the item show `state`. Every attribute goes
// through ExpressionAttributeNames: the IAM grant limits the job to these
// names (dynamodb:Attributes, deploy/cloudformation.yaml).
json update_request(const std::string& table, const std::string& id, const ItemState& state) {
    json names = {{"#id", "id"}, {"#state", k_state_attribute}, {"#updated", k_updated_attribute}};
    json values = {{":state", {{"S", state.state}}},
                   {":updated", {{"S", core::format_time(std::chrono::system_clock::now())}}}};
    std::string set = "SET #state = :state, #updated = :updated";
    std::string remove;
    names["#reason"] = k_reason_attribute;
    if (state.reason.empty()) {
        remove = " REMOVE #reason";
    } else {
        set += ", #reason = :reason";
        values[":reason"] = {{"S", state.reason}};
    }
    if (!state.not_after.empty()) {
        names["#not_after"] = k_not_after_attribute;
        set += ", #not_after = :not_after";
        values[":not_after"] = {{"S", state.not_after}};
    }
    return {{"TableName", table},
            {"Key", {{"id", {{"S", id}}}}},
            {"UpdateExpression", set + remove},
            {"ConditionExpression", "attribute_exists(#id)"},
            {"ExpressionAttributeNames", std::move(names)},
            {"ExpressionAttributeValues", std::move(values)}};
}

}  // namespace

std::optional<ItemState> item_state_of(const CertificateResult& result) {
    switch (result.outcome) {
        case Outcome::renewed:
        case Outcome::stored_from_spool:
        case Outcome::not_due: return ItemState{"issued", "", result.not_after};
        case Outcome::waiting_customer_dns:
        case Outcome::deferred:
        case Outcome::failed:
            return ItemState{to_string(result.outcome), short_reason(result.reason), result.not_after};
        case Outcome::locked:
        case Outcome::would_renew:
        case Outcome::left_in_place: return std::nullopt;
    }
    return std::nullopt;
}

ItemState recorded_state_of(const json& item) {
    return ItemState{text_attribute(item, k_state_attribute), text_attribute(item, k_reason_attribute),
                     text_attribute(item, k_not_after_attribute)};
}

StateWrites write_item_states(const std::string& table, const std::map<std::string, ItemState>& recorded,
                              const RunReport& report, const aws::ClientSettings& aws) {
    StateWrites out;
    std::optional<aws::Client> client;
    for (const auto& result : report.certificates) {
        const auto was = recorded.find(result.id);
        auto state = item_state_of(result);
        if (was == recorded.end() || !state) {
            continue;
        }
        if (state->not_after.empty()) {
            state->not_after = was->second.not_after;  // unknown this run: the item keeps what it showed
        }
        if (*state == was->second) {
            ++out.unchanged;
            continue;
        }
        if (!client) {
            client.emplace(aws);
        }
        const auto written = client->json(aws::dynamodb, "UpdateItem", update_request(table, result.id, *state));
        if (written) {
            ++out.written;
        } else if (written.error().code == k_condition_failed) {
            ++out.gone;
        } else if (++out.failed <= k_max_failures_logged) {
            core::log::warn("the item's state was not written: " + written.error().message,
                            {{"domain_list", "dynamodb:" + table}, {"certificate", result.id}});
        }
    }
    if (out.failed > k_max_failures_logged) {
        core::log::warn(fmt::format("{} more items' states were not written", out.failed - k_max_failures_logged),
                        {{"domain_list", "dynamodb:" + table}});
    }
    core::log::info("domain list states written", {{"domain_list", "dynamodb:" + table},
                                                   {"written", std::to_string(out.written)},
                                                   {"unchanged", std::to_string(out.unchanged)},
                                                   {"items_gone", std::to_string(out.gone)},
                                                   {"failed", std::to_string(out.failed)}});
    return out;
}

}  // namespace renewer
