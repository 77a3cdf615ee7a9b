// The AWS Secrets Manager store (JSON 1.1 API).
//
// - The bundle is one secret (SecretString = to_json(bundle)). PutSecretValue
//   makes the new version AWSCURRENT and Secrets Manager itself moves the old
//   one to AWSPREVIOUS, which is what Stage::previous reads.
// - The ACME account record is a second secret, "<name>-account" by default.
// - The lease is a third, tiny secret "<name>-lock" holding a lease record. It
//   is taken with a compare-and-swap that Secrets Manager gives us for free:
//   PutSecretValue's ClientRequestToken is idempotent for the same value and
//   fails with ResourceExistsException for a different one, so two runs that
//   read the same free version and derive the same token from its VersionId
//   cannot both win. CreateSecret (fails if it exists) covers the first run.
#include <nlohmann/json.hpp>

#include "aws/client.hpp"
#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/log.hpp"
#include "secrets/lease.hpp"
#include "secrets/store.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;
using nlohmann::json;

constexpr const char* k_not_found = "ResourceNotFoundException";
constexpr const char* k_exists = "ResourceExistsException";

// The secret's name from an ARN ("arn:aws:secretsmanager:r:a:secret:NAME-AbCdEf"),
// without the 6-character suffix Secrets Manager appends; the id itself otherwise.
std::string base_name(const std::string& secret_id) {
    if (secret_id.rfind("arn:", 0) != 0) {
        return secret_id;
    }
    const auto at = secret_id.find(":secret:");
    if (at == std::string::npos) {
        return secret_id;
    }
    std::string name = secret_id.substr(at + 8);
    const auto dash = name.rfind('-');
    if (dash != std::string::npos && name.size() - dash == 7) {
        name.resize(dash);
    }
    return name;
}

bool is_arn(const std::string& id) { return id.rfind("arn:", 0) == 0; }

// A ClientRequestToken that every run reading version `version_id` derives
// alike (UUID-shaped, 36 characters; the API wants 32 to 64).
std::string token_after(const std::string& version_id) {
    const auto hex = core::hex_encode(core::sha256("renewer-lease-after:" + version_id)).substr(0, 32);
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
           hex.substr(20);
}

struct SecretValue {
    std::string version_id;
    std::string text;
};

class SecretsManagerStore final : public Store {
public:
    SecretsManagerStore(std::string secret_id, StoreConfig config)
        : secret_id_(std::move(secret_id)), config_(std::move(config)) {
        account_id_ = config_.account.empty() ? base_name(secret_id_) + "-account" : config_.account;
        lock_id_ = base_name(secret_id_) + "-lock";
    }

    core::Result<std::optional<Bundle>> get(Stage stage) override {
        TRY_ASSIGN(auto value, get_value(secret_id_, stage));
        if (!value) {
            return std::optional<Bundle>();
        }
        auto bundle = parse_bundle(value->text);
        if (!bundle.ok()) {
            return bundle.error().wrap(describe() + " " + to_string(stage));
        }
        return std::optional<Bundle>(std::move(bundle).value());
    }

    core::Status put(const Bundle& bundle) override {
        const auto text = to_json(bundle);
        // The API would refuse it too, but only after the call: say it plainly, first.
        if (text.size() > k_secret_string_limit) {
            return make_error(ErrorKind::invalid_input, describe() + ": the bundle is " + std::to_string(text.size()) +
                                                            " bytes; Secrets Manager's SecretString limit is " +
                                                            std::to_string(k_secret_string_limit) +
                                                            " bytes (fewer intermediates or a smaller key)");
        }
        return put_value(secret_id_, text, "TLS certificate bundle written by renewer");
    }

    core::Result<std::optional<std::string>> get_account() override {
        TRY_ASSIGN(auto value, get_value(account_id_, Stage::current));
        if (!value) {
            return std::optional<std::string>();
        }
        return std::optional<std::string>(std::move(value->text));
    }

