#include "core/settings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "core/atomic_file.hpp"
#include "core/log.hpp"

namespace core::settings {
namespace {

using nlohmann::json;

// Levenshtein distance, to suggest the key an operator probably meant.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// Keys that would put a secret into the file, with what to use instead.
std::optional<std::string_view> inline_secret_hint(std::string_view key) {
    static const std::map<std::string_view, std::string_view> k_hints = {
        {"tsig_secret", "tsig_secret_env or tsig_secret_file"},
        {"secret", "tsig_secret_env or tsig_secret_file"},
        {"hmac_key", "hmac_key_env or hmac_key_file"},
        {"eab_hmac_key", "eab.hmac_key_env or eab.hmac_key_file"},
        {"private_key", "a store (\"aws-sm:NAME\" or \"dir:/path\")"},
        {"password", "an *_env or *_file field"},
        {"secret_access_key", "the AWS credential chain (role, AWS_* variables)"},
        {"aws_secret_access_key", "the AWS credential chain (role, AWS_* variables)"},
    };
    const auto it = k_hints.find(key);
    if (it == k_hints.end()) {
        return std::nullopt;
    }
    return it->second;
}

std::string noun_of(const Setting& setting) {
    std::string noun(setting.noun.empty() ? setting.key : setting.noun);
    std::replace(noun.begin(), noun.end(), '_', ' ');
    return noun;
}

std::string number_text(double value) { return fmt::format("{}", value); }

core::Status check_text(const Setting& setting, const std::string& text, const std::string& origin) {
    if (text.empty()) {
        return settings_error(origin, "must not be empty");
    }
    if (!setting.choices.empty()) {
        bool known = false;
        std::string_view rest = setting.choices;
        while (!rest.empty() && !known) {
            const auto bar = rest.find('|');
            known = rest.substr(0, bar) == text;
            rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
        }
        if (!known) {
            return settings_error(
                origin, fmt::format("unknown {} \"{}\" ({})", noun_of(setting), text, choices_text(setting.choices)));
        }
    }
    if (setting.check != nullptr) {
        if (auto problem = setting.check(text)) {
            return settings_error(origin, *problem);
        }
    }
    return {};
}

core::Status check_range(const Setting& setting, double number, const std::string& origin) {
    if (setting.min == 0 && setting.max == 0) {
        return {};
    }
    if (setting.type == Type::integer) {
        if (number < setting.min || number > setting.max) {
            return settings_error(origin, fmt::format("must be between {} and {}, got {}", number_text(setting.min),
                                                      number_text(setting.max), number_text(number)));
        }
        return {};
    }
    const bool above_min = setting.min_exclusive ? number > setting.min : number >= setting.min;
    const bool below_max = setting.max_exclusive ? number < setting.max : number <= setting.max;
    if (!above_min || !below_max) {
        return settings_error(
            origin, fmt::format("must be {} {} and {} {}, got {}", setting.min_exclusive ? "greater than" : "at least",
                                number_text(setting.min), setting.max_exclusive ? "less than" : "at most",
                                number_text(setting.max), number_text(number)));
    }
    return {};
}

// `indexed`: the items came as a JSON array, so an error names the item
// ("allow[1]"); from a flag or one "a,b" string it names the whole value.
core::Result<json> checked_list(const Setting& setting, const std::vector<std::string>& items,
                                const std::string& origin, bool indexed) {
    if (items.empty()) {
        return settings_error(origin, "empty list");
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string item_origin = indexed ? fmt::format("{}[{}]", origin, i) : origin;
        if (items[i].empty()) {
            return settings_error(item_origin, "empty entry");
        }
        TRY(check_text(setting, items[i], item_origin));
    }
    return json(items);
}

std::vector<std::string> split_commas(std::string_view text) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (true) {
        const auto comma = text.find(',', start);
        items.emplace_back(
            text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
        if (comma == std::string_view::npos) {
            return items;
        }
        start = comma + 1;
    }
}

const Variant* find_variant(const Block& block, std::string_view name) {
    const auto it =
        std::find_if(block.variants.begin(), block.variants.end(), [&](const Variant& v) { return v.name == name; });
    return it == block.variants.end() ? nullptr : &*it;
}

bool in_rows(std::span<const Setting> rows, std::string_view key) {
    return std::any_of(rows.begin(), rows.end(), [&](const Setting& s) { return s.key == key; });
}

// Does `key` apply under `variant`?
bool used_by(const Block& block, std::string_view variant, std::string_view key) {
    if (in_rows(block.common, key)) {
        return true;
    }
    const Variant* v = find_variant(block, variant);
    return v != nullptr && in_rows(v->settings, key);
}

std::string_view group_of(const Block& block, std::string_view key) {
    const Setting* setting = find(block, key);
    return setting == nullptr ? std::string_view{} : setting->group;
}

core::Status check_one_per_group(const Block& block, const Values& values) {
    std::map<std::string_view, std::string> seen;
    for (const auto& [key, value] : values) {
        const auto group = group_of(block, key);
        if (group.empty()) {
            continue;
        }
        if (const auto [it, inserted] = seen.emplace(group, value.origin); !inserted) {
            return settings_error(value.origin, fmt::format("give one of {} and {}", it->second, value.origin));
        }
    }
    return {};
}

}  // namespace

core::Error settings_error(const std::string& origin, const std::string& message) {
    return core::make_error(core::ErrorKind::invalid_input, origin.empty() ? message : origin + ": " + message);
}

std::string missing_origin(const Setting& setting, const std::string& block_origin) {
    if (!block_origin.empty() && setting.in_file) {
        return block_origin + "." + std::string(setting.key);
    }
    if (!setting.flag.empty()) {
        return "--" + std::string(setting.flag) + (setting.env.empty() ? "" : " (or " + std::string(setting.env) + ")");
    }
    return std::string(setting.env.empty() ? setting.key : setting.env);
}

core::Result<std::string> read_secret(const Values& values, std::string_view direct, std::string_view via_env,
                                      std::string_view via_file) {
    std::string secret = text(values, direct);
    std::string where = origin(values, direct);
    if (const auto name = text(values, via_env); !name.empty()) {
        where = origin(values, via_env);
        const char* raw = std::getenv(name.c_str());
        if (raw == nullptr || *raw == '\0') {
            return settings_error(where, fmt::format("environment variable {} is not set", name));
        }
        secret = raw;
    } else if (const auto file = text(values, via_file); !file.empty()) {
        where = origin(values, via_file);
        auto content = read_file(file);
        if (!content) {
            return settings_error(where, fmt::format("cannot read \"{}\": {}", file, content.error().message));
        }
        secret = std::move(content).value();
    }
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) {
        secret.pop_back();
    }
    if (!where.empty() && secret.empty()) {
        return settings_error(where, "the secret is empty");
    }
    if (!secret.empty()) {
        log::register_secret(secret);
    }
    return secret;
}

