// The DynamoDB store, "dynamodb:TABLE/KEY" (docs/stores.md#dynamodb).
//
// One table with partition key "pk" and sort key "sk" (both S) holds, for the
// certificate KEY (e.g. "fleet/example.com"):
//   (KEY, "bundle")        bundle = to_json(bundle), previous = the bundle it
//                          replaced (certfetch's fallback, as AWSPREVIOUS),
//                          version (N, +1 per put), updated_at, not_after, serial
//   (KEY, "lease")         the lease (dynamodb_locker.cpp)
//   (KEY, "note#<kind>")   notes beside the bundle (Store::put_note)
// and one ACME account item for the table, ("_account", "account"), unless
// StoreConfig::account names another pk. A put is an UpdateItem conditioned
// on the version it read, so two writers cannot both move `previous`.
#include <algorithm>
#include <map>

#include "aws/client.hpp"
#include "core/log.hpp"
#include "secrets/dynamodb_api.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;
using detail::k_condition_failed;
using detail::k_sk_bundle;
using detail::number_value;
using detail::string_value;
using nlohmann::json;

constexpr const char* k_default_account_pk = "_account";
constexpr int k_put_attempts = 3;

class DynamoDbStore final : public Store {
public:
    DynamoDbStore(std::shared_ptr<detail::DynamoDbApi> api, std::string key)
        : api_(std::move(api)), key_(std::move(key)) {
        const auto& account = api_->config().account;
        account_pk_ = account.empty() ? k_default_account_pk : account;
    }

    core::Result<std::optional<Bundle>> get(Stage stage) override {
        TRY(need_key());
        TRY_ASSIGN(auto item, stage == Stage::current ? read(k_sk_bundle) : api_->get_item(key_, k_sk_bundle));
        const char* field = stage == Stage::current ? "bundle" : "previous";
        auto text = item ? detail::string_attribute(*item, field) : std::nullopt;
        if (!text) {
            return std::optional<Bundle>();
        }
        auto bundle = parse_bundle(*text);
        if (!bundle.ok()) {
            return bundle.error().wrap(describe() + " " + field);
        }
        return std::optional<Bundle>(std::move(bundle).value());
    }

    core::Status put(const Bundle& bundle) override {
        TRY(need_key());
        ahead_.erase(k_sk_bundle);
        const auto text = to_json(bundle);
        for (int attempt = 1;; ++attempt) {
            TRY_ASSIGN(auto item, api_->get_item(key_, k_sk_bundle));
            const auto current = item ? detail::string_attribute(*item, "bundle") : std::nullopt;
            if (current && *current == text) {
                return {};  // already current (also: our own write, its answer lost)
            }
            TRY(check_size(bundle, text, current));
            auto written = item ? replace(bundle, text, *item) : create(bundle, text);
            if (written.ok()) {
                return {};
            }
            if (written.error().code != k_condition_failed) {
                return written.error().wrap(describe() + " bundle");
            }
            if (attempt == k_put_attempts) {
                return make_error(ErrorKind::conflict,
                                  describe() +
                                      ": the bundle item kept changing under us (another writer without the "
                                      "lease?); nothing stored");
            }
        }
    }

    core::Result<std::optional<std::string>> get_account() override { return get_text(account_pk_, "account"); }

    core::Status put_account(std::string_view account_json) override {
        return put_text(account_pk_, "account", account_json, "the account record");
    }

    core::Result<std::optional<std::string>> get_note(std::string_view kind) override {
        TRY(need_key());
        TRY_ASSIGN(auto item, read(note_sk(kind)));
        return item ? detail::string_attribute(*item, "text") : std::nullopt;
    }

    core::Status put_note(std::string_view kind, std::string_view json_text) override {
        TRY(need_key());
        ahead_.erase(note_sk(kind));
        return put_text(key_, note_sk(kind), json_text, "the note");
    }

    std::string describe() const override { return "dynamodb:" + api_->table() + "/" + key_; }

    // One BatchGetItem reads items of one table in one account and region.
    std::string batch_family() const override {
        const auto& aws = api_->config().aws;
        return "dynamodb:" + (aws ? aws->region : std::string()) + "/" + api_->table();
    }

    void read_family_ahead(std::span<const ReadAhead> family, const core::Deadline& deadline) override {
        std::vector<DynamoDbStore*> stores;
        std::vector<detail::ItemKey> keys;
        for (const auto& request : family) {
            auto* store = dynamic_cast<DynamoDbStore*>(request.store);
            if (store == nullptr) {
                continue;  // not a DynamoDB store: it reads its own items
            }
            stores.push_back(store);
            keys.emplace_back(store->key_, k_sk_bundle);
            for (const auto& kind : request.note_kinds) {
                keys.emplace_back(store->key_, note_sk(kind));
            }
        }
        const auto read = detail::batch_get_items(*api_, std::move(keys), deadline);
        for (auto* store : stores) {
            store->ahead_.clear();
            for (auto it = read.lower_bound({store->key_, ""}); it != read.end() && it->first.first == store->key_;
                 ++it) {
                store->ahead_[it->first.second] = it->second;
            }
        }
    }

