// The SDKs' default credentials chain (SDKs and Tools Reference Guide,
// "Standardized credential providers"), in this order:
//   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (STS AssumeRoleWithWebIdentity)
//   3. shared files: the profile's static keys, or role_arn + source_profile /
//      web_identity_token_file (STS AssumeRole / AssumeRoleWithWebIdentity)
//   4. ECS container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI
//   5. EC2 instance metadata (IMDSv2)
// A source that is configured but fails ends the search with its error (as the
// SDKs do); a source that is not configured is skipped and named in the final
// "no credentials" error.
#include "aws/credentials.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

#include "aws/client.hpp"
#include "aws/config_file.hpp"
#include "core/env.hpp"
#include "core/http.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "core/x509.hpp"

namespace aws {
namespace {

using SystemClock = std::chrono::system_clock;

// Refresh this long before the expiry the source announced (SDK default window).
constexpr std::chrono::minutes k_refresh_window{5};
// IMDS: AWS recommends a short connect timeout so non-EC2 hosts fail fast.
constexpr std::chrono::milliseconds k_imds_connect_timeout{1000};
constexpr std::chrono::milliseconds k_imds_total_timeout{2000};
constexpr const char* k_imds_default_endpoint = "http://169.254.169.254";
constexpr const char* k_imds_token_ttl = "21600";
constexpr const char* k_ecs_host = "http://169.254.170.2";
constexpr std::chrono::milliseconds k_container_connect_timeout{2000};
constexpr std::chrono::milliseconds k_container_total_timeout{5000};
constexpr int k_container_attempts = 3;

core::Result<std::string> read_text_file(const std::string& path, const std::string& what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return core::make_error(core::ErrorKind::io, "cannot read " + what + " " + path);
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

core::Error auth_error(std::string message) { return core::make_error(core::ErrorKind::auth, std::move(message)); }

void register_secrets(const Credentials& credentials) {
    core::log::register_secret(credentials.secret_access_key);
    if (!credentials.session_token.empty()) {
        core::log::register_secret(credentials.session_token);
    }
}

bool needs_refresh(const Credentials& credentials) {
    return credentials.expiration && SystemClock::now() >= *credentials.expiration - k_refresh_window;
}

bool expired(const Credentials& credentials) {
    return credentials.expiration && SystemClock::now() >= *credentials.expiration;
}

// --- STS -------------------------------------------------------------------

// Parses <XResponse><XResult><Credentials>..</Credentials></XResult></XResponse>
// of AssumeRole / AssumeRoleWithWebIdentity.
core::Result<Credentials> parse_sts_credentials(const std::string& xml, const std::string& action,
                                                const std::string& source) {
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size())) {
        return core::make_error(core::ErrorKind::protocol, "sts " + action + ": response is not XML");
    }
    const pugi::xml_node node =
        doc.child((action + "Response").c_str()).child((action + "Result").c_str()).child("Credentials");
    Credentials out;
    out.access_key_id = node.child("AccessKeyId").text().as_string();
    out.secret_access_key = node.child("SecretAccessKey").text().as_string();
    out.session_token = node.child("SessionToken").text().as_string();
    out.source = source;
    if (out.access_key_id.empty() || out.secret_access_key.empty()) {
        return core::make_error(core::ErrorKind::protocol, "sts " + action + ": no Credentials in the response");
    }
    const std::string expiration = node.child("Expiration").text().as_string();
    if (!expiration.empty()) {
        TRY_ASSIGN(auto when, parse_iso8601(expiration));
        out.expiration = when;
    }
    register_secrets(out);
    return out;
}

std::string default_session_name() {
    return "renewer-" +
           std::to_string(
               std::chrono::duration_cast<std::chrono::seconds>(SystemClock::now().time_since_epoch()).count());
}

// STS AssumeRole, signed with `source`.
core::Result<Credentials> sts_assume_role(const std::shared_ptr<CredentialsProvider>& source,
                                          const AssumeRoleOptions& options, const std::string& source_name) {
    ClientSettings settings;
    settings.credentials = source;
    Client client(std::move(settings));
    Params params = {{"RoleArn", options.role_arn},
                     {"RoleSessionName", options.session_name.empty() ? default_session_name() : options.session_name},
                     {"DurationSeconds", std::to_string(options.duration.count())}};
    if (!options.external_id.empty()) {
        params.emplace_back("ExternalId", options.external_id);
    }
    TRY_ASSIGN(std::string xml, client.query(sts, "AssumeRole", params));
    return parse_sts_credentials(xml, "AssumeRole", source_name);
}

// STS AssumeRoleWithWebIdentity: unsigned, the token is the proof. The token
// file is re-read on every refresh (EKS/ECS rotate it).
core::Result<Credentials> sts_assume_role_with_web_identity(const std::string& token_file, const std::string& role_arn,
                                                            const std::string& session_name,
                                                            const std::string& source_name) {
    TRY_ASSIGN(std::string token, read_text_file(token_file, "web identity token file"));
    token = std::string(core::trim(token));
    if (token.empty()) {
        return auth_error("web identity token file " + token_file + " is empty");
    }
    core::log::register_secret(token);
    ClientSettings settings;
    settings.credentials = anonymous_credentials();
    Client client(std::move(settings));
    TRY_ASSIGN(std::string xml,
               client.query(sts, "AssumeRoleWithWebIdentity",
                            {{"RoleArn", role_arn},
                             {"RoleSessionName", session_name.empty() ? default_session_name() : session_name},
                             {"WebIdentityToken", token}}));
    return parse_sts_credentials(xml, "AssumeRoleWithWebIdentity", source_name);
}

// --- Caching ---------------------------------------------------------------

using Fetch = std::function<core::Result<Credentials>()>;

// Caches what `fetch` returns until 5 minutes before its expiry. If a refresh
// fails while the old credentials are still valid, they are used (SDK habit).
class CachingProvider final : public CredentialsProvider {
public:
    explicit CachingProvider(Fetch fetch) : fetch_(std::move(fetch)) {}

