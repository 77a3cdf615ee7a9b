#include "renewer/config.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "aws/config_file.hpp"
#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "renewer/names.hpp"
#include "renewer/schema.hpp"

namespace renewer {
namespace {

using nlohmann::json;
namespace settings = core::settings;
using settings::Foreign;
using settings::Values;

core::Error config_error(const std::string& path, const std::string& message) {
    return settings::settings_error(path, message);
}

std::string join_path(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string index_path(const std::string& path, std::size_t index) { return fmt::format("{}[{}]", path, index); }

// The structure of the file around the settings blocks: the keys that hold
// objects or lists rather than one setting.
constexpr std::array<std::string_view, 4> k_top_objects = {"eab", "renew", "defaults", "certificates"};
constexpr std::array<std::string_view, 2> k_defaults_objects = {"dns", "replace"};
constexpr std::array<std::string_view, 4> k_certificate_objects = {"name", "domains", "dns", "replace"};

// The object at `key` of `parent` when present (null when absent).
core::Result<const json*> optional_object(const json& parent, std::string_view key, const std::string& path) {
    const auto it = parent.find(key);
    if (it == parent.end()) {
        return static_cast<const json*>(nullptr);
    }
    if (!it->is_object()) {
        return config_error(path, fmt::format("expected an object, got {}", it->type_name()));
    }
    return &*it;
}

// One block of a certificate from every source: defaults (read once,
// read_defaults()), then the certificate's own block (file), then the
// environment, then the flags.
struct BlockSources {
    const settings::Block& block;
    const Values& defaults;
    const json* own;
    std::string own_path;
    const Values& env;
    const Values& flags;
};

core::Result<Values> layered(const BlockSources& in) {
    TRY_ASSIGN(const Values own, settings::read_object(in.block, in.own ? *in.own : json::object(), in.own_path));
    TRY_ASSIGN(Values merged, settings::overlay(in.block, in.defaults, own, Foreign::error));
    // The variant the flags choose decides which variables apply: the
    // environment is ambient, a variable of another provider is no error.
    if (const auto selector = in.flags.find(in.block.selector); selector != in.flags.end()) {
        TRY_ASSIGN(merged, settings::overlay(in.block, std::move(merged), Values{*selector}, Foreign::error));
    }
    TRY_ASSIGN(merged, settings::overlay(in.block, std::move(merged), in.env, Foreign::ignore));
    return settings::overlay(in.block, std::move(merged), in.flags, Foreign::error);
}

// Where a required setting that no source gave should be written: the
// certificate's file block, unless the flags chose the variant.
std::string required_origin(const Values& values, std::string_view selector, const std::string& own_path,
                            bool from_file) {
    const auto source = settings::source_of(settings::origin(values, selector));
    return from_file && source == settings::Source::file ? own_path : std::string{};
}

struct Environment {
    Values global, eab, dns;
};

core::Result<Environment> read_environment(const settings::EnvLookup& env) {
    Environment out;
    TRY_ASSIGN(out.global, settings::read_env(global_block(), env));
    TRY_ASSIGN(out.eab, settings::read_env(eab_block(), env));
    TRY_ASSIGN(out.dns, settings::read_env(dns::dns_block(), env));
    return out;
}

core::Status apply_eab(const json& root, const Environment& env, const CommandLine& flags, Config& config) {
    TRY_ASSIGN(const json* eab, optional_object(root, "eab", "eab"));
    TRY_ASSIGN(Values values, settings::read_object(eab_block(), eab ? *eab : json::object(), "eab"));
    if (eab != nullptr && !values.contains("hmac_key_env") && !values.contains("hmac_key_file")) {
        return config_error("eab", "give one of hmac_key_env and hmac_key_file");
    }
    TRY_ASSIGN(values, settings::overlay(eab_block(), std::move(values), env.eab, Foreign::error));
    TRY_ASSIGN(values, settings::overlay(eab_block(), std::move(values), flags.eab, Foreign::error));
    config.eab.kid = settings::text(values, "kid");
    config.eab.hmac_key_env = settings::text(values, "hmac_key_env");
    config.eab.hmac_key_file = settings::text(values, "hmac_key_file");
    if (config.eab.kid.empty()) {
        const bool key_given = values.contains("hmac_key_env") || values.contains("hmac_key_file") ||
                               settings::source_of(settings::origin(values, "hmac_key")) == settings::Source::flag;
        if (key_given) {
            return config_error(eab != nullptr ? "eab.kid" : "--eab-hmac-key",
                                eab != nullptr ? "required when eab is given" : "needs --eab-kid");
        }
        return {};
    }
    TRY_ASSIGN(config.eab.hmac_key, settings::read_secret(values, "hmac_key", "hmac_key_env", "hmac_key_file"));
    if (config.eab.hmac_key.empty()) {
        return config_error(settings::origin(values, "kid"),
                            "needs the HMAC key: --eab-hmac-key, ACME_EAB_HMAC_KEY, or eab.hmac_key_env/hmac_key_file");
    }
    if (settings::source_of(settings::origin(values, "hmac_key")) == settings::Source::flag) {
        core::log::warn(
            "--eab-hmac-key puts a secret on the command line, where other users of the host can read "
            "it; prefer ACME_EAB_HMAC_KEY or a file named by the configuration's eab.hmac_key_file");
    }
    return {};
}

core::Status apply_renew(const json& root, Config& config) {
    TRY_ASSIGN(const json* renew, optional_object(root, "renew", "renew"));
    TRY_ASSIGN(const Values values, settings::read_object(renew_block(), renew ? *renew : json::object(), "renew"));
    config.renew.fraction = settings::number(values, "fraction", config.renew.fraction);
    config.renew.short_lifetime_fraction =
        settings::number(values, "short_lifetime_fraction", config.renew.short_lifetime_fraction);
    config.renew.short_lifetime_days =
        static_cast<int>(settings::integer(values, "short_lifetime_days", config.renew.short_lifetime_days));
    return {};
}

core::Status apply_globals(const json& root, const Environment& env, const CommandLine& flags, Config& config) {
    TRY_ASSIGN(Values values, settings::read_object(global_block(), root, "", k_top_objects));
    TRY_ASSIGN(values, settings::overlay(global_block(), std::move(values), env.global, Foreign::error));
    TRY_ASSIGN(values, settings::overlay(global_block(), std::move(values), flags.global, Foreign::error));
    config.server = settings::text(values, "server", config.server);
    config.ca_bundle = settings::text(values, "ca_bundle");
    config.email = settings::text(values, "email");
    config.agree_tos = settings::boolean(values, "agree_tos", false);
    if (const auto account = settings::text(values, "account_store"); !account.empty()) {
        TRY_ASSIGN(config.account_store, parse_store_spec(account));
    }
    config.spool_dir = settings::text(values, "spool_dir");
    const auto allow = settings::list(values, "allow");
    for (const auto& entry : allow) {
        config.allow.push_back(normalize_allow_entry(entry).value());  // checked by the row
    }
    config.concurrency = static_cast<int>(settings::integer(values, "concurrency", config.concurrency));
    config.max_new_orders = static_cast<int>(settings::integer(values, "max_new_orders", config.max_new_orders));
    config.jitter = std::chrono::seconds(settings::integer(values, "jitter_seconds", 0));
    if (const auto zone = settings::text(values, "customer_dns_zone"); !zone.empty()) {
        config.customer_dns_zone = normalize_name(zone).value();  // checked by the row
    }
    config.run = std::move(values);
    return {};
}

bool valid_id(std::string_view id) {
    return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
               c == '_' || c == '*' || c == '@' || c == '+' || c == '=';
    });
}

// The certificate's names, normalized and checked against the allowlist.
core::Result<std::vector<std::string>> read_domains(const json& item, const std::string& path,
                                                    const std::vector<std::string>& allow) {
    const std::string domains_path = join_path(path, "domains");
    const auto it = item.find("domains");
    if (it == item.end()) {
        return config_error(domains_path, "required (a list of names)");
    }
    static const settings::Setting k_row{.key = "domains", .type = settings::Type::list};
    if (it->is_array() && it->empty()) {
        return config_error(domains_path, "empty list (a certificate needs at least one name)");
    }
    TRY_ASSIGN(const json list, settings::from_json(k_row, *it, domains_path));
    const auto domains = list.get<std::vector<std::string>>();
    if (domains.size() > k_max_names_per_certificate) {
        return config_error(domains_path, fmt::format("{} names (at most {} per certificate)", domains.size(),
                                                      k_max_names_per_certificate));
    }
    std::vector<std::string> names;
    for (std::size_t i = 0; i < domains.size(); ++i) {
        const std::string name_path = index_path(domains_path, i);
        auto name = normalize_name(domains[i]);
        if (!name) {
            return config_error(name_path, name.error().message);
        }
        const auto duplicate = std::find(names.begin(), names.end(), *name);
        if (duplicate != names.end()) {
            const auto first = static_cast<std::size_t>(duplicate - names.begin());
            return config_error(name_path, fmt::format("duplicate name \"{}\" (same as {} once normalized to \"{}\")",
                                                       domains[i], index_path(domains_path, first), *name));
        }
        if (!name_allowed(*name, allow)) {
            return config_error(name_path, fmt::format("name \"{}\" is not in the allowlist", *name));
        }
        names.push_back(std::move(name).value());
    }
    return names;
}

core::Result<std::string> read_id(const json& item, const std::string& path, const std::string& first_domain) {
    const auto it = item.find("name");
    if (it == item.end()) {
        return first_domain;
    }
    static const settings::Setting k_row{.key = "name"};
    TRY_ASSIGN(const json id, settings::from_json(k_row, *it, join_path(path, "name")));
    // "." and ".." would name the store's own folder or its parent once
    // "{name}" is expanded in "dir:/srv/certs/{name}".
    if (id == "." || id == "..") {
        return config_error(join_path(path, "name"),
                            fmt::format("\"{}\" is not a certificate id (it names a folder)", id.get<std::string>()));
    }
    if (!valid_id(id.get<std::string>())) {
        return config_error(
            join_path(path, "name"),
            fmt::format("\"{}\" may hold only letters, digits and . - _ * @ + = (at most 128)", id.get<std::string>()));
    }
    return id.get<std::string>();
}

}  // namespace

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

