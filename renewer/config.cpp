#include "renewer/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "renewer/names.hpp"

namespace renewer {
namespace {

using nlohmann::json;

core::Error config_error(const std::string& path, const std::string& message) {
    return core::make_error(core::ErrorKind::invalid_input, path.empty() ? message : path + ": " + message);
}

std::string join_path(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string index_path(const std::string& path, std::size_t index) { return fmt::format("{}[{}]", path, index); }

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
const std::map<std::string, std::string, std::less<>>& inline_secret_keys() {
    static const std::map<std::string, std::string, std::less<>> keys = {
        {"tsig_secret", "tsig_secret_env or tsig_secret_file"},
        {"secret", "tsig_secret_env or tsig_secret_file"},
        {"hmac_key", "hmac_key_env or hmac_key_file"},
        {"eab_hmac_key", "eab.hmac_key_env or eab.hmac_key_file"},
        {"private_key", "a store (\"aws-sm:NAME\" or \"dir:/path\")"},
        {"password", "an *_env or *_file field"},
        {"secret_access_key", "the AWS credential chain (role, AWS_* variables)"},
        {"aws_secret_access_key", "the AWS credential chain (role, AWS_* variables)"},
    };
    return keys;
}

core::Status expect_object(const json& value, const std::string& path) {
    if (!value.is_object()) {
        return config_error(path.empty() ? "(top level)" : path,
                            fmt::format("expected an object, got {}", value.type_name()));
    }
    return {};
}

core::Status check_keys(const json& object, const std::string& path, const std::set<std::string, std::less<>>& known) {
    for (const auto& [key, value] : object.items()) {
        (void)value;
        if (known.contains(key)) {
            continue;
        }
        const auto secret = inline_secret_keys().find(key);
        if (secret != inline_secret_keys().end()) {
            return config_error(join_path(path, key),
                                fmt::format("secrets are never written in the config file; use {}", secret->second));
        }
        std::string hint;
        std::size_t best = 3;
        for (const auto& candidate : known) {
            const std::size_t distance = edit_distance(key, candidate);
            if (distance < best) {
                best = distance;
                hint = fmt::format(" (did you mean \"{}\"?)", candidate);
            }
        }
        return config_error(join_path(path, key), "unknown key" + hint);
    }
    return {};
}

core::Result<std::string> get_string(const json& value, const std::string& path) {
    if (!value.is_string()) {
        return config_error(path, fmt::format("expected a string, got {}", value.type_name()));
    }
    std::string text = value.get<std::string>();
    if (text.empty()) {
        return config_error(path, "must not be empty");
    }
    return text;
}

core::Result<bool> get_bool(const json& value, const std::string& path) {
    if (!value.is_boolean()) {
        return config_error(path, fmt::format("expected true or false, got {}", value.type_name()));
    }
    return value.get<bool>();
}

core::Result<long long> get_int(const json& value, const std::string& path, long long min, long long max) {
    if (!value.is_number_integer()) {
        return config_error(path, fmt::format("expected an integer, got {}",
                                              value.is_number() ? std::string("a fraction") : value.type_name()));
    }
    if (value.is_number_unsigned() &&
        value.get<unsigned long long>() > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) {
        return config_error(path, fmt::format("must be between {} and {}", min, max));
    }
    const long long number = value.get<long long>();
    if (number < min || number > max) {
        return config_error(path, fmt::format("must be between {} and {}, got {}", min, max, number));
    }
    return number;
}

// A number strictly between `low` and `high` (or up to `high` with `inclusive_high`).
core::Result<double> get_fraction(const json& value, const std::string& path, double low, double high,
                                  bool inclusive_high) {
    if (!value.is_number()) {
        return config_error(path, fmt::format("expected a number, got {}", value.type_name()));
    }
    const double number = value.get<double>();
    if (!(number > low && (inclusive_high ? number <= high : number < high))) {
        return config_error(path, fmt::format("must be greater than {} and {} {}, got {}", low,
                                              inclusive_high ? "at most" : "less than", high, number));
    }
    return number;
}

core::Result<std::vector<std::string>> get_string_list(const json& value, const std::string& path) {
    if (!value.is_array()) {
        return config_error(path, fmt::format("expected a list of strings, got {}", value.type_name()));
    }
    std::vector<std::string> items;
    for (std::size_t i = 0; i < value.size(); ++i) {
        TRY_ASSIGN(std::string item, get_string(value[i], index_path(path, i)));
        items.push_back(std::move(item));
    }
    return items;
}

// host, host:port, [v6] or [v6]:port.
core::Status check_host_port(const std::string& text, const std::string& path) {
    const auto bad = [&](const char* why) {
        return config_error(path, fmt::format("\"{}\" is not host:port ({})", text, why));
    };
    if (text.find_first_of(" \t/") != std::string::npos) {
        return bad("white space or '/'");
    }
    std::string port;
    if (text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string::npos || close == 1) {
            return bad("unclosed '['");
        }
        if (close + 1 < text.size()) {
            if (text[close + 1] != ':') {
                return bad("text after ']'");
            }
            port = text.substr(close + 2);
            if (port.empty()) {
                return bad("empty port");
            }
        }
    } else {
        const auto colon = text.find(':');
        if (colon != std::string::npos) {
            if (text.find(':', colon + 1) != std::string::npos) {
                return bad("write IPv6 addresses as [addr]:port");
            }
            if (colon == 0) {
                return bad("empty host");
            }
            port = text.substr(colon + 1);
            if (port.empty()) {
                return bad("empty port");
            }
        }
    }
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoi(port) < 1 || std::stoi(port) > 65535) {
            return bad("port must be 1..65535");
        }
    }
    return {};
}