    core::Status put_account(std::string_view account_json) override {
        if (account_json.size() > k_secret_string_limit) {
            return make_error(ErrorKind::invalid_input, "aws-sm:" + account_id_ + ": the account record is too large");
        }
        return put_value(account_id_, std::string(account_json), "ACME account key and URL written by renewer");
    }

    core::Result<Lease> try_acquire_lock(const std::string& owner, std::chrono::seconds ttl) override {
        const auto record = detail::new_lease(owner, ttl);
        const auto text = detail::lease_to_json(record);
        TRY_ASSIGN(auto current, get_value(lock_id_, Stage::current));
        if (!current) {
            json body = {{"Name", lock_id_},
                         {"SecretString", text},
                         {"ClientRequestToken", detail::uuid_v4()},
                         {"Description", "renewer lease for " + secret_id_}};
            add_create_options(body, KmsKey::omit);
            auto created = call("CreateSecret", body);
            if (created.ok()) {
                return detail::to_lease(record);
            }
            if (created.error().code != k_exists) {
                return created.error().wrap("aws-sm:" + lock_id_ + " CreateSecret");
            }
            return lost_race();
        }
        if (auto held = detail::lease_from_json(current->text);
            held && !detail::lease_is_free(*held, std::chrono::system_clock::now())) {
            return detail::lease_conflict(*held, describe());
        }
        json body = {
            {"SecretId", lock_id_}, {"SecretString", text}, {"ClientRequestToken", token_after(current->version_id)}};
        auto swapped = call("PutSecretValue", body);
        if (swapped.ok()) {
            return detail::to_lease(record);
        }
        if (swapped.error().code != k_exists) {
            return swapped.error().wrap("aws-sm:" + lock_id_ + " PutSecretValue");
        }
        return lost_race();
    }

    core::Result<Lease> renew_lock(const Lease& lease, std::chrono::seconds ttl) override {
        TRY_ASSIGN(auto current, get_value(lock_id_, Stage::current));
        std::optional<detail::LeaseRecord> held;
        if (current) {
            held = detail::lease_from_json(current->text);
        }
        if (!held || held->token != lease.token) {
            return detail::lease_lost(held, describe());
        }
        held->expires_at = detail::expiry_after(ttl);
        json body = {{"SecretId", lock_id_},
                     {"SecretString", detail::lease_to_json(*held)},
                     {"ClientRequestToken", token_after(current->version_id)}};
        auto put = call("PutSecretValue", body);
        if (!put.ok()) {
            if (put.error().code == k_exists) {
                return detail::lease_lost(std::nullopt, describe());
            }
            return put.error().wrap("aws-sm:" + lock_id_ + " PutSecretValue");
        }
        return detail::to_lease(*held);
    }

    core::Status release_lock(const Lease& lease) override {
        TRY_ASSIGN(auto current, get_value(lock_id_, Stage::current));
        if (!current) {
            return {};
        }
        const auto held = detail::lease_from_json(current->text);
        if (!held || held->token != lease.token) {
            return {};  // expired and taken over: not ours to free
        }
        auto released = *held;
        released.token.clear();
        json body = {{"SecretId", lock_id_},
                     {"SecretString", detail::lease_to_json(released)},
                     {"ClientRequestToken", token_after(current->version_id)}};
        auto put = call("PutSecretValue", body);
        if (!put.ok() && put.error().code != k_exists) {
            return put.error().wrap("aws-sm:" + lock_id_ + " PutSecretValue");
        }
        return {};
    }

    std::string describe() const override { return "aws-sm:" + secret_id_; }

private:
    enum class KmsKey { include, omit };

    aws::Client& client() {
        if (!client_) {
            client_ = std::make_unique<aws::Client>(config_.aws ? *config_.aws : aws::ClientSettings{});
        }
        return *client_;
    }

    core::Result<json> call(std::string_view action, const json& body) {
        return client().json(aws::secrets_manager, action, body);
    }