    core::Result<std::unique_ptr<Store>> open(std::string_view name) override {
        if (name.empty()) {
            return make_error(ErrorKind::invalid_input, describe() + ": open() needs a listed name");
        }
        return std::unique_ptr<Store>(std::make_unique<DynamoDbStore>(api_, key_ + std::string(name)));
    }

    // Scan, every page (docs/stores.md#listing-a-table): the bundle items
    // whose pk begins with key_ + prefix, never the lease, note or account
    // items. Eventually consistent (half the read units): a bundle written a
    // moment ago is found on the next poll. Only pk and version come back;
    // DynamoDB charges the whole items read all the same.
    core::Result<std::vector<Listing>> list(std::string_view prefix) override {
        const std::string location = key_ + std::string(prefix);
        const std::string where = "dynamodb:" + api_->table() + "/" + location;
        std::vector<Listing> found;
        json start;
        do {
            json body = scan_request(location);
            if (!start.is_null()) {
                body["ExclusiveStartKey"] = start;
            }
            auto page = api_->call("Scan", body);
            if (!page.ok()) {
                return page.error().wrap(where + " Scan");
            }
            add_page(*page, location, found);
            auto next = page->value("LastEvaluatedKey", json());
            if (!next.is_null() && next == start) {
                return make_error(ErrorKind::internal, where + " Scan: the same LastEvaluatedKey twice");
            }
            start = std::move(next);
        } while (!start.is_null());
        std::sort(found.begin(), found.end(), [](const Listing& a, const Listing& b) { return a.name < b.name; });
        return found;
    }

private:
    // "dynamodb:TABLE/" names the whole table for list(); it holds no bundle.
    core::Status need_key() const {
        if (!key_.empty()) {
            return {};
        }
        return make_error(ErrorKind::invalid_input,
                          describe() + ": names a table to list, not a certificate (give the key after the slash)");
    }

    static json scan_request(const std::string& location) {
        // SPECIFIC_ATTRIBUTES said outright: a host's policy can require it
        // (deploy/iam/certfetch-dynamodb-all.json), so a Scan cannot read keys.
        json body = {{"FilterExpression", "#sk = :b"},
                     {"Select", "SPECIFIC_ATTRIBUTES"},
                     {"ProjectionExpression", "#pk, #v"},
                     {"ExpressionAttributeNames", {{"#pk", "pk"}, {"#sk", "sk"}, {"#v", "version"}}},
                     {"ExpressionAttributeValues", {{":b", string_value(k_sk_bundle)}}}};
        if (!location.empty()) {  // begins_with of "" would match all; say nothing instead
            body["FilterExpression"] = "#sk = :b AND begins_with(#pk, :p)";
            body["ExpressionAttributeValues"][":p"] = string_value(location);
        }
        return body;
    }

    void add_page(const json& page, const std::string& location, std::vector<Listing>& found) const {
        const auto items = page.find("Items");
        if (items == page.end() || !items->is_array()) {
            return;
        }
        for (const auto& item : *items) {
            const auto pk = detail::string_attribute(item, "pk");
            if (!pk || pk->size() <= key_.size() || !pk->starts_with(location)) {
                continue;  // checked again: a filter is no promise of what comes back
            }
            const auto version = detail::number_attribute(item, "version");
            found.push_back({pk->substr(key_.size()), "dynamodb:" + api_->table() + "/" + *pk,
                             version ? std::to_string(*version) : std::string()});
        }
    }

    // The item (key_, sk): read ahead (once), else read now.
    core::Result<std::optional<json>> read(const std::string& sk) {
        if (auto it = ahead_.find(sk); it != ahead_.end()) {
            auto item = std::move(it->second);
            ahead_.erase(it);
            return item;
        }
        return api_->get_item(key_, sk);
    }

    static std::string note_sk(std::string_view kind) { return "note#" + std::string(kind); }

    // Refused before any call: DynamoDB would refuse it too, but say plainly what is too big.
    core::Status check_size(const Bundle& bundle, const std::string& text,
                            const std::optional<std::string>& previous) const {
        json item = attributes(bundle, text);
        item["pk"] = string_value(key_);
        item["sk"] = string_value(k_sk_bundle);
        item["previous"] = string_value(previous.value_or(""));
        const auto size = detail::item_size(item) + 16;  // + the version number
        if (size <= detail::k_dynamodb_item_limit) {
            return {};
        }
        return make_error(ErrorKind::invalid_input,
                          describe() + ": the bundle item would be " + std::to_string(size) + " bytes (bundle " +
                              std::to_string(text.size()) + ", previous " +
                              std::to_string(previous ? previous->size() : 0) + "); DynamoDB's item limit is " +
                              std::to_string(detail::k_dynamodb_item_limit) +
                              " bytes (fewer intermediates or a smaller key)");
    }