Source source_of(std::string_view origin) {
    if (origin.rfind("--", 0) == 0) {
        return Source::flag;
    }
    const bool env_like = !origin.empty() && std::all_of(origin.begin(), origin.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    });
    return env_like ? Source::env : Source::file;
}

Block flat_block(std::span<const Setting> rows) { return Block{rows, {}, {}, {}, {}}; }

std::string choices_text(std::string_view choices) {
    std::vector<std::string_view> items;
    std::string_view rest = choices;
    while (!rest.empty()) {
        const auto bar = rest.find('|');
        items.push_back(rest.substr(0, bar));
        rest = bar == std::string_view::npos ? std::string_view{} : rest.substr(bar + 1);
    }
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) {
            out += i + 1 == items.size() ? " or " : ", ";
        }
        out += items[i];
    }
    return out;
}

EnvLookup process_env() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr || *value == '\0') {
            return std::nullopt;
        }
        return std::string(value);
    };
}

core::Result<json> from_text(const Setting& setting, std::string_view text, const std::string& origin) {
    const std::string value(text);
    switch (setting.type) {
        case Type::text: TRY(check_text(setting, value, origin)); return json(value);
        case Type::list: return checked_list(setting, split_commas(value), origin, false);
        case Type::boolean:
            if (value == "1" || value == "true" || value == "TRUE" || value == "True" || value == "yes") {
                return json(true);
            }
            if (value == "0" || value == "false" || value == "FALSE" || value == "False" || value == "no") {
                return json(false);
            }
            return settings_error(origin, fmt::format("'{}' is not true or false", value));
        case Type::integer: {
            errno = 0;
            char* end = nullptr;
            const long long parsed = std::strtoll(value.c_str(), &end, 10);
            if (value.empty() || errno != 0 || *end != '\0') {
                return settings_error(origin, fmt::format("'{}' is not a whole number", value));
            }
            TRY(check_range(setting, static_cast<double>(parsed), origin));
            return json(parsed);
        }
        case Type::number: {
            errno = 0;
            char* end = nullptr;
            const double parsed = std::strtod(value.c_str(), &end);
            if (value.empty() || errno != 0 || *end != '\0' || parsed != parsed) {
                return settings_error(origin, fmt::format("'{}' is not a number", value));
            }
            TRY(check_range(setting, parsed, origin));
            return json(parsed);
        }
    }
    return settings_error(origin, "unknown setting type");
}

