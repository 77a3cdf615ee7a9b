#include "secrets/dynamodb_api.hpp"

#include <algorithm>

#include "aws/client.hpp"

namespace secrets::detail {

using nlohmann::json;

DynamoDbApi::DynamoDbApi(StoreConfig config, std::string table)
    : config_(std::move(config)), table_(std::move(table)) {}

DynamoDbApi::~DynamoDbApi() = default;

aws::Client& DynamoDbApi::client() {
    if (!client_) {
        client_ = std::make_unique<aws::Client>(config_.aws ? *config_.aws : aws::ClientSettings{});
    }
    return *client_;
}

core::Result<json> DynamoDbApi::call(std::string_view action, json body) {
    if (!body.contains("RequestItems")) {
        body["TableName"] = table_;
    }
    auto answer = client().json(aws::dynamodb, action, body);
    if (!answer.ok() && answer.error().code == "ResourceNotFoundException") {
        // DynamoDB says only "Requested resource not found": name the table.
        return answer.error().wrap("dynamodb table " + table_ + " (created in this region and account?)");
    }
    return answer;
}

core::Result<std::optional<json>> DynamoDbApi::get_item(const std::string& pk, const std::string& sk) {
    TRY_ASSIGN(auto answer, call("GetItem", json{{"Key", item_key(pk, sk)}, {"ConsistentRead", true}}));
    const auto it = answer.find("Item");
    if (it == answer.end() || !it->is_object()) {
        return std::optional<json>();
    }
    return std::optional<json>(std::move(*it));
}

json string_value(std::string_view text) { return json{{"S", std::string(text)}}; }

json number_value(std::int64_t number) { return json{{"N", std::to_string(number)}}; }

json item_key(const std::string& pk, const std::string& sk) {
    return json{{"pk", string_value(pk)}, {"sk", string_value(sk)}};
}

std::optional<std::string> string_attribute(const json& item, const char* name) {
    const auto it = item.find(name);
    if (it == item.end() || !it->is_object()) {
        return std::nullopt;
    }
    const auto value = it->find("S");
    if (value == it->end()) {
        return std::nullopt;
    }
    const auto* text = value->get_ptr<const std::string*>();
    return text == nullptr ? std::nullopt : std::optional<std::string>(*text);
}

std::optional<std::int64_t> number_attribute(const json& item, const char* name) {
    const auto it = item.find(name);
    if (it == item.end() || !it->is_object()) {
        return std::nullopt;
    }
    const auto value = it->find("N");
    if (value == it->end()) {
        return std::nullopt;
    }
    const auto* text = value->get_ptr<const std::string*>();
    if (text == nullptr) {
        return std::nullopt;
    }
    try {
        return std::stoll(*text);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::size_t item_size(const json& item) {
    std::size_t size = 0;
    for (const auto& [name, value] : item.items()) {
        size += name.size();
        if (const auto s = value.find("S"); s != value.end() && s->is_string()) {
            size += s->get_ref<const std::string&>().size();
        } else if (const auto n = value.find("N"); n != value.end() && n->is_string()) {
            size += n->get_ref<const std::string&>().size() / 2 + 1;
        }
    }
    return size;
}

bool valid_table_name(std::string_view name) {
    return name.size() >= 3 && name.size() <= 255 && std::all_of(name.begin(), name.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-' || c == '.';
           });
}

}  // namespace secrets::detail
