#include "secrets/secretsmanager_api.hpp"

#include "aws/client.hpp"

namespace secrets::detail {

using nlohmann::json;

SecretsManagerApi::SecretsManagerApi(StoreConfig config) : config_(std::move(config)) {}

SecretsManagerApi::~SecretsManagerApi() = default;

aws::Client& SecretsManagerApi::client() {
    if (!client_) {
        client_ = std::make_unique<aws::Client>(config_.aws ? *config_.aws : aws::ClientSettings{});
    }
    return *client_;
}

core::Result<json> SecretsManagerApi::call(std::string_view action, const json& body) {
    return client().json(aws::secrets_manager, action, body);
}

core::Result<std::optional<SecretValue>> SecretsManagerApi::get_value(const std::string& id, Stage stage) {
    auto answer = call("GetSecretValue", json{{"SecretId", id}, {"VersionStage", to_string(stage)}});
    if (!answer.ok()) {
        if (answer.error().code == k_not_found) {
            return std::optional<SecretValue>();
        }
        return answer.error().wrap("aws-sm:" + id + " GetSecretValue " + to_string(stage));
    }
    const auto& j = *answer;
    // get_ptr, not is_string()/get() or value(): GCC's -Wnull-dereference
    // false positive at -O2 once inlined here.
    const auto it = j.find("SecretString");
    const auto* secret = it == j.end() ? nullptr : it->get_ptr<const std::string*>();
    if (secret == nullptr) {
        return core::make_error(core::ErrorKind::invalid_input,
                                "aws-sm:" + id + " " + to_string(stage) + ": the secret has no SecretString");
    }
    SecretValue value;
    value.text = *secret;
    if (const auto version = j.find("VersionId"); version != j.end()) {
        if (const auto* text = version->get_ptr<const std::string*>()) {
            value.version_id = *text;
        }
    }
    return std::optional<SecretValue>(std::move(value));
}

void SecretsManagerApi::add_create_options(json& body, KmsKey kms) const {
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

}  // namespace secrets::detail
