// Batch reads of the DynamoDB store's items: BatchGetItem, so that a run over
// a thousand certificates reads them in ten calls instead of two thousand
// GetItem round trips one after the other (docs/stores.md#reading-many-certificates).
//
// BatchGetItem reads at most 100 items a call and may answer only part of
// them: the rest come back in UnprocessedKeys (a throttled partition, a
// response over 16 MB), to be asked again after an exponential backoff (API
// reference, BatchGetItem). Each item is read with ConsistentRead, as
// DynamoDbApi::get_item reads it, so a batch answers exactly what one
// GetItem per item would.
#include <algorithm>
#include <deque>
#include <set>

#include "core/log.hpp"
#include "secrets/dynamodb_api.hpp"

namespace secrets::detail {
namespace {

using nlohmann::json;

constexpr std::size_t k_batch_get_limit = 100;  // keys per BatchGetItem call
// Rounds that left keys unprocessed before the rest is left to GetItem: the
// backoff then waits about two seconds, longer than a run where nothing is due
// should spend on reads (GetItem has its own retries).
constexpr int k_unprocessed_rounds = 6;

core::RetryPolicy unprocessed_backoff() {
    core::RetryPolicy policy;
    policy.base_delay = std::chrono::milliseconds(50);
    policy.max_delay = std::chrono::milliseconds(1000);
    return policy;
}

ItemKey key_of(const json& item) {
    return {string_attribute(item, "pk").value_or(""), string_attribute(item, "sk").value_or("")};
}

// The keys of one table's part of UnprocessedKeys.
std::vector<ItemKey> unprocessed_keys(const json& answer, const std::string& table) {
    std::vector<ItemKey> keys;
    const auto all = answer.find("UnprocessedKeys");
    if (all == answer.end() || !all->is_object() || !all->contains(table)) {
        return keys;
    }
    const auto& part = (*all)[table];
    if (!part.contains("Keys") || !part["Keys"].is_array()) {
        return keys;
    }
    for (const auto& key : part["Keys"]) {
        keys.push_back(key_of(key));
    }
    return keys;
}

// One BatchGetItem call for `chunk`: what it answered goes into `read`, the
// keys it left unprocessed are returned. An error: the call failed.
core::Result<std::vector<ItemKey>> batch_get_once(DynamoDbApi& api, const std::vector<ItemKey>& chunk,
                                                  std::map<ItemKey, std::optional<json>>& read) {
    json keys = json::array();
    for (const auto& [pk, sk] : chunk) {
        keys.push_back(item_key(pk, sk));
    }
    const json body = {{"RequestItems", {{api.table(), {{"Keys", keys}, {"ConsistentRead", true}}}}}};
    TRY_ASSIGN(auto answer, api.call("BatchGetItem", body));
    auto left = unprocessed_keys(answer, api.table());
    const std::set<ItemKey> unanswered(left.begin(), left.end());
    for (const auto& key : chunk) {
        if (!unanswered.contains(key)) {
            read[key] = std::nullopt;  // processed: no item unless the answer holds one
        }
    }
    const auto responses = answer.find("Responses");
    if (responses != answer.end() && responses->is_object() && responses->contains(api.table())) {
        for (auto& item : (*responses)[api.table()]) {
            if (auto key = key_of(item); read.contains(key) && !unanswered.contains(key)) {
                read[key] = std::move(item);
            }
        }
    }
    return left;
}

}  // namespace

std::map<ItemKey, std::optional<json>> batch_get_items(DynamoDbApi& api, std::vector<ItemKey> keys,
                                                       const core::Deadline& deadline) {
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());  // DynamoDB refuses duplicate keys
    // Unprocessed keys go to the back: asked again after the others.
    std::deque<ItemKey> pending(keys.begin(), keys.end());
    std::map<ItemKey, std::optional<json>> read;
    int rounds = 0;
    while (!pending.empty()) {
        const auto count = static_cast<std::ptrdiff_t>(std::min(k_batch_get_limit, pending.size()));
        const std::vector<ItemKey> chunk(pending.begin(), pending.begin() + count);
        pending.erase(pending.begin(), pending.begin() + count);
        auto left = batch_get_once(api, chunk, read);
        if (!left.ok()) {
            core::log::warn("dynamodb: a batch read failed; the items it did not read are read one by one",
                            {{"table", api.table()}, {"error", left.error().message}});
            return read;
        }
        if (left->empty()) {
            continue;
        }
        pending.insert(pending.end(), left->begin(), left->end());
        if (++rounds > k_unprocessed_rounds ||
            !core::sleep_for(core::backoff_delay(unprocessed_backoff(), rounds - 1), deadline).ok()) {
            core::log::info("dynamodb: keys still unprocessed by BatchGetItem are read one by one",
                            {{"table", api.table()}, {"keys", std::to_string(pending.size())}});
            return read;
        }
    }
    return read;
}

}  // namespace secrets::detail
