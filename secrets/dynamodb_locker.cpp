// A certificate's lease as one DynamoDB item (pk, "lease"): the DynamoDB
// store's locker, and the Secrets Manager store's with --lease-table.
//
// Taken by a real compare-and-swap: PutItem with the condition
// "attribute_not_exists(token) OR expires < now" succeeds for exactly one of
// two runs that find the lease free (DynamoDB applies a conditional write
// atomically per item: "Condition expressions", developer guide). A holder
// that is certainly dead (lease_is_free: same host, pid gone) is taken over
// with a second swap conditioned on its token. Renewal and release are
// conditioned on our token, so neither touches a lease someone else took.
#include <chrono>

#include "secrets/dynamodb_api.hpp"
#include "secrets/lease.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;
using detail::k_condition_failed;
using detail::number_value;
using detail::string_value;
using nlohmann::json;

std::int64_t epoch_seconds(core::SystemTime t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

class DynamoDbLocker final : public Locker {
public:
    DynamoDbLocker(std::shared_ptr<detail::DynamoDbApi> api, std::string pk, std::string where)
        : api_(std::move(api)), pk_(std::move(pk)), where_(std::move(where)) {}

    core::Result<Lease> try_acquire(const std::string& owner, std::chrono::seconds ttl) override {
        const auto record = detail::new_lease(owner, ttl);
        const auto now = std::chrono::system_clock::now();
        auto put = write(record, "attribute_not_exists(#tok) OR #exp < :now",
                         json{{":now", number_value(epoch_seconds(now))}}, {{"#tok", "token"}, {"#exp", "expires"}});
        if (put.ok()) {
            return detail::to_lease(record);
        }
        if (put.error().code != k_condition_failed) {
            return put.error().wrap(describe() + " lease PutItem");
        }
        TRY_ASSIGN(auto held, read());
        if (held && held->token == record.token) {
            return detail::to_lease(*held);  // our own write, its answer lost and the retry refused
        }
        if (!held || !detail::lease_is_free(*held, now)) {
            return held ? core::Result<Lease>(detail::lease_conflict(*held, describe())) : taken_first();
        }
        // Free only because its holder is dead: swap it out by its token.
        auto takeover =
            write(record, "#tok = :theirs", json{{":theirs", string_value(held->token)}}, {{"#tok", "token"}});
        if (takeover.ok()) {
            return detail::to_lease(record);
        }
        if (takeover.error().code != k_condition_failed) {
            return takeover.error().wrap(describe() + " lease PutItem");
        }
        return taken_first();
    }

    core::Result<Lease> renew(const Lease& lease, std::chrono::seconds ttl) override {
        TRY_ASSIGN(auto held, read());
        if (!held || held->token != lease.token) {
            return detail::lease_lost(held, describe());
        }
        held->expires_at = detail::expiry_after(ttl);
        auto put = write(*held, "#tok = :ours", json{{":ours", string_value(lease.token)}}, {{"#tok", "token"}});
        if (!put.ok()) {
            if (put.error().code == k_condition_failed) {
                TRY_ASSIGN(auto now_held, read());
                return detail::lease_lost(now_held, describe());
            }
            return put.error().wrap(describe() + " lease PutItem");
        }
        return detail::to_lease(*held);
    }

    core::Status release(const Lease& lease) override {
        auto deleted =
            api_->call("DeleteItem", json{{"Key", detail::item_key(pk_, detail::k_sk_lease)},
                                          {"ConditionExpression", "#tok = :ours"},
                                          {"ExpressionAttributeNames", {{"#tok", "token"}}},
                                          {"ExpressionAttributeValues", {{":ours", string_value(lease.token)}}}});
        if (!deleted.ok() && deleted.error().code != k_condition_failed) {
            return deleted.error().wrap(describe() + " lease DeleteItem");
        }
        return {};  // a refused condition: expired and taken over, not ours to free
    }

    std::string describe() const override { return where_; }

private:
    // PutItem of the whole lease item under `condition`.
    core::Status write(const detail::LeaseRecord& record, const char* condition, const json& values,
                       const json& names) {
        json item = detail::item_key(pk_, detail::k_sk_lease);
        item["token"] = string_value(record.token);
        item["expires"] = number_value(epoch_seconds(record.expires_at));
        item["owner"] = string_value(record.owner);
        item["lease"] = string_value(detail::lease_to_json(record));
        auto put = api_->call("PutItem", json{{"Item", item},
                                              {"ConditionExpression", condition},
                                              {"ExpressionAttributeNames", names},
                                              {"ExpressionAttributeValues", values}});
        if (!put.ok()) {
            return put.error();
        }
        return {};
    }

    core::Result<std::optional<detail::LeaseRecord>> read() {
        TRY_ASSIGN(auto item, api_->get_item(pk_, detail::k_sk_lease));
        if (!item) {
            return std::optional<detail::LeaseRecord>();
        }
        const auto text = detail::string_attribute(*item, "lease");
        auto record = text ? detail::lease_from_json(*text) : std::nullopt;
        if (record) {
            record->token = detail::string_attribute(*item, "token").value_or("");
        }
        return record;
    }

    core::Error taken_first() const {
        auto error = make_error(ErrorKind::conflict, describe() + ": another run took the lock first");
        error.code = "LockHeld";
        return error;
    }

    std::shared_ptr<detail::DynamoDbApi> api_;
    std::string pk_;
    std::string where_;
};

}  // namespace

namespace detail {

std::unique_ptr<Locker> make_dynamodb_locker(std::shared_ptr<DynamoDbApi> api, std::string pk, std::string where) {
    return std::make_unique<DynamoDbLocker>(std::move(api), std::move(pk), std::move(where));
}

core::Result<std::unique_ptr<Locker>> make_lease_table_locker(const StoreConfig& config, std::string pk,
                                                              std::string where) {
    if (!valid_table_name(config.lease_table)) {
        return make_error(ErrorKind::invalid_input,
                          "lease table \"" + config.lease_table + "\": not 3..255 of a-z A-Z 0-9 _ - .");
    }
    auto api = std::make_shared<DynamoDbApi>(config, config.lease_table);
    return make_dynamodb_locker(std::move(api), std::move(pk), std::move(where));
}

}  // namespace detail
}  // namespace secrets