// How a listed item becomes a certificate: read_certificate() over the
// defaults, environment and flags of build_config().
struct ListedTemplate {
    std::function<core::Result<CertificateConfig>(const nlohmann::json& item, const std::string& path,
                                                  const Config& config, std::size_t count)>
        read;
    std::string store;  // the store of an item without one, "{name}" unexpanded
};

namespace {

// The document's "defaults": its certificate settings and its blocks, read
// and checked once (also when no certificate uses them, so a mistake in an
// unused default is found).
struct Defaults {
    Values certificate;
    Values dns;
    Values replace;
};

core::Result<Values> read_default_block(const settings::Block& block, const json* parent, std::string_view key) {
    const std::string path = join_path("defaults", key);
    TRY_ASSIGN(const json* object, parent ? optional_object(*parent, key, path) : core::Result<const json*>(nullptr));
    TRY_ASSIGN(Values values, settings::read_object(block, object ? *object : json::object(), path));
    TRY(settings::check_variant(block, values));
    return values;
}

core::Result<Defaults> read_defaults(const json& root) {
    Defaults defaults;
    TRY_ASSIGN(const json* all, optional_object(root, "defaults", "defaults"));
    if (all != nullptr) {
        TRY_ASSIGN(defaults.certificate,
                   settings::read_object(certificate_block(), *all, "defaults", k_defaults_objects));
    }
    TRY_ASSIGN(defaults.dns, read_default_block(dns::dns_block(), all, "dns"));
    TRY_ASSIGN(defaults.replace, read_default_block(replace_block(), all, "replace"));
    return defaults;
}

// Everything one certificate's settings come from.
struct CertificateSources {
    const json& item;
    std::string path;
    const Defaults& defaults;
    const Environment& env;
    const CommandLine& flags;
    bool from_file;
    std::size_t count;  // certificates in the run, for --out
};

core::Result<StoreSpec> read_store(const CertificateSources& in, Values values, const std::string& id) {
    if (in.flags.out) {
        const std::string dir = in.flags.out->value.get<std::string>();
        Values out;
        out.emplace("store",
                    settings::Value{in.count == 1 ? "dir:" + dir : "dir:" + dir + "/{name}", in.flags.out->origin});
        TRY_ASSIGN(values, settings::overlay(certificate_block(), std::move(values), out, Foreign::error));
    }
    const std::string text = settings::text(values, "store");
    if (text.empty()) {
        return config_error(in.from_file ? join_path(in.path, "store") : "--out or --store",
                            in.from_file ? "required here or in defaults (\"aws-sm:NAME\" or \"dir:/path\")"
                                         : "where should the certificate go? give --out DIR or --store "
                                           "aws-sm:NAME|dir:/path");
    }
    auto store = parse_store_spec(expand_store(text, id));
    if (!store) {
        return config_error(settings::origin(values, "store"), store.error().message);
    }
    return store;
}

core::Result<CertificateConfig> read_certificate(const CertificateSources& in, const Config& config) {
    if (!in.item.is_object()) {
        return config_error(in.path, fmt::format("expected an object, got {}", in.item.type_name()));
    }
    CertificateConfig cert;
    TRY_ASSIGN(cert.domains, read_domains(in.item, in.path, config.allow));
    TRY_ASSIGN(cert.id, read_id(in.item, in.path, cert.domains.front()));

    TRY_ASSIGN(const Values own, settings::read_object(certificate_block(), in.item, in.path, k_certificate_objects));
    TRY_ASSIGN(Values values, settings::overlay(certificate_block(), in.defaults.certificate, own, Foreign::error));
    TRY_ASSIGN(values, settings::overlay(certificate_block(), std::move(values), in.flags.certificate, Foreign::error));
    cert.key_type = core::parse_key_type(settings::text(values, "key_type", "ec256")).value();  // checked by the row
    cert.profile = settings::text(values, "profile");
    cert.customer_dns = settings::boolean(values, "customer_dns", !config.customer_dns_zone.empty());
    TRY_ASSIGN(cert.store, read_store(in, values, cert.id));
    if (cert.store.kind == StoreSpec::Kind::aws_secrets_manager) {
        cert.store.lease_table = settings::text(values, "lease_table");
        cert.store.kms_key_id = settings::text(values, "kms_key_id");
    }

    const std::string dns_path = join_path(in.path, "dns");
    TRY_ASSIGN(const json* own_dns, optional_object(in.item, "dns", dns_path));
    TRY_ASSIGN(const Values dns,
               layered({dns::dns_block(), in.defaults.dns, own_dns, dns_path, in.env.dns, in.flags.dns}));
    TRY_ASSIGN(cert.dns, dns::make_dns_config(dns, required_origin(dns, "provider", dns_path, in.from_file)));

    const std::string replace_path = join_path(in.path, "replace");
    TRY_ASSIGN(const json* own_replace, optional_object(in.item, "replace", replace_path));
    static const Values k_no_env;
    TRY_ASSIGN(const Values replace,
               layered({replace_block(), in.defaults.replace, own_replace, replace_path, k_no_env, in.flags.replace}));
    TRY_ASSIGN(cert.replace,
               make_replace_target(replace, required_origin(replace, "type", replace_path, in.from_file)));
    return cert;
}

// Secrets Manager names the run writes beside a certificate's own secret NAME
// (docs/stores.md): its lease "NAME-lock" and the ACME account it may keep,
// "NAME-account". A certificate stored under such a name would be overwritten
// by a lease or an account record; so would an account store on a lease.
struct Derived {
    std::size_t certificate;
    std::string_view what;  // "lease", "account"
};

std::map<std::string, Derived> derived_secrets(const Config& config) {
    std::map<std::string, Derived> derived;
    for (std::size_t i = 0; i < config.certificates.size(); ++i) {
        if (const auto& store = config.certificates[i].store; store.kind == StoreSpec::Kind::aws_secrets_manager) {
            derived.emplace(store.location + "-lock", Derived{i, "lease"});
            derived.emplace(store.location + "-account", Derived{i, "account"});
        }
    }
    return derived;
}

// How messages name certificate i ("certificates[2]", or a listed item).
using CertificateLabel = std::function<std::string(std::size_t)>;

std::string file_label(std::size_t i) { return index_path("certificates", i); }

// Why certificate i may not use its store: it is where another certificate
// keeps its lease or its account; nullopt when it may.
std::optional<std::string> derived_clash(const Config& config, const std::map<std::string, Derived>& derived,
                                         std::size_t i, const CertificateLabel& label) {
    const auto& store = config.certificates[i].store;
    const auto it = derived.find(store.location);
    if (store.kind != StoreSpec::Kind::aws_secrets_manager || it == derived.end()) {
        return std::nullopt;
    }
    return fmt::format("\"{}\" is the {} secret of {} (choose another name)", store.spec, it->second.what,
                       label(it->second.certificate));
}

core::Status check_secret_names(const Config& config, bool from_file) {
    const auto derived = derived_secrets(config);
    for (std::size_t i = 0; i < config.certificates.size(); ++i) {
        if (const auto clash = derived_clash(config, derived, i, file_label)) {
            return config_error(from_file ? join_path(index_path("certificates", i), "store") : "--store", *clash);
        }
    }
    if (!config.account_store) {
        return {};
    }
    const auto& account = *config.account_store;
    const std::string origin = settings::origin(config.run, "account_store");
    const std::string where = origin.empty() ? "account_store" : origin;
    // An account store on a certificate's "NAME-account" is where that
    // certificate keeps the account anyway; only a lease there clashes.
    const auto it = derived.find(account.location);
    if (account.kind == StoreSpec::Kind::aws_secrets_manager && it != derived.end() && it->second.what == "lease") {
        return config_error(
            where, fmt::format("\"{}\" is the lease secret of certificates[{}]", account.spec, it->second.certificate));
    }
    for (std::size_t i = 0; i < config.certificates.size(); ++i) {
        if (config.certificates[i].store.spec == account.spec) {
            return config_error(where, fmt::format("\"{}\" is also the store of certificates[{}]", account.spec, i));
        }
    }
    return {};
}

// The ids and stores of the certificates so far, each with the label of the
// certificate that has it: a second certificate with the same id could not
// be told apart in the report, one with the same store would overwrite the
// first's bundle.
struct SeenCertificates {
    std::map<std::string, std::string> ids;
    std::map<std::string, std::string> stores;
};

// Where one certificate's id and store are named in messages.
struct CertificatePlace {
    std::string label;
    std::string id_path;     // empty: -d/--cert
    std::string store_path;  // "--store" for -d/--cert
};

core::Status note_unique(SeenCertificates& seen, const CertificateConfig& cert, const CertificatePlace& place) {
    if (const auto [it, inserted] = seen.ids.emplace(cert.id, place.label); !inserted) {
        if (place.id_path.empty()) {
            return config_error("--cert", fmt::format("certificate {} given twice", cert.id));
        }
        return config_error(place.id_path, fmt::format("certificate id \"{}\" is used twice (also {}; the id "
                                                       "defaults to the first domain)",
                                                       cert.id, it->second));
    }
    if (const auto [it, inserted] = seen.stores.emplace(cert.store.spec, place.label); !inserted) {
        return config_error(place.store_path,
                            fmt::format("\"{}\" is also the store of {} (use \"{{name}}\" in a shared store)",
                                        cert.store.spec, it->second));
    }
    return {};
}

core::Status check_unique(const std::vector<CertificateConfig>& certificates, bool from_file) {
    SeenCertificates seen;
    for (std::size_t i = 0; i < certificates.size(); ++i) {
        const std::string path = index_path("certificates", i);
        TRY(note_unique(
            seen, certificates[i],
            {path, from_file ? join_path(path, "name") : "", from_file ? join_path(path, "store") : "--store"}));
    }
    return {};
}

// The hook must not see our secrets: the variables that hold them are
// dropped from its environment.
void hide_secret_variables(Config& config) {
    std::vector<std::string> hidden;
    if (!config.eab.hmac_key_env.empty()) {
        hidden.push_back(config.eab.hmac_key_env);
    }
    for (const auto& name : config.secret_variables) {
        hidden.push_back(name);
    }
    std::sort(hidden.begin(), hidden.end());
    hidden.erase(std::unique(hidden.begin(), hidden.end()), hidden.end());
    for (auto& cert : config.certificates) {
        if (cert.replace.type == ReplaceType::hook) {
            cert.replace.hidden_env = hidden;
        }
    }
}

// "tsig_secret_env" values anywhere in the document.
void collect_secret_variables(const json& root, Config& config) {
    const auto from = [&](const json* block) {
        if (block != nullptr && block->is_object() && block->contains("tsig_secret_env") &&
            (*block)["tsig_secret_env"].is_string()) {
            config.secret_variables.push_back((*block)["tsig_secret_env"].get<std::string>());
        }
    };
    if (const auto defaults = root.find("defaults"); defaults != root.end() && defaults->is_object()) {
        from(defaults->contains("dns") ? &(*defaults)["dns"] : nullptr);
    }
    if (const auto certs = root.find("certificates"); certs != root.end() && certs->is_array()) {
        for (const auto& item : *certs) {
            from(item.is_object() && item.contains("dns") ? &item["dns"] : nullptr);
        }
    }
}

// The document's certificates, or the command line's when there is no file;
// none yet with certificates_from (the table's items come later; `listed`
// names where it was given).
core::Result<json> certificate_items(const json& root, const CommandLine& flags, bool from_file,
                                     const std::string& listed) {
    if (!listed.empty()) {
        if (!flags.certificates.empty()) {
            return config_error(listed + " and -d/--cert", "give the names in one place");
        }
        if (from_file && root.contains("certificates")) {
            return config_error("certificates", "not with certificates_from (the certificates are the table's items)");
        }
        return json::array();
    }
    if (!from_file) {
        if (flags.certificates.empty()) {
            return config_error("",
                                "no names: give -d NAME (repeatable), --cert NAME,NAME or --config FILE "
                                "(or RENEWER_CONFIG=FILE)");
        }
        json items = json::array();
        for (const auto& names : flags.certificates) {
            items.push_back({{"domains", names}});
        }
        return items;
    }
    if (!flags.certificates.empty()) {
        return config_error("--config and -d/--cert", "give the names in one place");
    }
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
    return *certs;
}

// Secrets Manager, Auto Scaling, EC2 and ECS are regional: with no region
// set anywhere the AWS SDKs look (docs/configuration.md), the requests go to
// us-east-1, which is rarely what a fleet elsewhere means. Said once, at
// start, instead of a "secret not found" later.
void note_default_region(const Config& config, const settings::EnvLookup& env) {
    const auto regional = [](const CertificateConfig& cert) {
        return cert.store.kind == StoreSpec::Kind::aws_secrets_manager ||
               cert.store.kind == StoreSpec::Kind::dynamodb || cert.replace.type == ReplaceType::autoscaling ||
               cert.replace.type == ReplaceType::ec2_tag || cert.replace.type == ReplaceType::ecs;
    };
    const bool account = config.account_store && config.account_store->kind == StoreSpec::Kind::aws_secrets_manager;
    if (!account && std::none_of(config.certificates.begin(), config.certificates.end(), regional)) {
        return;
    }
    if (env("AWS_REGION") || env("AWS_DEFAULT_REGION") || !aws::config::profile_value("region").empty()) {
        return;
    }
    core::log::warn("no AWS region set (AWS_REGION, AWS_DEFAULT_REGION or the profile's region); using us-east-1");
}

core::Result<std::shared_ptr<const ListedTemplate>> listed_template(const Defaults& defaults, const Environment& env,
                                                                    const CommandLine& flags) {
    auto out = std::make_shared<ListedTemplate>();
    out->read = [defaults, env, flags](const json& item, const std::string& path, const Config& config,
                                       std::size_t count) {
        return read_certificate({item, path, defaults, env, flags, true, count}, config);
    };
    TRY_ASSIGN(const Values values,
               settings::overlay(certificate_block(), defaults.certificate, flags.certificate, Foreign::error));
    out->store = settings::text(values, "store");
    if (flags.out) {
        out->store = "dir:" + flags.out->value.get<std::string>() + "/{name}";
    }
    return std::shared_ptr<const ListedTemplate>(std::move(out));
}

core::Result<Config> assemble(const json& root, const CommandLine& flags, const settings::EnvLookup& lookup,
                              bool from_file) {
    if (!root.is_object()) {
        return config_error("(top level)", fmt::format("expected an object, got {}", root.type_name()));
    }
    TRY_ASSIGN(const Environment env, read_environment(lookup));
    Config config;
    TRY(apply_globals(root, env, flags, config));
    TRY(apply_eab(root, env, flags, config));
    TRY(apply_renew(root, config));
    TRY_ASSIGN(const Defaults defaults, read_defaults(root));
    config.certificates_from = settings::text(config.run, "certificates_from");
    const std::string listed =
        config.certificates_from.empty() ? std::string() : settings::origin(config.run, "certificates_from");
    TRY_ASSIGN(const json items, certificate_items(root, flags, from_file, listed));
    if (!config.certificates_from.empty()) {
        TRY_ASSIGN(config.listed_template, listed_template(defaults, env, flags));
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
        const CertificateSources in{items[i],    index_path("certificates", i), defaults, env, flags, from_file,
                                    items.size()};
        TRY_ASSIGN(CertificateConfig cert, read_certificate(in, config));
        config.certificates.push_back(std::move(cert));
    }
    TRY(check_unique(config.certificates, from_file));
    TRY(check_secret_names(config, from_file));
    note_default_region(config, lookup);
    collect_secret_variables(root, config);
    hide_secret_variables(config);
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
    constexpr std::string_view k_dynamodb = "dynamodb:";
    if (text.substr(0, k_dynamodb.size()) == k_dynamodb) {
        // The rules of secrets/dynamodb_store.cpp: TABLE is CreateTable's name, KEY the certificate's items.
        store.kind = StoreSpec::Kind::dynamodb;
        store.location = std::string(text.substr(k_dynamodb.size()));
        const auto slash = store.location.find('/');
        const auto table = std::string_view(store.location).substr(0, slash);
        const bool valid_table =
            table.size() >= 3 && table.size() <= 255 &&
            table.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") ==
                std::string_view::npos;
        if (!valid_table || slash == std::string::npos || slash + 1 == store.location.size()) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    fmt::format("\"{}\": expected dynamodb:TABLE/KEY (TABLE 3..255 of a-z A-Z 0-9 _ - "
                                                "., KEY the certificate's key, e.g. dynamodb:certs/{{name}})",
                                                text));
        }
        return store;
    }
    return core::make_error(
        core::ErrorKind::invalid_input,
        fmt::format("\"{}\": unknown store (\"aws-sm:NAME\", \"dir:/path\" or \"dynamodb:TABLE/KEY\")", text));
}