    static json attributes(const Bundle& bundle, const std::string& text) {
        return json{{"bundle", string_value(text)},
                    {"updated_at", string_value(core::format_time(std::chrono::system_clock::now()))},
                    {"not_after", string_value(bundle.not_after)},
                    {"serial", string_value(bundle.serial)}};
    }

    core::Status create(const Bundle& bundle, const std::string& text) {
        json item = attributes(bundle, text);
        item["pk"] = string_value(key_);
        item["sk"] = string_value(k_sk_bundle);
        item["version"] = number_value(1);
        auto put = api_->call("PutItem", json{{"Item", item},
                                              {"ConditionExpression", "attribute_not_exists(#pk)"},
                                              {"ExpressionAttributeNames", {{"#pk", "pk"}}}});
        if (!put.ok()) {
            return put.error();
        }
        core::log::info("created item", {{"store", describe()}});
        return {};
    }

    // The old bundle moves to `previous` inside DynamoDB (SET's right-hand
    // sides read the item as it was), under the version we read.
    core::Status replace(const Bundle& bundle, const std::string& text, const json& item) {
        const auto version = detail::number_attribute(item, "version");
        json values = {{":b", string_value(text)},
                       {":u", string_value(core::format_time(std::chrono::system_clock::now()))},
                       {":na", string_value(bundle.not_after)},
                       {":s", string_value(bundle.serial)},
                       {":next", number_value(version.value_or(0) + 1)}};
        std::string condition = "attribute_not_exists(#v)";
        if (version) {
            condition = "#v = :was";
            values[":was"] = number_value(*version);
        }
        const bool has_bundle = detail::string_attribute(item, "bundle").has_value();
        json names = {
            {"#b", "bundle"}, {"#u", "updated_at"}, {"#na", "not_after"}, {"#s", "serial"}, {"#v", "version"}};
        std::string update = "SET #b = :b, #u = :u, #na = :na, #s = :s, #v = :next";
        if (has_bundle) {
            update += ", #p = #b";
            names["#p"] = "previous";
        }
        auto put = api_->call("UpdateItem", json{{"Key", detail::item_key(key_, k_sk_bundle)},
                                                 {"UpdateExpression", update},
                                                 {"ConditionExpression", condition},
                                                 {"ExpressionAttributeNames", names},
                                                 {"ExpressionAttributeValues", values}});
        if (!put.ok()) {
            return put.error();
        }
        return {};
    }

    core::Result<std::optional<std::string>> get_text(const std::string& pk, const std::string& sk) {
        TRY_ASSIGN(auto item, api_->get_item(pk, sk));
        if (!item) {
            return std::optional<std::string>();
        }
        return detail::string_attribute(*item, "text");
    }

    core::Status put_text(const std::string& pk, const std::string& sk, std::string_view text, const char* what) {
        json item = detail::item_key(pk, sk);
        item["text"] = string_value(text);
        if (detail::item_size(item) > detail::k_dynamodb_item_limit) {
            return make_error(ErrorKind::invalid_input, describe() + ": " + what + " is larger than DynamoDB's " +
                                                            std::to_string(detail::k_dynamodb_item_limit) +
                                                            "-byte item limit");
        }
        auto put = api_->call("PutItem", json{{"Item", item}});
        if (!put.ok()) {
            return put.error().wrap(describe() + " " + sk + " PutItem");
        }
        return {};
    }

    std::shared_ptr<detail::DynamoDbApi> api_;
    std::string key_;
    std::string account_pk_;
    // Items of this certificate read ahead by read_family_ahead(), by sk,
    // each answered once (a later read, e.g. under the lease, reads again).
    std::map<std::string, std::optional<json>> ahead_;
};

}  // namespace

core::Result<StoreWithLocker> make_dynamodb_store_with_locker(const std::string& target, const StoreConfig& config) {
    const auto slash = target.find('/');
    const std::string table = target.substr(0, slash);
    const std::string key = slash == std::string::npos ? std::string() : target.substr(slash + 1);
    if (!detail::valid_table_name(table)) {
        return make_error(ErrorKind::invalid_input, "store \"dynamodb:" + target + "\": the table name \"" + table +
                                                        "\" is not 3..255 of a-z A-Z 0-9 _ - .");
    }
    // "TABLE/" with nothing after: the whole table, for list() only.
    const bool whole_table = key.empty() && slash != std::string::npos;
    if (!whole_table && (key.empty() || key.size() > 1024)) {
        return make_error(ErrorKind::invalid_input,
                          "store \"dynamodb:" + target +
                              "\": give the certificate's key after the table, 1..1024 characters (e.g. "
                              "\"dynamodb:" +
                              table + "/{name}\")");
    }
    auto api = std::make_shared<detail::DynamoDbApi>(config, table);
    auto store = std::make_unique<DynamoDbStore>(api, key);
    auto locker = detail::make_dynamodb_locker(api, key, store->describe());
    return StoreWithLocker{std::move(store), std::move(locker)};
}

}  // namespace secrets
