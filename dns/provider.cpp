#include "dns/provider.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>

#include "dns/exec.hpp"
#include "dns/rfc2136.hpp"
#include "dns/route53.hpp"

namespace dns {
namespace {

template <typename Settings, auto Make>
core::Result<std::unique_ptr<Provider>> from_env_then_make(const Env& env) {
    TRY_ASSIGN(Settings settings, Settings::from_env(env));
    return Make(std::move(settings));
}

// The name -> factory table (STYLE.md habit 1): adding a provider adds a row.
const std::array<ProviderFactory, 3> k_factories{{
    {"route53", &from_env_then_make<Route53Settings, &make_route53>,
     "Amazon Route53 (AWS_HOSTED_ZONE_ID, AWS_ASSUME_ROLE_ARN, AWS_TTL, ...)"},
    {"rfc2136", &from_env_then_make<Rfc2136Settings, &make_rfc2136>,
     "RFC 2136 dynamic update with TSIG (RFC2136_NAMESERVER, RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET, ...)"},
    {"exec", &from_env_then_make<ExecSettings, &make_exec>, "run EXEC_PATH present|cleanup FQDN VALUE"},
}};

core::Error bad_setting(std::string_view name, const std::string& value, const std::string& why) {
    return core::make_error(core::ErrorKind::invalid_input,
                            std::string(name) + "='" + value + "' is not valid: " + why);
}

}  // namespace

Env process_env() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* value = std::getenv(std::string(name).c_str());
        if (value == nullptr) {
            return std::nullopt;
        }
        return std::string(value);
    };
}

std::span<const ProviderFactory> provider_factories() { return k_factories; }

core::Result<std::unique_ptr<Provider>> make_provider(std::string_view name, const Env& env) {
    std::string known;
    for (const auto& f : k_factories) {
        if (f.name == name) {
            return f.from_env(env);
        }
        known += (known.empty() ? "" : ", ") + std::string(f.name);
    }
    return core::make_error(core::ErrorKind::invalid_input,
                            "unknown DNS provider '" + std::string(name) + "' (known: " + known + ")");
}

namespace env_util {

std::string get_or(const Env& env, std::string_view name, std::string fallback) {
    auto value = env(name);
    if (!value || value->empty()) {
        return fallback;
    }
    return *value;
}

core::Result<long> get_long(const Env& env, std::string_view name, long fallback, long min, long max) {
    auto value = env(name);
    if (!value || value->empty()) {
        return fallback;
    }
    errno = 0;
    char* end = nullptr;
    const long parsed = std::strtol(value->c_str(), &end, 10);
    if (errno != 0 || end == value->c_str() || *end != '\0') {
        return bad_setting(name, *value, "not an integer");
    }
    if (parsed < min || parsed > max) {
        return bad_setting(name, *value, "out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    }
    return parsed;
}

core::Result<double> get_double(const Env& env, std::string_view name, double fallback, double min, double max) {
    auto value = env(name);
    if (!value || value->empty()) {
        return fallback;
    }
    errno = 0;
    char* end = nullptr;
    const double parsed = std::strtod(value->c_str(), &end);
    if (errno != 0 || end == value->c_str() || *end != '\0') {
        return bad_setting(name, *value, "not a number");
    }
    if (parsed < min || parsed > max) {
        return bad_setting(name, *value, "out of range");
    }
    return parsed;
}

core::Result<bool> get_flag(const Env& env, std::string_view name, bool fallback) {
    auto value = env(name);
    if (!value || value->empty()) {
        return fallback;
    }
    const std::string& v = *value;
    if (v == "1" || v == "true" || v == "TRUE" || v == "True" || v == "yes") {
        return true;
    }
    if (v == "0" || v == "false" || v == "FALSE" || v == "False" || v == "no") {
        return false;
    }
    return bad_setting(name, v, "expected true or false");
}

}  // namespace env_util

}  // namespace dns