core::Result<json> from_json(const Setting& setting, const json& value, const std::string& origin) {
    switch (setting.type) {
        case Type::text:
            if (!value.is_string()) {
                return settings_error(origin, fmt::format("expected a string, got {}", value.type_name()));
            }
            TRY(check_text(setting, value.get<std::string>(), origin));
            return value;
        case Type::list: {
            if (setting.text_in_file && value.is_string()) {
                return checked_list(setting, split_commas(value.get<std::string>()), origin, false);
            }
            if (!value.is_array()) {
                return settings_error(
                    origin, setting.text_in_file
                                ? fmt::format("expected \"a,b\" or a list of strings, got {}", value.type_name())
                                : fmt::format("expected a list of strings, got {}", value.type_name()));
            }
            std::vector<std::string> items;
            for (std::size_t i = 0; i < value.size(); ++i) {
                if (!value[i].is_string()) {
                    return settings_error(fmt::format("{}[{}]", origin, i),
                                          fmt::format("expected a string, got {}", value[i].type_name()));
                }
                items.push_back(value[i].get<std::string>());
            }
            return checked_list(setting, items, origin, true);
        }
        case Type::boolean:
            if (!value.is_boolean()) {
                return settings_error(origin, fmt::format("expected true or false, got {}", value.type_name()));
            }
            return value;
        case Type::integer: {
            if (!value.is_number_integer()) {
                return settings_error(origin, fmt::format("expected an integer, got {}",
                                                          value.is_number() ? "a fraction" : value.type_name()));
            }
            if (value.is_number_unsigned() &&
                value.get<unsigned long long>() >
                    static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
                return settings_error(origin, "out of range");
            }
            TRY(check_range(setting, static_cast<double>(value.get<long long>()), origin));
            return value;
        }
        case Type::number:
            if (!value.is_number()) {
                return settings_error(origin, fmt::format("expected a number, got {}", value.type_name()));
            }
            TRY(check_range(setting, value.get<double>(), origin));
            return json(value.get<double>());
    }
    return settings_error(origin, "unknown setting type");
}

const Setting* find(const Block& block, std::string_view key) {
    for (const Setting* setting : all_settings(block)) {
        if (setting->key == key) {
            return setting;
        }
    }
    return nullptr;
}

std::vector<const Setting*> all_settings(const Block& block) {
    std::vector<const Setting*> rows;
    for (const auto& setting : block.common) {
        rows.push_back(&setting);
    }
    for (const auto& variant : block.variants) {
        for (const auto& setting : variant.settings) {
            rows.push_back(&setting);
        }
    }
    return rows;
}