bool valid_env_name(std::string_view name) {
    if (name.empty() || (name.front() >= '0' && name.front() <= '9')) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

// Reads a secret from the environment variable or file named at `path`.
core::Result<std::string> resolve_secret(const std::string& env_name, const std::string& env_path,
                                         const std::string& file, const std::string& file_path) {
    std::string value;
    if (!env_name.empty()) {
        if (!valid_env_name(env_name)) {
            return config_error(env_path, fmt::format("\"{}\" is not an environment variable name", env_name));
        }
        const char* raw = std::getenv(env_name.c_str());
        if (raw == nullptr || *raw == '\0') {
            return config_error(env_path, fmt::format("environment variable {} is not set", env_name));
        }
        value = raw;
    } else {
        auto content = core::read_file(file);
        if (!content) {
            return config_error(file_path, fmt::format("cannot read \"{}\": {}", file, content.error().message));
        }
        value = std::move(content).value();
    }
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) {
        value.pop_back();
    }
    if (value.empty()) {
        return config_error(env_name.empty() ? file_path : env_path, "the secret is empty");
    }
    core::log::register_secret(value);
    return value;
}

// One key of a merged object: its value and the path it came from (the
// certificate's own block or "defaults"), so errors point at the right line.
struct Field {
    const json* value;
    std::string path;
};
using Fields = std::map<std::string, Field, std::less<>>;

Fields collect(const json* object, const std::string& path) {
    Fields fields;
    if (object == nullptr) {
        return fields;
    }
    for (const auto& [key, value] : object->items()) {
        fields.emplace(key, Field{&value, join_path(path, key)});
    }
    return fields;
}

// --- dns ---------------------------------------------------------------------

const std::set<std::string, std::less<>> k_dns_common = {"provider", "resolver", "nameservers", "follow_cname",
                                                         "propagation_timeout"};
const std::map<std::string, std::set<std::string, std::less<>>, std::less<>> k_dns_provider_keys = {
    {"route53", {"zone_id", "assume_role_arn", "external_id", "private_zone", "requests_per_second"}},
    {"rfc2136", {"server", "tsig_key", "tsig_algorithm", "tsig_secret_env", "tsig_secret_file", "ttl"}},
    {"exec", {"exec_path"}},
};

std::set<std::string, std::less<>> all_dns_keys() {
    std::set<std::string, std::less<>> keys = k_dns_common;
    for (const auto& [provider, provider_keys] : k_dns_provider_keys) {
        (void)provider;
        keys.insert(provider_keys.begin(), provider_keys.end());
    }
    return keys;
}

enum class Completeness { partial, complete };  // partial: the defaults block on its own

core::Result<std::string> dns_provider_of(const Fields& fields) {
    const auto it = fields.find("provider");
    if (it == fields.end()) {
        return std::string("route53");
    }
    TRY_ASSIGN(std::string provider, get_string(*it->second.value, it->second.path));
    if (!k_dns_provider_keys.contains(provider)) {
        return config_error(it->second.path,
                            fmt::format("unknown provider \"{}\" (route53, rfc2136 or exec)", provider));
    }
    return provider;
}

Fields merge_dns(const Fields& defaults, const Fields& own) {
    Fields merged;
    const bool own_provider = own.contains("provider");
    const bool same_provider =
        !own_provider || !defaults.contains("provider") || *own.at("provider").value == *defaults.at("provider").value;
    for (const auto& [key, field] : defaults) {
        if (same_provider || k_dns_common.contains(key)) {
            merged.insert_or_assign(key, field);
        }
    }
    for (const auto& [key, field] : own) {
        merged.insert_or_assign(key, field);
    }
    return merged;
}