core::Result<Config> build_config(const json* document, const std::string& source, const CommandLine& command_line,
                                  const settings::EnvLookup& env) {
    static const json k_empty = json::object();
    auto config = assemble(document != nullptr ? *document : k_empty, command_line, env, document != nullptr);
    if (!config) {
        return source.empty() ? config.error() : config.error().wrap(source);
    }
    config->source = source;
    return config;
}

core::Result<dns::DnsConfig> dns_config_from(const CommandLine& command_line, const settings::EnvLookup& env) {
    TRY_ASSIGN(const Values from_env, settings::read_env(dns::dns_block(), env));
    TRY_ASSIGN(Values values, settings::overlay(dns::dns_block(), {}, from_env, Foreign::ignore));
    TRY_ASSIGN(values, settings::overlay(dns::dns_block(), std::move(values), command_line.dns, Foreign::error));
    return dns::make_dns_config(values, "");
}

core::Result<Config> parse_config(std::string_view json_text, const std::string& source_name,
                                  const CommandLine& command_line, const settings::EnvLookup& env) {
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
    return build_config(&root, source_name, command_line, env);
}

core::Result<Config> load_config(const std::string& path, const CommandLine& command_line,
                                 const settings::EnvLookup& env) {
    auto text = core::read_file(path);
    if (!text) {
        // read_file's message already starts with the path.
        return core::make_error(core::ErrorKind::io, text.error().message);
    }
    return parse_config(*text, path, command_line, env);
}

