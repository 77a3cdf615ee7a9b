// The AWS Secrets Manager store (JSON 1.1 API).
//
// - The bundle is one secret (SecretString = to_json(bundle)). PutSecretValue
//   makes the new version AWSCURRENT and Secrets Manager itself moves the old
//   one to AWSPREVIOUS, which is what Stage::previous reads.
// - The ACME account record is a second secret, "<name>-account" by default.
// - The lease is a third, tiny secret "<name>-lock" (secretsmanager_locker.cpp),
//   or with StoreConfig::lease_table an item of that DynamoDB table
//   (dynamodb_locker.cpp).
// - Notes (Store::put_note) are secrets "<name>-<kind>", made on first use.
// Store and locker share one SecretsManagerApi (secretsmanager_api.hpp).
#include <algorithm>

#include "core/log.hpp"
#include "secrets/lease.hpp"
#include "secrets/secretsmanager_api.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;
using detail::k_exists;
using detail::k_not_found;
using nlohmann::json;

bool is_arn(const std::string& id) { return id.rfind("arn:", 0) == 0; }

// AWSCURRENT's VersionId in a ListSecrets entry ("" when not given).
std::string current_version(const json& entry) {
    const auto stages = entry.find("SecretVersionsToStages");
    if (stages == entry.end() || !stages->is_object()) {
        return {};
    }
    for (const auto& [version, labels] : stages->items()) {
        if (labels.is_array() && std::find(labels.begin(), labels.end(), "AWSCURRENT") != labels.end()) {
            return version;
        }
    }
    return {};
}

// The secrets renewer keeps beside a bundle "NAME" (the header above): never
// listed as bundles. "replace-owed" is the note of docs/replacement.md.
bool is_side_record(const std::string& name) {
    for (const std::string_view suffix : {"-lock", "-account", "-replace-owed"}) {
        if (name.ends_with(suffix)) {
            return true;
        }
    }
    return false;
}

class SecretsManagerStore final : public Store {
public:
    SecretsManagerStore(std::shared_ptr<detail::SecretsManagerApi> api, std::string secret_id)
        : api_(std::move(api)), secret_id_(std::move(secret_id)) {
        const auto& account = api_->config().account;
        account_id_ = account.empty() ? detail::base_name(secret_id_) + "-account" : account;
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

    core::Result<std::optional<std::string>> get_note(std::string_view kind) override {
        TRY_ASSIGN(auto value, get_value(note_id(kind), Stage::current));
        if (!value) {
            return std::optional<std::string>();
        }
        return std::optional<std::string>(std::move(value->text));
    }

    core::Status put_note(std::string_view kind, std::string_view json_text) override {
        return put_value(note_id(kind), std::string(json_text), "renewer's note beside a certificate bundle");
    }

    std::string describe() const override { return "aws-sm:" + secret_id_; }

    core::Result<std::unique_ptr<Store>> open(std::string_view name) override {
        return std::unique_ptr<Store>(std::make_unique<SecretsManagerStore>(api_, secret_id_ + std::string(name)));
    }

    // ListSecrets, every page (docs/stores.md): the "name" filter is a
    // case-sensitive prefix match (botocore's Filter shape), checked again here.
    core::Result<std::vector<Listing>> list(std::string_view prefix) override {
        if (is_arn(secret_id_)) {
            return make_error(ErrorKind::invalid_input,
                              describe() + ": an ARN names one secret; list by a name prefix");
        }
        const std::string location = secret_id_ + std::string(prefix);
        std::vector<Listing> found;
        std::string token;
        do {
            json body = {{"MaxResults", 100}};
            if (!location.empty()) {
                body["Filters"] = json::array({{{"Key", "name"}, {"Values", {location}}}});
            }
            if (!token.empty()) {
                body["NextToken"] = token;
            }
            auto page = call("ListSecrets", body);
            if (!page.ok()) {
                return page.error().wrap("aws-sm:" + location + " ListSecrets");
            }
            add_page(*page, location, found);
            auto next = page->value("NextToken", std::string());
            if (!next.empty() && next == token) {
                return make_error(ErrorKind::internal, "aws-sm:" + location + " ListSecrets: the same NextToken twice");
            }
            token = std::move(next);
        } while (!token.empty());
        std::sort(found.begin(), found.end(), [](const Listing& a, const Listing& b) { return a.name < b.name; });
        return found;
    }

private:
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
        const auto& description = api_->config().description;
        body["Description"] = description.empty() ? default_description : description;
        api_->add_create_options(body, detail::KmsKey::include);
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

    void add_page(const json& page, const std::string& location, std::vector<Listing>& found) {
        const auto list = page.find("SecretList");
        if (list == page.end() || !list->is_array()) {
            return;
        }
        for (const auto& entry : *list) {
            const auto* name = entry.contains("Name") ? entry["Name"].get_ptr<const std::string*>() : nullptr;
            if (name == nullptr || !name->starts_with(location) || is_side_record(*name)) {
                continue;
            }
            found.push_back({name->substr(secret_id_.size()), "aws-sm:" + *name, current_version(entry)});
        }
    }

    std::string note_id(std::string_view kind) const { return detail::base_name(secret_id_) + "-" + std::string(kind); }

    core::Result<json> call(std::string_view action, const json& body) { return api_->call(action, body); }
    core::Result<std::optional<detail::SecretValue>> get_value(const std::string& id, Stage stage) {
        return api_->get_value(id, stage);
    }

    std::shared_ptr<detail::SecretsManagerApi> api_;
    std::string secret_id_;
    std::string account_id_;
};

}  // namespace

core::Result<StoreWithLocker> make_secretsmanager_store_with_locker(const std::string& secret_id,
                                                                    const StoreConfig& config) {
    if (secret_id.empty()) {
        return make_error(ErrorKind::invalid_input, "aws-sm store: the secret name or ARN is empty");
    }
    auto api = std::make_shared<detail::SecretsManagerApi>(config);
    auto store = std::make_unique<SecretsManagerStore>(api, secret_id);
    if (!config.lease_table.empty()) {
        // --lease-table: one small item per certificate instead of a "-lock" secret.
        auto where = store->describe();
        TRY_ASSIGN(auto locker,
                   detail::make_lease_table_locker(config, detail::base_name(secret_id), std::move(where)));
        return StoreWithLocker{std::move(store), std::move(locker)};
    }
    return StoreWithLocker{std::move(store), detail::make_secretsmanager_locker(api, secret_id)};
}

core::Result<std::unique_ptr<Store>> make_secretsmanager_store(const std::string& secret_id,
                                                               const StoreConfig& config) {
    TRY_ASSIGN(auto both, make_secretsmanager_store_with_locker(secret_id, config));
    return std::move(both.store);
}

}  // namespace secrets