core::Result<DnsOptions> build_dns(const Fields& fields, const std::string& block_path, Completeness completeness) {
    DnsOptions dns;
    TRY_ASSIGN(dns.provider, dns_provider_of(fields));
    const auto& provider_keys = k_dns_provider_keys.at(dns.provider);
    std::string tsig_secret_env;
    std::string tsig_secret_env_path;
    std::string tsig_secret_file;
    std::string tsig_secret_file_path;
    std::string tsig_key_path;
    for (const auto& [key, field] : fields) {
        const json& v = *field.value;
        const std::string& p = field.path;
        if (!k_dns_common.contains(key) && !provider_keys.contains(key)) {
            return config_error(p, fmt::format("not used by provider {}", dns.provider));
        }
        if (key == "provider") {
            continue;
        }
        if (key == "resolver") {
            TRY_ASSIGN(dns.resolver, get_string(v, p));
            TRY(check_host_port(dns.resolver, p));
        } else if (key == "nameservers") {
            std::vector<std::string> servers;
            if (v.is_string()) {
                TRY_ASSIGN(std::string joined, get_string(v, p));
                std::size_t start = 0;
                while (start <= joined.size()) {
                    const auto comma = joined.find(',', start);
                    servers.push_back(
                        joined.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
                    if (comma == std::string::npos) {
                        break;
                    }
                    start = comma + 1;
                }
            } else if (v.is_array()) {
                TRY_ASSIGN(servers, get_string_list(v, p));
                if (servers.empty()) {
                    return config_error(p, "empty list");
                }
            } else {
                return config_error(p,
                                    fmt::format("expected \"host:port,...\" or a list of them, got {}", v.type_name()));
            }
            for (const auto& server : servers) {
                if (server.empty()) {
                    return config_error(p, "empty entry");
                }
                TRY(check_host_port(server, p));
                dns.nameservers += (dns.nameservers.empty() ? "" : ",") + server;
            }
        } else if (key == "follow_cname") {
            TRY_ASSIGN(dns.follow_cname, get_bool(v, p));
        } else if (key == "propagation_timeout") {
            TRY_ASSIGN(const long long seconds, get_int(v, p, 1, 3600));
            dns.propagation_timeout = std::chrono::seconds(seconds);
        } else if (key == "zone_id") {
            TRY_ASSIGN(dns.route53_zone_id, get_string(v, p));
        } else if (key == "assume_role_arn") {
            TRY_ASSIGN(dns.route53_assume_role_arn, get_string(v, p));
            if (dns.route53_assume_role_arn.rfind("arn:", 0) != 0) {
                return config_error(p, fmt::format("\"{}\" is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                                                   dns.route53_assume_role_arn));
            }
        } else if (key == "external_id") {
            TRY_ASSIGN(dns.route53_external_id, get_string(v, p));
        } else if (key == "private_zone") {
            TRY_ASSIGN(dns.route53_private_zone, get_bool(v, p));
        } else if (key == "requests_per_second") {
            TRY_ASSIGN(dns.route53_requests_per_second, get_fraction(v, p, 0.0, 100.0, true));
        } else if (key == "server") {
            TRY_ASSIGN(dns.rfc2136_server, get_string(v, p));
            TRY(check_host_port(dns.rfc2136_server, p));
        } else if (key == "tsig_key") {
            TRY_ASSIGN(dns.rfc2136_tsig_key, get_string(v, p));
            tsig_key_path = p;
        } else if (key == "tsig_algorithm") {
            TRY_ASSIGN(dns.rfc2136_tsig_algorithm, get_string(v, p));
            if (dns.rfc2136_tsig_algorithm != "hmac-sha256" && dns.rfc2136_tsig_algorithm != "hmac-sha512") {
                return config_error(p, fmt::format("unknown algorithm \"{}\" (hmac-sha256 or hmac-sha512)",
                                                   dns.rfc2136_tsig_algorithm));
            }
        } else if (key == "tsig_secret_env") {
            TRY_ASSIGN(tsig_secret_env, get_string(v, p));
            tsig_secret_env_path = p;
        } else if (key == "tsig_secret_file") {
            TRY_ASSIGN(tsig_secret_file, get_string(v, p));
            tsig_secret_file_path = p;
        } else if (key == "ttl") {
            TRY_ASSIGN(const long long ttl, get_int(v, p, 1, 86400));
            dns.rfc2136_ttl = static_cast<int>(ttl);
        } else if (key == "exec_path") {
            TRY_ASSIGN(dns.exec_path, get_string(v, p));
        }
    }
    if (!tsig_secret_env.empty() && !tsig_secret_file.empty()) {
        return config_error(tsig_secret_file_path, "give one of tsig_secret_env and tsig_secret_file");
    }
    if (completeness == Completeness::partial) {
        return dns;
    }
    const bool has_secret = !tsig_secret_env.empty() || !tsig_secret_file.empty();
    if (dns.provider == "rfc2136") {
        if (dns.rfc2136_server.empty()) {
            return config_error(join_path(block_path, "server"), "required by provider rfc2136 (host:port)");
        }
        if (!dns.rfc2136_tsig_key.empty() && !has_secret) {
            return config_error(tsig_key_path, "needs tsig_secret_env or tsig_secret_file");
        }
        if (dns.rfc2136_tsig_key.empty() && has_secret) {
            return config_error(join_path(block_path, "tsig_key"), "required with a TSIG secret (the key name)");
        }
        if (has_secret) {
            TRY_ASSIGN(dns.rfc2136_tsig_secret,
                       resolve_secret(tsig_secret_env, tsig_secret_env_path, tsig_secret_file, tsig_secret_file_path));
        }
    } else if (dns.provider == "exec" && dns.exec_path.empty()) {
        return config_error(join_path(block_path, "exec_path"), "required by provider exec");
    }
    return dns;
}

// --- replace -----------------------------------------------------------------

const std::map<std::string, std::set<std::string, std::less<>>, std::less<>> k_replace_type_keys = {
    {"none", {}},
    {"autoscaling", {"group", "min_healthy_percentage", "instance_warmup"}},
    {"ec2-tag", {"tag_key", "tag_value", "max_terminate"}},
    {"ecs", {"cluster", "service"}},
    {"hook", {"command", "timeout"}},
};

std::set<std::string, std::less<>> all_replace_keys() {
    std::set<std::string, std::less<>> keys = {"type"};
    for (const auto& [type, type_keys] : k_replace_type_keys) {
        (void)type;
        keys.insert(type_keys.begin(), type_keys.end());
    }
    return keys;
}

Fields merge_replace(const Fields& defaults, const Fields& own) {
    const bool same_type =
        !own.contains("type") || !defaults.contains("type") || *own.at("type").value == *defaults.at("type").value;
    Fields merged = same_type ? defaults : Fields{};
    for (const auto& [key, field] : own) {
        merged.insert_or_assign(key, field);
    }
    return merged;
}

core::Result<ReplaceTarget> build_replace(const Fields& fields, const std::string& block_path,
                                          Completeness completeness) {
    ReplaceTarget target;
    std::string type_name = "none";
    if (const auto it = fields.find("type"); it != fields.end()) {
        TRY_ASSIGN(type_name, get_string(*it->second.value, it->second.path));
        const auto type = replace::parse_replace_type(type_name);
        if (!type) {
            return config_error(
                it->second.path,
                fmt::format("unknown type \"{}\" (none, autoscaling, ec2-tag, ecs or hook)", type_name));
        }
        target.type = *type;
    }
    const auto& type_keys = k_replace_type_keys.at(type_name);
    for (const auto& [key, field] : fields) {
        const json& v = *field.value;
        const std::string& p = field.path;
        if (key == "type") {
            continue;
        }
        if (!type_keys.contains(key)) {
            return config_error(p, fmt::format("not used by replace type {}", type_name));
        }
        if (key == "group") {
            TRY_ASSIGN(target.group, get_string(v, p));
        } else if (key == "min_healthy_percentage") {
            TRY_ASSIGN(const long long percent, get_int(v, p, 0, 100));
            target.min_healthy_percentage = static_cast<int>(percent);
        } else if (key == "instance_warmup") {
            TRY_ASSIGN(const long long seconds, get_int(v, p, 0, 86400));
            target.instance_warmup = static_cast<int>(seconds);
        } else if (key == "tag_key") {
            TRY_ASSIGN(target.tag_key, get_string(v, p));
        } else if (key == "tag_value") {
            TRY_ASSIGN(target.tag_value, get_string(v, p));
        } else if (key == "max_terminate") {
            TRY_ASSIGN(const long long cap, get_int(v, p, 1, 1000));
            target.max_terminate = static_cast<int>(cap);
        } else if (key == "cluster") {
            TRY_ASSIGN(target.cluster, get_string(v, p));
        } else if (key == "service") {
            TRY_ASSIGN(target.service, get_string(v, p));
        } else if (key == "command") {
            TRY_ASSIGN(target.command, get_string(v, p));
        } else if (key == "timeout") {
            TRY_ASSIGN(const long long seconds, get_int(v, p, 1, 3600));
            target.timeout = std::chrono::seconds(seconds);
        }
    }
    if (completeness == Completeness::partial) {
        return target;
    }
    const auto require = [&](const std::string& value, const char* key) -> core::Status {
        if (value.empty()) {
            return config_error(join_path(block_path, key), fmt::format("required by replace type {}", type_name));
        }
        return {};
    };
    switch (target.type) {
        case ReplaceType::autoscaling: TRY(require(target.group, "group")); break;
        case ReplaceType::ec2_tag:
            TRY(require(target.tag_key, "tag_key"));
            TRY(require(target.tag_value, "tag_value"));
            break;
        case ReplaceType::ecs:
            TRY(require(target.cluster, "cluster"));
            TRY(require(target.service, "service"));
            break;
        case ReplaceType::hook: TRY(require(target.command, "command")); break;
        case ReplaceType::none: break;
    }
    return target;
}

// --- the file ----------------------------------------------------------------

const std::set<std::string, std::less<>> k_top_keys = {
    "server", "ca_bundle",   "email", "agree_tos",      "eab",      "account_store", "spool_dir",
    "allow",  "concurrency", "renew", "jitter_seconds", "defaults", "certificates"};
const std::set<std::string, std::less<>> k_eab_keys = {"kid", "hmac_key_env", "hmac_key_file"};
const std::set<std::string, std::less<>> k_renew_keys = {"fraction", "short_lifetime_fraction", "short_lifetime_days"};
const std::set<std::string, std::less<>> k_defaults_keys = {"key_type", "store", "dns", "replace", "profile"};
const std::set<std::string, std::less<>> k_certificate_keys = {"name", "domains", "key_type", "store",
                                                               "dns",  "replace", "profile"};

core::Result<core::KeyType> get_key_type(const json& value, const std::string& path) {
    TRY_ASSIGN(std::string name, get_string(value, path));
    const auto type = core::parse_key_type(name);
    if (!type) {
        return config_error(path,
                            fmt::format("unknown key type \"{}\" (ec256, ec384, rsa2048, rsa3072 or rsa4096)", name));
    }
    return *type;
}

bool valid_id(std::string_view id) {
    return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
               c == '_' || c == '*' || c == '@' || c == '+' || c == '=';
    });
}

std::string expand_store(std::string_view spec, const std::string& id) {
    std::string safe_id = id;
    std::replace(safe_id.begin(), safe_id.end(), '*', '_');
    std::string out(spec);
    const std::string placeholder = "{name}";
    for (auto at = out.find(placeholder); at != std::string::npos; at = out.find(placeholder, at + safe_id.size())) {
        out.replace(at, placeholder.size(), safe_id);
    }
    return out;
}

// A block that is an object when present.
core::Result<const json*> optional_object(const json& parent, std::string_view key, const std::string& path) {
    const auto it = parent.find(key);
    if (it == parent.end()) {
        return static_cast<const json*>(nullptr);
    }
    TRY(expect_object(*it, path));
    return &*it;
}

struct Defaults {
    const json* dns = nullptr;
    const json* replace = nullptr;
    std::optional<core::KeyType> key_type;
    std::string store;
    std::string profile;
};

core::Result<Defaults> parse_defaults(const json& root) {
    Defaults defaults;
    TRY_ASSIGN(const json* block, optional_object(root, "defaults", "defaults"));
    if (block == nullptr) {
        return defaults;
    }
    TRY(check_keys(*block, "defaults", k_defaults_keys));
    if (const auto it = block->find("key_type"); it != block->end()) {
        TRY_ASSIGN(defaults.key_type, get_key_type(*it, "defaults.key_type"));
    }
    if (const auto it = block->find("store"); it != block->end()) {
        TRY_ASSIGN(defaults.store, get_string(*it, "defaults.store"));
        if (auto store = parse_store_spec(expand_store(defaults.store, "example.com")); !store) {
            return config_error("defaults.store", store.error().message);
        }
    }
    if (const auto it = block->find("profile"); it != block->end()) {
        TRY_ASSIGN(defaults.profile, get_string(*it, "defaults.profile"));
    }
    TRY_ASSIGN(defaults.dns, optional_object(*block, "dns", "defaults.dns"));
    if (defaults.dns != nullptr) {
        TRY(check_keys(*defaults.dns, "defaults.dns", all_dns_keys()));
        TRY(build_dns(collect(defaults.dns, "defaults.dns"), "defaults.dns", Completeness::partial));
    }
    TRY_ASSIGN(defaults.replace, optional_object(*block, "replace", "defaults.replace"));
    if (defaults.replace != nullptr) {
        TRY(check_keys(*defaults.replace, "defaults.replace", all_replace_keys()));
        TRY(build_replace(collect(defaults.replace, "defaults.replace"), "defaults.replace", Completeness::partial));
    }
    return defaults;
}

core::Status parse_globals(const json& root, Config& config) {
    if (const auto it = root.find("server"); it != root.end()) {
        TRY_ASSIGN(config.server, get_string(*it, "server"));
        if (config.server.rfind("https://", 0) != 0) {
            return config_error("server", fmt::format("\"{}\" is not an https:// URL", config.server));
        }
    }
    if (const auto it = root.find("ca_bundle"); it != root.end()) {
        TRY_ASSIGN(config.ca_bundle, get_string(*it, "ca_bundle"));
    }
    if (const auto it = root.find("email"); it != root.end()) {
        TRY_ASSIGN(config.email, get_string(*it, "email"));
        const auto at = config.email.find('@');
        if (at == std::string::npos || at == 0 || at + 1 == config.email.size() ||
            config.email.find_first_of(" \t,;<>") != std::string::npos) {
            return config_error("email", fmt::format("\"{}\" is not an e-mail address", config.email));
        }
    }
    if (const auto it = root.find("agree_tos"); it != root.end()) {
        TRY_ASSIGN(config.agree_tos, get_bool(*it, "agree_tos"));
    }
    TRY_ASSIGN(const json* eab, optional_object(root, "eab", "eab"));
    if (eab != nullptr) {
        TRY(check_keys(*eab, "eab", k_eab_keys));
        if (const auto it = eab->find("kid"); it != eab->end()) {
            TRY_ASSIGN(config.eab.kid, get_string(*it, "eab.kid"));
        }
        if (const auto it = eab->find("hmac_key_env"); it != eab->end()) {
            TRY_ASSIGN(config.eab.hmac_key_env, get_string(*it, "eab.hmac_key_env"));
        }
        if (const auto it = eab->find("hmac_key_file"); it != eab->end()) {
            TRY_ASSIGN(config.eab.hmac_key_file, get_string(*it, "eab.hmac_key_file"));
        }
        if (config.eab.kid.empty()) {
            return config_error("eab.kid", "required when eab is given");
        }
        if (config.eab.hmac_key_env.empty() == config.eab.hmac_key_file.empty()) {
            return config_error("eab", "give one of hmac_key_env and hmac_key_file");
        }
        TRY_ASSIGN(config.eab.hmac_key, resolve_secret(config.eab.hmac_key_env, "eab.hmac_key_env",
                                                       config.eab.hmac_key_file, "eab.hmac_key_file"));
    }
    if (const auto it = root.find("account_store"); it != root.end()) {
        TRY_ASSIGN(std::string spec, get_string(*it, "account_store"));
        auto store = parse_store_spec(spec);
        if (!store) {
            return config_error("account_store", store.error().message);
        }
        config.account_store = *store;
    }
    if (const auto it = root.find("spool_dir"); it != root.end()) {
        TRY_ASSIGN(config.spool_dir, get_string(*it, "spool_dir"));
    }
    if (const auto it = root.find("allow"); it != root.end()) {
        TRY_ASSIGN(const auto entries, get_string_list(*it, "allow"));
        if (entries.empty()) {
            return config_error("allow", "empty list; leave the key out to allow every name");
        }
        for (std::size_t i = 0; i < entries.size(); ++i) {
            auto entry = normalize_allow_entry(entries[i]);
            if (!entry) {
                return config_error(index_path("allow", i), entry.error().message);
            }
            config.allow.push_back(std::move(entry).value());
        }
    }
    if (const auto it = root.find("concurrency"); it != root.end()) {
        TRY_ASSIGN(const long long concurrency, get_int(*it, "concurrency", 1, 64));
        config.concurrency = static_cast<int>(concurrency);
    }
    TRY_ASSIGN(const json* renew, optional_object(root, "renew", "renew"));
    if (renew != nullptr) {
        TRY(check_keys(*renew, "renew", k_renew_keys));
        if (const auto it = renew->find("fraction"); it != renew->end()) {
            TRY_ASSIGN(config.renew.fraction, get_fraction(*it, "renew.fraction", 0.0, 1.0, false));
        }
        if (const auto it = renew->find("short_lifetime_fraction"); it != renew->end()) {
            TRY_ASSIGN(config.renew.short_lifetime_fraction,
                       get_fraction(*it, "renew.short_lifetime_fraction", 0.0, 1.0, false));
        }
        if (const auto it = renew->find("short_lifetime_days"); it != renew->end()) {
            TRY_ASSIGN(const long long days, get_int(*it, "renew.short_lifetime_days", 0, 3650));
            config.renew.short_lifetime_days = static_cast<int>(days);
        }
    }
    if (const auto it = root.find("jitter_seconds"); it != root.end()) {
        TRY_ASSIGN(const long long jitter, get_int(*it, "jitter_seconds", 0, 86400));
        config.jitter = std::chrono::seconds(jitter);
    }
    return {};
}

core::Result<CertificateConfig> parse_certificate(const json& item, const std::string& path, const Defaults& defaults,
                                                  const Config& config) {
    TRY(expect_object(item, path));
    TRY(check_keys(item, path, k_certificate_keys));
    CertificateConfig cert;

    const auto domains_it = item.find("domains");
    if (domains_it == item.end()) {
        return config_error(join_path(path, "domains"), "required (a list of names)");
    }
    const std::string domains_path = join_path(path, "domains");
    TRY_ASSIGN(const auto domains, get_string_list(*domains_it, domains_path));
    if (domains.empty()) {
        return config_error(domains_path, "empty list (a certificate needs at least one name)");
    }
    if (domains.size() > k_max_names_per_certificate) {
        return config_error(domains_path, fmt::format("{} names (at most {} per certificate)", domains.size(),
                                                      k_max_names_per_certificate));
    }
    for (std::size_t i = 0; i < domains.size(); ++i) {
        const std::string name_path = index_path(domains_path, i);
        auto name = normalize_name(domains[i]);
        if (!name) {
            return config_error(name_path, name.error().message);
        }
        const auto duplicate = std::find(cert.domains.begin(), cert.domains.end(), *name);
        if (duplicate != cert.domains.end()) {
            const auto first = static_cast<std::size_t>(duplicate - cert.domains.begin());
            return config_error(name_path, fmt::format("duplicate name \"{}\" (same as {} once normalized to \"{}\")",
                                                       domains[i], index_path(domains_path, first), *name));
        }
        if (!name_allowed(*name, config.allow)) {
            return config_error(name_path, fmt::format("name \"{}\" is not in the allowlist", *name));
        }
        cert.domains.push_back(std::move(name).value());
    }

    if (const auto it = item.find("name"); it != item.end()) {
        TRY_ASSIGN(cert.id, get_string(*it, join_path(path, "name")));
        if (!valid_id(cert.id)) {
            return config_error(
                join_path(path, "name"),
                fmt::format("\"{}\" may hold only letters, digits and . - _ * @ + = (at most 128)", cert.id));
        }
    } else {
        cert.id = cert.domains.front();
    }

    if (const auto it = item.find("key_type"); it != item.end()) {
        TRY_ASSIGN(cert.key_type, get_key_type(*it, join_path(path, "key_type")));
    } else if (defaults.key_type) {
        cert.key_type = *defaults.key_type;
    }

    std::string store_text = defaults.store;
    std::string store_path = "defaults.store";
    if (const auto it = item.find("store"); it != item.end()) {
        store_path = join_path(path, "store");
        TRY_ASSIGN(store_text, get_string(*it, store_path));
    }
    if (store_text.empty()) {
        return config_error(join_path(path, "store"),
                            "required here or in defaults (\"aws-sm:NAME\" or \"dir:/path\")");
    }
    auto store = parse_store_spec(expand_store(store_text, cert.id));
    if (!store) {
        return config_error(store_path, store.error().message);
    }
    cert.store = std::move(store).value();

    cert.profile = defaults.profile;
    if (const auto it = item.find("profile"); it != item.end()) {
        TRY_ASSIGN(cert.profile, get_string(*it, join_path(path, "profile")));
    }

    const std::string dns_path = join_path(path, "dns");
    TRY_ASSIGN(const json* dns, optional_object(item, "dns", dns_path));
    if (dns != nullptr) {
        TRY(check_keys(*dns, dns_path, all_dns_keys()));
    }
    TRY_ASSIGN(cert.dns, build_dns(merge_dns(collect(defaults.dns, "defaults.dns"), collect(dns, dns_path)), dns_path,
                                   Completeness::complete));

    const std::string replace_path = join_path(path, "replace");
    TRY_ASSIGN(const json* replace, optional_object(item, "replace", replace_path));
    if (replace != nullptr) {
        TRY(check_keys(*replace, replace_path, all_replace_keys()));
    }
    TRY_ASSIGN(cert.replace, build_replace(merge_replace(collect(defaults.replace, "defaults.replace"),
                                                         collect(replace, replace_path)),
                                           replace_path, Completeness::complete));
    return cert;
}

core::Result<Config> parse_document(const json& root) {
    TRY(expect_object(root, ""));
    TRY(check_keys(root, "", k_top_keys));
    Config config;
    TRY(parse_globals(root, config));
    TRY_ASSIGN(const Defaults defaults, parse_defaults(root));

    const auto certs = root.find("certificates");
    if (certs == root.end()) {
        return config_error("certificates", "required (a list of certificates)");
    }
    if (!certs->is_array()) {
        return config_error("certificates", fmt::format("expected a list, got {}", certs->type_name()));
    }
    if (certs->empty()) {
        return config_error("certificates", "empty list (at least one certificate)");
    }
    std::map<std::string, std::size_t> ids;
    std::map<std::string, std::size_t> stores;
    for (std::size_t i = 0; i < certs->size(); ++i) {
        const std::string path = index_path("certificates", i);
        TRY_ASSIGN(CertificateConfig cert, parse_certificate((*certs)[i], path, defaults, config));
        if (const auto [it, inserted] = ids.emplace(cert.id, i); !inserted) {
            return config_error(join_path(path, "name"),
                                fmt::format("certificate id \"{}\" is used twice (also certificates[{}]; the id "
                                            "defaults to the first domain)",
                                            cert.id, it->second));
        }
        if (const auto [it, inserted] = stores.emplace(cert.store.spec, i); !inserted) {
            return config_error(join_path(path, "store"),
                                fmt::format("\"{}\" is also the store of certificates[{}] (use \"{{name}}\" in a "
                                            "shared store)",
                                            cert.store.spec, it->second));
        }
        config.certificates.push_back(std::move(cert));
    }

    // The hook must not see our secrets: drop the variables that hold them.
    std::vector<std::string> hidden;
    if (!config.eab.hmac_key_env.empty()) {
        hidden.push_back(config.eab.hmac_key_env);
    }
    for (std::size_t i = 0; i < certs->size(); ++i) {
        const json& item = (*certs)[i];
        for (const json* block : {item.contains("dns") ? &item["dns"] : nullptr, defaults.dns}) {
            if (block != nullptr && block->contains("tsig_secret_env") && (*block)["tsig_secret_env"].is_string()) {
                hidden.push_back((*block)["tsig_secret_env"].get<std::string>());
            }
        }
    }
    std::sort(hidden.begin(), hidden.end());
    hidden.erase(std::unique(hidden.begin(), hidden.end()), hidden.end());
    for (auto& cert : config.certificates) {
        if (cert.replace.type == ReplaceType::hook) {
            cert.replace.hidden_env = hidden;
        }
    }
    return config;
}

}  // namespace

