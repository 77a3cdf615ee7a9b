#include "renewer/domain_list_item.hpp"

#include <array>
#include <optional>
#include <string_view>

#include <fmt/format.h>

namespace renewer {
namespace {

using nlohmann::json;

// The AttributeValue's type ("S", "SS", "L", ...): its one key.
std::string attribute_type_of(const json& value) {
    return value.is_object() && value.size() == 1 ? value.begin().key() : std::string("?");
}

std::optional<std::string> string_value_of(const json& value) {
    const auto it = value.is_object() ? value.find("S") : value.end();
    if (!value.is_object() || it == value.end() || !it->is_string()) {
        return std::nullopt;
    }
    return it->get<std::string>();
}

// "domains": SS, or L whose every element is S.
std::optional<json> names_of(const json& value) {
    if (const auto set = value.find("SS"); set != value.end() && set->is_array()) {
        return *set;
    }
    const auto list = value.find("L");
    if (list == value.end() || !list->is_array()) {
        return std::nullopt;
    }
    json names = json::array();
    for (const auto& element : *list) {
        auto name = string_value_of(element);
        if (!name) {
            return std::nullopt;
        }
        names.push_back(std::move(*name));
    }
    return names;
}

// Copies attribute `name` of `item` into `out` as the file's value, or says
// why it cannot.
std::optional<std::string> copy_attribute(const json& item, std::string_view name, json& out) {
    const auto it = item.find(name);
    if (it == item.end()) {
        return std::nullopt;
    }
    const std::string key(name);
    if (name == "domains") {
        auto names = names_of(*it);
        if (!names) {
            return fmt::format("domains: expected SS or L of S, got {}", attribute_type_of(*it));
        }
        out[key] = std::move(*names);
    } else if (name == "customer_dns") {
        const auto flag = it->find("BOOL");
        if (flag == it->end() || !flag->is_boolean()) {
            return fmt::format("customer_dns: expected BOOL, got {}", attribute_type_of(*it));
        }
        out[key] = flag->get<bool>();
    } else {
        auto text = string_value_of(*it);
        if (!text) {
            return fmt::format("{}: expected S, got {}", name, attribute_type_of(*it));
        }
        out[key] = std::move(*text);
    }
    return std::nullopt;
}

}  // namespace

// Built from locals and returned as a prvalue: ListedItem is never moved
// here (its implicit move of a json member is not noexcept-safe for
// clang-tidy's bugprone-exception-escape).
ListedItem listed_item_of(const json& item, std::size_t index) {
    const auto id = item.find("id");
    const auto id_text = id == item.end() ? std::nullopt : string_value_of(*id);
    if (!id_text) {
        return ListedItem{fmt::format("(item {} of the scan)", index), json(),
                          id == item.end() ? "no \"id\" attribute (the table's partition key, S)"
                                           : fmt::format("id: expected S, got {}", attribute_type_of(*id))};
    }
    if (!item.contains("domains")) {
        return ListedItem{*id_text, json(), "domains: required (SS or L of S: the certificate's names)"};
    }
    json certificate = json::object({{"name", *id_text}});
    constexpr std::array<std::string_view, 5> k_attributes = {"domains", "key_type", "store", "profile",
                                                              "customer_dns"};
    for (const auto name : k_attributes) {
        if (auto problem = copy_attribute(item, name, certificate)) {
            return ListedItem{*id_text, json(), std::move(*problem)};
        }
    }
    return ListedItem{*id_text, std::move(certificate), ""};
}

}  // namespace renewer
