#include "secrets/bundle.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <set>

#include <nlohmann/json.hpp>

#include "core/keys.hpp"
#include "core/text.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;

core::Error field_error(std::string_view field, std::string_view what) {
    return make_error(ErrorKind::invalid_input, "bundle: field \"" + std::string(field) + "\" " + std::string(what));
}

// DNS names compare case-insensitively and without a trailing root dot.
std::string canonical_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') {
        name.remove_suffix(1);
    }
    return core::ascii_lower(name);
}

// "0A:1b:..." / "0a1b" / "00a1b" -> "a1b": serials compare as numbers.
std::string canonical_serial(std::string_view serial) {
    std::string out;
    for (char c : serial) {
        if (c != ':') {
            out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        }
    }
    const auto first = out.find_first_not_of('0');
    return first == std::string::npos ? std::string("0") : out.substr(first);
}

// Whether a bundle field must be present.
enum class Field { required, optional };

core::Result<std::string> string_field(const nlohmann::json& object, const char* field, Field presence) {
    const auto it = object.find(field);
    if (it == object.end() || it->is_null()) {
        if (presence == Field::required) {
            return field_error(field, "is missing");
        }
        return std::string();
    }
    if (!it->is_string()) {
        return field_error(field, "must be a string");
    }
    auto value = it->get<std::string>();
    if (presence == Field::required && value.empty()) {
        return field_error(field, "is empty");
    }
    return value;
}

std::string join_pem(const std::vector<core::Certificate>& certs, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < certs.size(); ++i) {
        out += certs[i].to_pem();
    }
    return out;
}