core::Result<StoreSpec> parse_store_spec(std::string_view text) {
    StoreSpec store;
    store.spec = std::string(text);
    constexpr std::string_view k_sm = "aws-sm:";
    constexpr std::string_view k_dir = "dir:";
    if (text.substr(0, k_sm.size()) == k_sm) {
        store.kind = StoreSpec::Kind::aws_secrets_manager;
        store.location = std::string(text.substr(k_sm.size()));
        const bool valid_chars = std::all_of(store.location.begin(), store.location.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
                   c == '+' || c == '=' || c == '.' || c == '@' || c == '-';
        });
        if (store.location.empty() || store.location.size() > 512 || !valid_chars) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    fmt::format("\"{}\": a secret name is 1..512 of A-Z a-z 0-9 / _ + = . @ -", text));
        }
        return store;
    }
    if (text.substr(0, k_dir.size()) == k_dir) {
        store.kind = StoreSpec::Kind::directory;
        store.location = std::string(text.substr(k_dir.size()));
        if (store.location.empty()) {
            return core::make_error(core::ErrorKind::invalid_input, fmt::format("\"{}\": empty directory", text));
        }
        return store;
    }
    return core::make_error(core::ErrorKind::invalid_input,
                            fmt::format("\"{}\": unknown store (\"aws-sm:NAME\" or \"dir:/path\")", text));
}