    core::Result<Credentials> get() override {
        std::lock_guard lock(mutex_);
        if (cached_ && !needs_refresh(*cached_)) {
            return *cached_;
        }
        auto fresh = fetch_();
        if (!fresh) {
            if (cached_ && !expired(*cached_)) {
                core::log::warn("credentials refresh failed; using the cached ones until they expire",
                                {{"error", fresh.error().message}});
                return *cached_;
            }
            return fresh.error();
        }
        register_secrets(*fresh);
        cached_ = *fresh;
        return fresh;
    }

    void invalidate() override {
        std::lock_guard lock(mutex_);
        cached_.reset();
    }

private:
    Fetch fetch_;
    std::mutex mutex_;
    std::optional<Credentials> cached_;
};

class StaticProvider final : public CredentialsProvider {
public:
    explicit StaticProvider(Credentials credentials) : credentials_(std::move(credentials)) {
        register_secrets(credentials_);
    }
    core::Result<Credentials> get() override { return credentials_; }
    void invalidate() override {}

private:
    Credentials credentials_;
};

// --- The chain's sources ----------------------------------------------------

// nullopt: the source is not configured (the string says why, for the error).
using Attempt = std::optional<core::Result<Credentials>>;

Attempt from_environment(std::string& why_not) {
    const std::string key = core::env_or("AWS_ACCESS_KEY_ID");
    const std::string secret = core::env_or("AWS_SECRET_ACCESS_KEY");
    if (key.empty() && secret.empty()) {
        why_not = "environment (AWS_ACCESS_KEY_ID not set)";
        return std::nullopt;
    }
    if (key.empty() || secret.empty()) {
        return core::Result<Credentials>(
            auth_error("environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (only one is)"));
    }
    Credentials out;
    out.access_key_id = key;
    out.secret_access_key = secret;
    out.session_token = core::env_or("AWS_SESSION_TOKEN");
    out.source = "environment";
    return core::Result<Credentials>(std::move(out));
}

Attempt from_web_identity_env(std::string& why_not) {
    const std::string token_file = core::env_or("AWS_WEB_IDENTITY_TOKEN_FILE");
    const std::string role_arn = core::env_or("AWS_ROLE_ARN");
    if (token_file.empty() || role_arn.empty()) {
        why_not = "web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN not both set)";
        return std::nullopt;
    }
    auto result =
        sts_assume_role_with_web_identity(token_file, role_arn, core::env_or("AWS_ROLE_SESSION_NAME"), "web-identity");
    if (!result) {
        return core::Result<Credentials>(result.error().wrap("web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"));
    }
    return result;
}

std::string property(const config::Properties& profile, const std::string& key) {
    auto it = profile.find(key);
    return it == profile.end() ? std::string() : it->second;
}

// Resolves a profile to credentials, following source_profile (bounded, cycle-checked).
core::Result<Credentials> resolve_profile(const config::SharedConfig& shared, const std::string& name,
                                          std::set<std::string>& visited) {
    auto profile = shared.profile(name);
    if (!profile) {
        return auth_error("profile \"" + name + "\" not found in " + shared.credentials_path + " or " +
                          shared.config_path);
    }
    const std::string role_arn = property(*profile, "role_arn");
    const std::string key = property(*profile, "aws_access_key_id");
    const std::string secret = property(*profile, "aws_secret_access_key");
    auto static_keys = [&]() -> core::Result<Credentials> {
        if (key.empty() || secret.empty()) {
            return auth_error("profile \"" + name + "\" has " +
                              (key.empty() ? "aws_secret_access_key" : "aws_access_key_id") + " without its pair");
        }
        Credentials out;
        out.access_key_id = key;
        out.secret_access_key = secret;
        out.session_token = property(*profile, "aws_session_token");
        out.source = "shared-config:" + name;
        return out;
    };
    // A profile reached again as source_profile of itself uses its static keys.
    if (role_arn.empty() || visited.contains(name)) {
        if (role_arn.empty() && key.empty() && secret.empty()) {
            return auth_error("profile \"" + name + "\" has no credentials (no aws_access_key_id, no role_arn)");
        }
        if (!role_arn.empty() && key.empty()) {
            return auth_error("profile \"" + name + "\": source_profile cycle");
        }
        return static_keys();
    }
    visited.insert(name);

    const std::string session_name = property(*profile, "role_session_name");
    if (const std::string token_file = property(*profile, "web_identity_token_file"); !token_file.empty()) {
        return sts_assume_role_with_web_identity(token_file, role_arn, session_name,
                                                 "assume-role-web-identity:" + name);
    }
    const std::string source_profile = property(*profile, "source_profile");
    if (source_profile.empty()) {
        if (!property(*profile, "credential_source").empty()) {
            return auth_error("profile \"" + name + "\": credential_source is not supported; use source_profile");
        }
        return auth_error("profile \"" + name + "\" has role_arn but no source_profile");
    }
    TRY_ASSIGN(Credentials source, resolve_profile(shared, source_profile, visited));
    AssumeRoleOptions options;
    options.role_arn = role_arn;
    options.external_id = property(*profile, "external_id");
    options.session_name = session_name;
    if (const std::string duration = property(*profile, "duration_seconds"); !duration.empty()) {
        options.duration = std::chrono::seconds(std::atoi(duration.c_str()));
    }
    auto assumed = sts_assume_role(static_credentials(source), options, "assume-role:" + name);
    if (!assumed) {
        return assumed.error().wrap("profile \"" + name + "\" role_arn " + role_arn);
    }
    return assumed;
}

Attempt from_shared_files(std::string& why_not) {
    auto shared = config::SharedConfig::load();
    if (!shared) {
        return core::Result<Credentials>(shared.error().wrap("shared config"));
    }
    const std::string name = config::profile_name();
    auto profile = shared->profile(name);
    const bool explicit_profile = !core::env_or("AWS_PROFILE").empty() || !core::env_or("AWS_DEFAULT_PROFILE").empty();
    if (!profile) {
        if (explicit_profile) {
            return core::Result<Credentials>(auth_error("AWS_PROFILE \"" + name + "\" not found in " +
                                                        shared->credentials_path + " or " + shared->config_path));
        }
        why_not = "shared files (no profile \"" + name + "\" in " + shared->credentials_path + " or " +
                  shared->config_path + ")";
        return std::nullopt;
    }
    if (property(*profile, "role_arn").empty() && property(*profile, "aws_access_key_id").empty() &&
        property(*profile, "aws_secret_access_key").empty()) {
        why_not = "shared files (profile \"" + name + "\" has no credentials)";
        return std::nullopt;
    }
    std::set<std::string> visited;
    return resolve_profile(*shared, name, visited);
}

bool is_loopback_or_container_host(const std::string& host) {
    // The SDKs allow plain http only to loopback, the ECS and the EKS Pod
    // Identity agent addresses.
    return host == "localhost" || host.starts_with("127.") || host == "::1" || host == "169.254.170.2" ||
           host == "169.254.170.23" || host == "fd00:ec2::23";
}

core::Result<Credentials> parse_credentials_json(const std::string& body, const std::string& source) {
    const nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_object()) {
        return core::make_error(core::ErrorKind::protocol, source + ": credentials response is not a JSON object");
    }
    auto field = [&doc](const char* name) {
        return doc.contains(name) && doc[name].is_string() ? doc[name].get<std::string>() : std::string();
    };
    if (const std::string code = field("Code"); !code.empty() && code != "Success") {
        return auth_error(source + ": " + code + ": " + field("Message"));
    }
    Credentials out;
    out.access_key_id = field("AccessKeyId");
    out.secret_access_key = field("SecretAccessKey");
    out.session_token = field("Token");
    out.source = source;
    if (out.access_key_id.empty() || out.secret_access_key.empty()) {
        return core::make_error(core::ErrorKind::protocol, source + ": no AccessKeyId/SecretAccessKey in the response");
    }
    if (const std::string expiration = field("Expiration"); !expiration.empty()) {
        TRY_ASSIGN(auto when, parse_iso8601(expiration));
        out.expiration = when;
    }
    register_secrets(out);
    return out;
}