core::Result<Values> read_object(const Block& block, const json& object, const std::string& path,
                                 std::span<const std::string_view> structure) {
    if (!object.is_object()) {
        return settings_error(path.empty() ? "(top level)" : path,
                              fmt::format("expected an object, got {}", object.type_name()));
    }
    Values values;
    for (const auto& [key, value] : object.items()) {
        const std::string origin = path.empty() ? key : path + "." + key;
        if (std::find(structure.begin(), structure.end(), key) != structure.end()) {
            continue;
        }
        const Setting* setting = find(block, key);
        if (setting == nullptr || !setting->in_file) {
            if (const auto hint = inline_secret_hint(key)) {
                return settings_error(origin,
                                      fmt::format("secrets are never written in the config file; use {}", *hint));
            }
            std::vector<std::string_view> candidates(structure.begin(), structure.end());
            for (const Setting* candidate : all_settings(block)) {
                if (candidate->in_file) {
                    candidates.push_back(candidate->key);
                }
            }
            std::string hint;
            std::size_t best = 3;
            for (const auto candidate : candidates) {
                const std::size_t distance = edit_distance(key, candidate);
                if (distance < best) {
                    best = distance;
                    hint = fmt::format(" (did you mean \"{}\"?)", candidate);
                }
            }
            return settings_error(origin, "unknown key" + hint);
        }
        TRY_ASSIGN(json checked, from_json(*setting, value, origin));
        values.emplace(key, Value{std::move(checked), origin});
    }
    TRY(check_one_per_group(block, values));
    return values;
}

core::Result<Values> read_env(const Block& block, const EnvLookup& env) {
    Values values;
    for (const Setting* setting : all_settings(block)) {
        if (setting->env.empty() || values.contains(setting->key)) {
            continue;
        }
        const auto text = env(setting->env);
        if (!text) {
            continue;
        }
        TRY_ASSIGN(json value, from_text(*setting, *text, std::string(setting->env)));
        values.emplace(std::string(setting->key), Value{std::move(value), std::string(setting->env)});
    }
    return values;
}

std::string selected_variant(const Block& block, const Values& values) {
    if (block.selector.empty()) {
        return {};
    }
    return text(values, block.selector, std::string(block.default_variant));
}

core::Status check_variant(const Block& block, const Values& values) {
    if (block.selector.empty()) {
        return {};
    }
    const std::string variant = selected_variant(block, values);
    for (const auto& [key, value] : values) {
        if (!used_by(block, variant, key)) {
            return settings_error(value.origin, fmt::format("not used by {} {}", block.selector_noun, variant));
        }
    }
    return {};
}

core::Result<Values> overlay(const Block& block, Values lower, const Values& upper, Foreign foreign) {
    const std::string before = selected_variant(block, lower);
    std::string after = before;
    if (!block.selector.empty() && upper.contains(block.selector)) {
        after = text(upper, block.selector);
    }
    if (after != before) {
        std::erase_if(lower, [&](const auto& entry) { return !in_rows(block.common, entry.first); });
    }
    for (const auto& [key, value] : upper) {
        if (!block.selector.empty() && !used_by(block, after, key)) {
            if (foreign == Foreign::ignore) {
                continue;
            }
            return settings_error(value.origin, fmt::format("not used by {} {}", block.selector_noun, after));
        }
        if (const auto group = group_of(block, key); !group.empty()) {
            std::erase_if(lower, [&](const auto& entry) { return group_of(block, entry.first) == group; });
        }
        lower.insert_or_assign(key, value);
    }
    return lower;
}

std::string text(const Values& values, std::string_view key, std::string fallback) {
    const auto it = values.find(key);
    return it == values.end() ? std::move(fallback) : it->second.value.get<std::string>();
}

long long integer(const Values& values, std::string_view key, long long fallback) {
    const auto it = values.find(key);
    return it == values.end() ? fallback : it->second.value.get<long long>();
}

double number(const Values& values, std::string_view key, double fallback) {
    const auto it = values.find(key);
    return it == values.end() ? fallback : it->second.value.get<double>();
}

bool boolean(const Values& values, std::string_view key, bool fallback) {
    const auto it = values.find(key);
    return it == values.end() ? fallback : it->second.value.get<bool>();
}

std::vector<std::string> list(const Values& values, std::string_view key) {
    const auto it = values.find(key);
    return it == values.end() ? std::vector<std::string>{} : it->second.value.get<std::vector<std::string>>();
}

std::string origin(const Values& values, std::string_view key) {
    const auto it = values.find(key);
    return it == values.end() ? std::string{} : it->second.origin;
}

}  // namespace core::settings