core::Result<Config> parse_config(std::string_view json_text, const std::string& source_name) {
    json root;
    try {
        root = json::parse(json_text.begin(), json_text.end(), nullptr, true, /*ignore_comments=*/false);
    } catch (const json::exception& e) {
        // e.what() is "[json.exception.parse_error.101] parse error at line 3, column 5: ...",
        // or "[json.exception.out_of_range.406] number overflow parsing '8e1234'" (found by
        // tests/fuzz: that one used to end the process).
        std::string what = e.what();
        if (const auto close = what.find("] "); close != std::string::npos) {
            what.erase(0, close + 2);
        }
        return core::make_error(core::ErrorKind::invalid_input, fmt::format("{}: {}", source_name, what));
    }
    auto config = parse_document(root);
    if (!config) {
        return config.error().wrap(source_name);
    }
    config->source = source_name;
    return config;
}

core::Result<Config> load_config(const std::string& path) {
    auto text = core::read_file(path);
    if (!text) {
        return core::make_error(core::ErrorKind::io, fmt::format("{}: {}", path, text.error().message));
    }
    return parse_config(*text, path);
}

std::vector<ReplacementBatch> group_replacements(const Config& config, const std::vector<ChangedCertificate>& changed) {
    std::vector<ReplacementBatch> batches;
    for (const auto& change : changed) {
        const auto cert = std::find_if(config.certificates.begin(), config.certificates.end(),
                                       [&](const CertificateConfig& c) { return c.id == change.name; });
        if (cert == config.certificates.end() || cert->replace.type == ReplaceType::none) {
            continue;
        }
        auto batch = std::find_if(batches.begin(), batches.end(),
                                  [&](const ReplacementBatch& b) { return b.target == cert->replace; });
        if (batch == batches.end()) {
            batches.push_back({cert->replace, {}});
            batch = std::prev(batches.end());
        }
        batch->changed.push_back(change);
    }
    return batches;
}

std::optional<std::string> env_setting(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') {
        return std::nullopt;
    }
    return std::string(value);
}

}  // namespace renewer