Attempt from_container(std::string& why_not) {
    const std::string relative = core::env_or("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const std::string full = core::env_or("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    std::string url;
    if (!relative.empty()) {
        url = std::string(k_ecs_host) + (relative.starts_with("/") ? "" : "/") + relative;
    } else if (!full.empty()) {
        auto parsed = core::http::parse_url(full);
        if (!parsed) {
            return core::Result<Credentials>(
                auth_error("AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL: " + parsed.error().message));
        }
        if (parsed->scheme != "https" && !(parsed->scheme == "http" && is_loopback_or_container_host(parsed->host))) {
            return core::Result<Credentials>(auth_error(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https or a loopback host, not " + parsed->host));
        }
        url = full;
    } else {
        why_not = "container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI not set)";
        return std::nullopt;
    }

    core::http::Request request;
    request.method = "GET";
    request.url = url;
    request.headers.emplace_back("Accept", "application/json");
    std::string token;
    if (const std::string token_file = core::env_or("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); !token_file.empty()) {
        auto text = read_text_file(token_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
        if (!text) {
            return core::Result<Credentials>(text.error());
        }
        token = std::string(core::trim(*text));
    } else {
        token = core::env_or("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    }
    if (!token.empty()) {
        core::log::register_secret(token);
        request.headers.emplace_back("Authorization", token);
    }
    core::http::ClientOptions options;
    options.connect_timeout = k_container_connect_timeout;
    options.total_timeout = k_container_total_timeout;
    options.direct = true;  // the agent answers this host only: never via http_proxy
    core::http::Client http(options);
    core::Error last;
    for (int attempt = 1; attempt <= k_container_attempts; ++attempt) {
        auto response = http.send(request);
        if (response && response->status == 200) {
            return parse_credentials_json(response->body, "container");
        }
        if (response) {
            last = core::make_error(
                response->status == 401 || response->status == 403 ? core::ErrorKind::auth : core::ErrorKind::http,
                "container endpoint " + url + ": HTTP " + std::to_string(response->status));
            last.http_status = static_cast<int>(response->status);
            if (response->status < 500) {
                break;
            }
        } else {
            last = response.error().wrap("container endpoint " + url);
        }
    }
    return core::Result<Credentials>(last);
}

Attempt from_imds(std::string& why_not) {
    if (core::ascii_lower(core::env_or("AWS_EC2_METADATA_DISABLED")) == "true") {
        why_not = "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)";
        return std::nullopt;
    }
    std::string endpoint = core::env_or("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (endpoint.empty()) {
        endpoint = config::profile_value("ec2_metadata_service_endpoint");
    }
    if (endpoint.empty()) {
        endpoint = k_imds_default_endpoint;
    }
    while (!endpoint.empty() && endpoint.back() == '/') {
        endpoint.pop_back();
    }
    core::http::ClientOptions options;
    options.connect_timeout = k_imds_connect_timeout;
    options.total_timeout = k_imds_total_timeout;
    options.direct = true;  // link-local, this instance only: never via http_proxy
    core::http::Client http(options);

    // IMDSv2: PUT /latest/api/token, then every GET carries the token.
    core::http::Request token_request;
    token_request.method = "PUT";
    token_request.url = endpoint + "/latest/api/token";
    token_request.headers.emplace_back("X-aws-ec2-metadata-token-ttl-seconds", k_imds_token_ttl);
    auto token_response = http.send(token_request);
    if (!token_response) {
        why_not = "EC2 instance metadata (no answer from " + endpoint + ": " + token_response.error().message + ")";
        return std::nullopt;
    }
    if (token_response->status != 200) {
        return core::Result<Credentials>(auth_error("EC2 instance metadata " + endpoint +
                                                    ": token request answered HTTP " +
                                                    std::to_string(token_response->status)));
    }
    const std::string token(core::trim(token_response->body));
    core::log::register_secret(token);

    auto get = [&](const std::string& path) -> core::Result<std::string> {
        core::http::Request request;
        request.method = "GET";
        request.url = endpoint + path;
        request.headers.emplace_back("X-aws-ec2-metadata-token", token);
        TRY_ASSIGN(core::http::Response response, http.send(request));
        if (response.status == 404) {
            return core::make_error(core::ErrorKind::auth,
                                    "EC2 instance metadata: " + path + " not found (no instance profile attached?)");
        }
        if (response.status != 200) {
            return core::make_error(core::ErrorKind::auth, "EC2 instance metadata: " + path + " answered HTTP " +
                                                               std::to_string(response.status));
        }
        return std::move(response.body);
    };
    const std::string base = "/latest/meta-data/iam/security-credentials/";
    auto roles = get(base);
    if (!roles) {
        return core::Result<Credentials>(roles.error());
    }
    std::string role(core::trim(*roles));
    role = role.substr(0, role.find('\n'));
    if (role.empty()) {
        return core::Result<Credentials>(auth_error("EC2 instance metadata: no instance profile role"));
    }
    auto body = get(base + role);
    if (!body) {
        return core::Result<Credentials>(body.error());
    }
    return parse_credentials_json(*body, "imds");
}

class DefaultChain final : public CredentialsProvider {
public:
    core::Result<Credentials> get() override {
        std::lock_guard lock(mutex_);
        if (cached_ && !needs_refresh(*cached_)) {
            return *cached_;
        }
        auto fresh = resolve();
        if (!fresh) {
            if (cached_ && !expired(*cached_)) {
                core::log::warn("credentials refresh failed; using the cached ones until they expire",
                                {{"error", fresh.error().message}});
                return *cached_;
            }
            return fresh.error();
        }
        register_secrets(*fresh);
        if (!cached_ || cached_->source != fresh->source) {
            core::log::debug("aws credentials", {{"source", fresh->source}});
        }
        cached_ = *fresh;
        return fresh;
    }

    void invalidate() override {
        std::lock_guard lock(mutex_);
        cached_.reset();
    }

private:
    static core::Result<Credentials> resolve() {
        std::vector<std::string> tried;
        for (auto* source :
             {&from_environment, &from_web_identity_env, &from_shared_files, &from_container, &from_imds}) {
            std::string why_not;
            Attempt attempt = source(why_not);
            if (attempt) {
                return std::move(*attempt);
            }
            tried.push_back(why_not);
        }
        std::string message = "no AWS credentials found; tried: ";
        for (std::size_t i = 0; i < tried.size(); ++i) {
            message += (i > 0 ? "; " : "") + tried[i];
        }
        return auth_error(message);
    }

    std::mutex mutex_;
    std::optional<Credentials> cached_;
};

}  // namespace

core::Result<std::chrono::system_clock::time_point> parse_iso8601(const std::string& text) {
    auto parsed = core::parse_time(text);
    if (!parsed) {
        return core::make_error(core::ErrorKind::protocol, "not an ISO 8601 time: \"" + text + "\"");
    }
    // Whole seconds: AWS expiry times carry no meaningful fraction.
    return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
        std::chrono::floor<std::chrono::seconds>(*parsed));
}

std::shared_ptr<CredentialsProvider> default_credentials_chain() { return std::make_shared<DefaultChain>(); }

std::shared_ptr<CredentialsProvider> static_credentials(Credentials credentials) {
    if (credentials.source.empty()) {
        credentials.source = "static";
    }
    return std::make_shared<StaticProvider>(std::move(credentials));
}

std::shared_ptr<CredentialsProvider> anonymous_credentials() {
    Credentials none;
    none.source = "anonymous";
    return std::make_shared<StaticProvider>(std::move(none));
}

std::shared_ptr<CredentialsProvider> assume_role_credentials(std::shared_ptr<CredentialsProvider> source,
                                                             AssumeRoleOptions options) {
    return std::make_shared<CachingProvider>([source = std::move(source), options = std::move(options)]() {
        return sts_assume_role(source, options, "assume-role:" + options.role_arn);
    });
}

}  // namespace aws
