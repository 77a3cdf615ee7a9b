// Internal to secrets/: the Secrets Manager calls (JSON 1.1 API) the bundle
// store and its locker share, over one aws::Client (one connection, one set
// of credentials) per certificate.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "secrets/store.hpp"

namespace aws {
class Client;
}

namespace secrets::detail {

inline constexpr const char* k_not_found = "ResourceNotFoundException";
inline constexpr const char* k_exists = "ResourceExistsException";

struct SecretValue {
    std::string version_id;
    std::string text;
};

// Whether CreateSecret gets StoreConfig::kms_key_id.
enum class KmsKey { include, omit };

class SecretsManagerApi {
public:
    explicit SecretsManagerApi(StoreConfig config);
    ~SecretsManagerApi();
    SecretsManagerApi(const SecretsManagerApi&) = delete;
    SecretsManagerApi& operator=(const SecretsManagerApi&) = delete;

    core::Result<nlohmann::json> call(std::string_view action, const nlohmann::json& body);
    // The value at `stage`, nullopt when the secret or that stage does not exist.
    core::Result<std::optional<SecretValue>> get_value(const std::string& id, Stage stage);
    // CreateSecret's optional KmsKeyId and Tags from the configuration.
    void add_create_options(nlohmann::json& body, KmsKey kms) const;
    const StoreConfig& config() const { return config_; }

private:
    aws::Client& client();

    StoreConfig config_;
    std::unique_ptr<aws::Client> client_;  // made on the first call
};

// The secret's name from an ARN ("arn:aws:secretsmanager:r:a:secret:NAME-AbCdEf"),
// without the 6-character suffix Secrets Manager appends; the id itself otherwise.
std::string base_name(const std::string& secret_id);

// The lease of the Secrets Manager store for `secret_id`: the secret
// "<name>-lock" (secretsmanager_locker.cpp).
std::unique_ptr<Locker> make_secretsmanager_locker(std::shared_ptr<SecretsManagerApi> api, std::string secret_id);

}  // namespace secrets::detail