    // The value at `stage`, nullopt when the secret or that stage does not exist.
    core::Result<std::optional<SecretValue>> get_value(const std::string& id, Stage stage) {
        auto answer = call("GetSecretValue", json{{"SecretId", id}, {"VersionStage", to_string(stage)}});
        if (!answer.ok()) {
            if (answer.error().code == k_not_found) {
                return std::optional<SecretValue>();
            }
            return answer.error().wrap("aws-sm:" + id + " GetSecretValue " + to_string(stage));
        }
        const auto& j = *answer;
        const auto it = j.find("SecretString");
        if (it == j.end() || !it->is_string()) {
            return make_error(ErrorKind::invalid_input,
                              "aws-sm:" + id + " " + to_string(stage) + ": the secret has no SecretString");
        }
        SecretValue value;
        value.version_id = j.value("VersionId", std::string());
        value.text = it->get<std::string>();
        return std::optional<SecretValue>(std::move(value));
    }

    void add_create_options(json& body, KmsKey kms) const {
        if (kms == KmsKey::include && !config_.kms_key_id.empty()) {
            body["KmsKeyId"] = config_.kms_key_id;
        }
        if (!config_.tags.empty()) {
            json tags = json::array();
            for (const auto& [key, value] : config_.tags) {
                tags.push_back({{"Key", key}, {"Value", value}});
            }
            body["Tags"] = tags;
        }
    }

    // PutSecretValue, or CreateSecret when the secret does not exist yet. One
    // ClientRequestToken (UUID v4) for both, reused by the client's retries,
    // so a retried call does not create a second version.
    core::Status put_value(const std::string& id, const std::string& text, const std::string& default_description) {
        const auto token = detail::uuid_v4();
        auto put =
            call("PutSecretValue", json{{"SecretId", id}, {"SecretString", text}, {"ClientRequestToken", token}});
        if (put.ok()) {
            return {};
        }
        if (put.error().code != k_not_found) {
            return put.error().wrap("aws-sm:" + id + " PutSecretValue");
        }
        if (is_arn(id)) {
            return make_error(ErrorKind::not_found,
                              "aws-sm:" + id + ": no such secret (give a name, not an ARN, to have it created)");
        }
        json body = {{"Name", id}, {"SecretString", text}, {"ClientRequestToken", token}};
        body["Description"] = config_.description.empty() ? default_description : config_.description;
        add_create_options(body, KmsKey::include);
        auto created = call("CreateSecret", body);
        if (created.ok()) {
            core::log::info("created secret", {{"secret", id}});
            return {};
        }
        if (created.error().code == k_exists) {
            // Created by someone else between our two calls: put a version on it.
            auto again =
                call("PutSecretValue", json{{"SecretId", id}, {"SecretString", text}, {"ClientRequestToken", token}});
            if (again.ok()) {
                return {};
            }
            return again.error().wrap("aws-sm:" + id + " PutSecretValue");
        }
        return created.error().wrap("aws-sm:" + id + " CreateSecret");
    }

    // Someone else's write landed between our read and our swap: report them.
    core::Result<Lease> lost_race() {
        TRY_ASSIGN(auto current, get_value(lock_id_, Stage::current));
        if (current) {
            if (auto held = detail::lease_from_json(current->text)) {
                return detail::lease_conflict(*held, describe());
            }
        }
        auto error = make_error(ErrorKind::conflict, describe() + ": another run took the lock first");
        error.code = "LockHeld";
        return error;
    }

    std::string secret_id_;
    StoreConfig config_;
    std::string account_id_;
    std::string lock_id_;
    std::unique_ptr<aws::Client> client_;
};

}  // namespace

core::Result<std::unique_ptr<Store>> make_secretsmanager_store(const std::string& secret_id,
                                                               const StoreConfig& config) {
    if (secret_id.empty()) {
        return make_error(ErrorKind::invalid_input, "aws-sm store: the secret name or ARN is empty");
    }
    return std::unique_ptr<Store>(std::make_unique<SecretsManagerStore>(secret_id, config));
}

}  // namespace secrets