long long seconds_since_epoch(core::SystemTime t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

core::Status check_time_field(std::string_view field, const std::string& recorded, core::SystemTime actual) {
    if (recorded.empty()) {
        return {};
    }
    auto parsed = core::parse_time(recorded);
    if (!parsed.ok()) {
        return field_error(field, "is not an RFC 3339 time");
    }
    if (seconds_since_epoch(*parsed) != seconds_since_epoch(actual)) {
        return field_error(field,
                           "(" + recorded + ") does not match the certificate (" + core::format_time(actual) + ")");
    }
    return {};
}

// Metadata recorded in the bundle must describe the leaf it carries: a
// consumer (the plan, an operator) trusts these fields without parsing PEM.
core::Status check_metadata(const Bundle& bundle, const core::CertInfo& info, const core::PrivateKey& key) {
    if (!bundle.domains.empty()) {
        std::set<std::string> recorded;
        std::set<std::string> actual;
        for (const auto& name : bundle.domains) {
            recorded.insert(canonical_name(name));
        }
        for (const auto& name : info.dns_names) {
            actual.insert(canonical_name(name));
        }
        if (recorded != actual) {
            return field_error("domains", "does not match the certificate's subjectAltName names");
        }
    }
    TRY(check_time_field("not_before", bundle.not_before, info.not_before));
    TRY(check_time_field("not_after", bundle.not_after, info.not_after));
    if (!bundle.serial.empty() && canonical_serial(bundle.serial) != canonical_serial(info.serial_hex)) {
        return field_error("serial",
                           "(" + bundle.serial + ") does not match the certificate (" + info.serial_hex + ")");
    }
    if (!bundle.issuer.empty() && bundle.issuer != info.issuer && bundle.issuer != info.issuer_cn) {
        return field_error("issuer", "(" + bundle.issuer + ") does not match the certificate (" + info.issuer + ")");
    }
    if (!bundle.key_type.empty()) {
        const auto type = core::parse_key_type(bundle.key_type);
        if (!type) {
            return field_error("key_type", "(" + bundle.key_type + ") is not a known key type");
        }
        if (*type != key.type()) {
            return field_error("key_type", "(" + bundle.key_type + ") does not match the private key (" +
                                               core::to_string(key.type()) + ")");
        }
    }
    if (!bundle.renewed_at.empty() && !core::parse_time(bundle.renewed_at).ok()) {
        return field_error("renewed_at", "is not an RFC 3339 time");
    }
    return {};
}

// Compares certificates by DER, not by PEM text (line endings, headers).
bool same_certificates(const std::vector<core::Certificate>& a, std::size_t a_from,
                       const std::vector<core::Certificate>& b) {
    if (a.size() - a_from != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (a[a_from + i].to_der() != b[i].to_der()) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::string to_json(const Bundle& bundle) {
    // ordered_json keeps the documented key order, which makes secrets diffable.
    nlohmann::ordered_json j;
    j["certificate"] = bundle.certificate;
    j["private_key"] = bundle.private_key;
    j["chain"] = bundle.chain;
    j["domains"] = bundle.domains;
    j["not_before"] = bundle.not_before;
    j["not_after"] = bundle.not_after;
    j["serial"] = bundle.serial;
    j["issuer"] = bundle.issuer;
    j["key_type"] = bundle.key_type;
    j["renewed_at"] = bundle.renewed_at;
    if (!bundle.account.empty()) {
        j["account"] = bundle.account;
    }
    if (!bundle.revoked_at.empty()) {
        j["revoked_at"] = bundle.revoked_at;
        j["revocation_reason"] = bundle.revocation_reason;
    }
    // Replace, not throw, on invalid UTF-8 (dump()'s default is a type_error).
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

core::Result<Bundle> parse_fields(std::string_view json_text) {
    // No exceptions (allow_exceptions=false): a discarded value means malformed
    // text. The parser's message is not used as it may quote the secret.
    const auto j = nlohmann::json::parse(json_text, nullptr, false);
    if (j.is_discarded()) {
        return make_error(ErrorKind::invalid_input, "bundle: not valid JSON");
    }
    if (!j.is_object()) {
        return make_error(ErrorKind::invalid_input, "bundle: not a JSON object");
    }
    Bundle bundle;
    TRY_ASSIGN(bundle.certificate, string_field(j, "certificate", Field::required));
    TRY_ASSIGN(bundle.private_key, string_field(j, "private_key", Field::required));
    TRY_ASSIGN(bundle.chain, string_field(j, "chain", Field::optional));
    TRY_ASSIGN(bundle.not_before, string_field(j, "not_before", Field::optional));
    TRY_ASSIGN(bundle.not_after, string_field(j, "not_after", Field::optional));
    TRY_ASSIGN(bundle.serial, string_field(j, "serial", Field::optional));
    TRY_ASSIGN(bundle.issuer, string_field(j, "issuer", Field::optional));
    TRY_ASSIGN(bundle.key_type, string_field(j, "key_type", Field::optional));
    TRY_ASSIGN(bundle.renewed_at, string_field(j, "renewed_at", Field::optional));
    TRY_ASSIGN(bundle.account, string_field(j, "account", Field::optional));
    TRY_ASSIGN(bundle.revoked_at, string_field(j, "revoked_at", Field::optional));
    TRY_ASSIGN(bundle.revocation_reason, string_field(j, "revocation_reason", Field::optional));
    if (const auto it = j.find("domains"); it != j.end() && !it->is_null()) {
        if (!it->is_array()) {
            return field_error("domains", "must be an array of strings");
        }
        for (const auto& item : *it) {
            if (!item.is_string()) {
                return field_error("domains", "must be an array of strings");
            }
            bundle.domains.push_back(item.get<std::string>());
        }
    }
    return bundle;
}

}  // namespace

core::Result<Bundle> parse_bundle(std::string_view json_text) {
    auto bundle = parse_fields(json_text);
    if (!bundle) {
        core::Error error = bundle.error();
        error.code = k_unreadable_bundle;
        return error;
    }
    return bundle;
}

core::Result<std::string> intermediates_pem(std::string_view fullchain_pem) {
    TRY_ASSIGN(auto certs, core::parse_pem_chain(fullchain_pem));
    return join_pem(certs, 1);
}

core::Result<Bundle> build_bundle(std::string_view fullchain_pem, std::string_view key_pem, std::string_view key_type,
                                  core::SystemTime renewed_at) {
    auto certs = core::parse_pem_chain(fullchain_pem);
    if (!certs.ok()) {
        return certs.error().wrap("bundle: certificate");
    }
    auto key = core::PrivateKey::from_pem(key_pem);
    if (!key.ok()) {
        return key.error().wrap("bundle: private_key");
    }
    const auto& leaf = certs->front();
    if (!leaf.matches_key(*key)) {
        return make_error(ErrorKind::crypto, "bundle: private_key does not match the certificate");
    }
    const auto info = leaf.info();
    Bundle bundle;
    bundle.certificate = join_pem(*certs, 0);
    bundle.private_key = key->to_pem();
    bundle.chain = join_pem(*certs, 1);
    bundle.domains = info.dns_names;
    bundle.not_before = core::format_time(info.not_before);
    bundle.not_after = core::format_time(info.not_after);
    bundle.serial = info.serial_hex;
    bundle.issuer = info.issuer;
    bundle.key_type = key_type.empty() ? std::string(core::to_string(key->type())) : std::string(key_type);
    bundle.renewed_at = core::format_time(renewed_at);
    return bundle;
}

bool name_matches(std::string_view pattern_in, std::string_view name_in) {
    const auto pattern = canonical_name(pattern_in);
    const auto name = canonical_name(name_in);
    if (pattern.empty() || name.empty()) {
        return false;
    }
    if (pattern == name) {
        return true;
    }
    // Only a whole leftmost "*" label is a wildcard (RFC 6125 §6.4.3, CA/B BR
    // 3.2.2.6); "w*.example.com" and "*.com"-style partials are not honoured
    // beyond this literal rule, and a wildcard name needs the same wildcard.
    if (pattern.size() < 3 || pattern.compare(0, 2, "*.") != 0 || name.front() == '*') {
        return false;
    }
    const std::string_view suffix = std::string_view(pattern).substr(1);  // ".example.com"
    if (suffix.find('.', 1) == std::string_view::npos) {
        return false;  // "*.com" covers nothing
    }
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        return false;
    }
    const std::string_view label = std::string_view(name).substr(0, name.size() - suffix.size());
    return !label.empty() && label.find('.') == std::string_view::npos;
}

core::Status verify_bundle(const Bundle& bundle, const VerifyOptions& options) {
    if (bundle.certificate.empty()) {
        return field_error("certificate", "is empty");
    }
    if (bundle.private_key.empty()) {
        return field_error("private_key", "is empty");
    }
    auto certs = core::parse_pem_chain(bundle.certificate);
    if (!certs.ok()) {
        return field_error("certificate", "does not parse: " + certs.error().message);
    }
    auto key = core::PrivateKey::from_pem(bundle.private_key);
    if (!key.ok()) {
        // OpenSSL's message does not carry key bytes; keep it for diagnosis.
        return field_error("private_key", "does not parse: " + key.error().message);
    }
    const auto& leaf = certs->front();
    if (!leaf.matches_key(*key)) {
        return make_error(ErrorKind::crypto, "bundle: private_key does not match the certificate");
    }
    const auto info = leaf.info();
    const auto now = options.now.value_or(std::chrono::system_clock::now());
    if (now + options.not_before_tolerance < info.not_before) {
        return field_error("certificate", "is not valid yet (notBefore " + core::format_time(info.not_before) + ")");
    }
    if (now >= info.not_after) {
        return field_error("certificate", "expired at " + core::format_time(info.not_after));
    }
    if (!options.expect_name.empty()) {
        // RFC 6125 §6.4.4: the CN is only consulted when there is no dNSName.
        std::vector<std::string> names = info.dns_names;
        if (names.empty() && !info.subject_cn.empty()) {
            names.push_back(info.subject_cn);
        }
        const bool covered = std::any_of(names.begin(), names.end(),
                                         [&](const std::string& n) { return name_matches(n, options.expect_name); });
        if (!covered) {
            std::string list;
            for (const auto& n : names) {
                list += (list.empty() ? "" : ", ") + n;
            }
            return field_error("certificate", "does not cover " + options.expect_name + " (names: " + list + ")");
        }
    }
    if (!bundle.chain.empty()) {
        auto chain = core::parse_pem_chain(bundle.chain);
        if (!chain.ok()) {
            return field_error("chain", "does not parse: " + chain.error().message);
        }
        if (!same_certificates(*certs, 1, *chain)) {
            return field_error("chain", "is not the certificate's intermediates");
        }
    }
    if (!options.roots.empty()) {
        // Within the tolerance, the chain is checked at the leaf's notBefore.
        const auto at = std::max(now, std::min(info.not_before, now + options.not_before_tolerance));
        if (auto verified = core::verify_chain(*certs, options.roots, at); !verified.ok()) {
            return verified.error().wrap("bundle: certificate chain");
        }
    }
    return check_metadata(bundle, info, *key);
}

}  // namespace secrets
