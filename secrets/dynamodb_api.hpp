// Internal to secrets/: the DynamoDB calls (JSON 1.0 API) the DynamoDB store,
// its locker and the Secrets Manager store's lease table share, over one
// aws::Client per store, and the few AttributeValue helpers they need.
//
// Table layout (docs/stores.md#dynamodb): partition key "pk" (S), sort key
// "sk" (S). A certificate's items share its pk; sk says which item it is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "secrets/store.hpp"

namespace aws {
class Client;
}

namespace secrets::detail {

inline constexpr const char* k_condition_failed = "ConditionalCheckFailedException";

// DynamoDB's item size limit, 400 KB ("Service, account, and table quotas").
inline constexpr std::size_t k_dynamodb_item_limit = std::size_t{400} * 1024;

// The sort keys of the items one certificate (or one account) owns.
inline constexpr const char* k_sk_bundle = "bundle";
inline constexpr const char* k_sk_lease = "lease";
inline constexpr const char* k_sk_account = "account";

class DynamoDbApi {
public:
    DynamoDbApi(StoreConfig config, std::string table);
    ~DynamoDbApi();
    DynamoDbApi(const DynamoDbApi&) = delete;
    DynamoDbApi& operator=(const DynamoDbApi&) = delete;

    // One call with "TableName" added to `body`, unless the body names its
    // tables itself (the RequestItems of BatchGetItem).
    core::Result<nlohmann::json> call(std::string_view action, nlohmann::json body);
    // The item (pk, sk) read with ConsistentRead (a renewal must see the
    // write before it), nullopt when there is none.
    core::Result<std::optional<nlohmann::json>> get_item(const std::string& pk, const std::string& sk);

    const std::string& table() const { return table_; }
    const StoreConfig& config() const { return config_; }

private:
    aws::Client& client();

    StoreConfig config_;
    std::string table_;
    std::unique_ptr<aws::Client> client_;  // made on the first call
};

// An item's key in this table's layout.
using ItemKey = std::pair<std::string, std::string>;  // pk, sk

// Reads the items `keys` of `api`'s table with BatchGetItem (ConsistentRead,
// as get_item; 100 keys a call), the keys DynamoDB leaves unprocessed asked
// again after a backoff, until `deadline`. Returns what was answered: the
// item, or nullopt for a key that has none. A key missing from the answer
// was not read (a failed call, the deadline): its reader must read it
// itself (dynamodb_batch.cpp).
std::map<ItemKey, std::optional<nlohmann::json>> batch_get_items(DynamoDbApi& api, std::vector<ItemKey> keys,
                                                                 const core::Deadline& deadline);

// AttributeValues: {"S": text}, {"N": "123"}.
nlohmann::json string_value(std::string_view text);
nlohmann::json number_value(std::int64_t number);
nlohmann::json item_key(const std::string& pk, const std::string& sk);
// The item's string / number attribute, nullopt when absent or of another type.
std::optional<std::string> string_attribute(const nlohmann::json& item, const char* name);
std::optional<std::int64_t> number_attribute(const nlohmann::json& item, const char* name);

// The size DynamoDB counts for an item of S and N attributes: each name's
// UTF-8 length plus its value's (a number: its digits / 2 + 1), per
// "Item sizes and formats" of the DynamoDB developer guide.
std::size_t item_size(const nlohmann::json& item);

// A table name is 3..255 of a-z A-Z 0-9 _ - . (CreateTable's TableName rule).
bool valid_table_name(std::string_view name);

// The lease of one certificate kept as the item (pk, "lease") of `api`'s
// table, taken and released by conditional writes; `where` names the store
// in messages (dynamodb_locker.cpp).
std::unique_ptr<Locker> make_dynamodb_locker(std::shared_ptr<DynamoDbApi> api, std::string pk, std::string where);

}  // namespace secrets::detail