namespace {

// Item `item` as a certificate of `config`, or why not. Messages name the
// item's attributes: the file's "name" is the item's key "id".
core::Result<CertificateConfig> listed_certificate(const Config& config, const ListedItem& item, std::size_t count,
                                                   SeenCertificates& seen) {
    if (!item.problem.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, item.problem);
    }
    auto cert = config.listed_template->read(item.certificate, "", config, count);
    if (!cert) {
        std::string message = cert.error().message;
        if (message.starts_with("name: ")) {
            message.replace(0, 4, "id");
        }
        return core::make_error(core::ErrorKind::invalid_input, message);
    }
    TRY(note_unique(seen, *cert, {fmt::format("item \"{}\"", item.key), "id", "store"}));
    return cert;
}

// Refuses the listed certificates whose store is another's lease or account
// secret, or the ACME account's store (check_secret_names() for a file).
void refuse_clashing_stores(Config& config, std::vector<std::string>& keys, std::vector<RefusedItem>& refused) {
    const auto derived = derived_secrets(config);
    const auto label = [&](std::size_t i) { return fmt::format("item \"{}\"", keys[i]); };
    std::vector<bool> drop(config.certificates.size(), false);
    for (std::size_t i = 0; i < config.certificates.size(); ++i) {
        auto clash = derived_clash(config, derived, i, label);
        const auto& account = config.account_store;
        if (!clash && account &&
            (config.certificates[i].store.spec == account->spec ||
             (account->kind == StoreSpec::Kind::aws_secrets_manager &&
              config.certificates[i].store.location + "-lock" == account->location))) {
            clash = fmt::format("\"{}\" is the ACME account's store or that store is its lease (account_store)",
                                config.certificates[i].store.spec);
        }
        if (clash) {
            drop[i] = true;
            refused.push_back({keys[i], "store: " + *clash});
        }
    }
    for (std::size_t i = config.certificates.size(); i-- > 0;) {
        if (drop[i]) {
            config.certificates.erase(config.certificates.begin() + static_cast<std::ptrdiff_t>(i));
            keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
}

}  // namespace

std::vector<RefusedItem> add_listed_certificates(Config& config, const std::vector<ListedItem>& items) {
    std::vector<RefusedItem> refused;
    SeenCertificates seen;
    std::vector<std::string> keys;
    for (const auto& item : items) {
        auto cert = listed_certificate(config, item, items.size(), seen);
        if (!cert) {
            refused.push_back({item.key, cert.error().message});
            continue;
        }
        config.certificates.push_back(std::move(cert).value());
        keys.push_back(item.key);
    }
    refuse_clashing_stores(config, keys, refused);
    hide_secret_variables(config);
    return refused;
}

std::string listed_store_template(const Config& config) {
    return config.listed_template ? config.listed_template->store : std::string();
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

}  // namespace renewer
