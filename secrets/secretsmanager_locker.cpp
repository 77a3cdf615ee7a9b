// The Secrets Manager store's lease: a tiny secret "<name>-lock" holding a
// lease record. It is taken with a compare-and-swap that Secrets Manager
// gives us for free: PutSecretValue's ClientRequestToken is idempotent for
// the same value and fails with ResourceExistsException for a different one,
// so two runs that read the same free version and derive the same token from
// its VersionId cannot both win. CreateSecret (fails if it exists) covers the
// first run.
#include "core/base64.hpp"
#include "core/digest.hpp"
#include "secrets/lease.hpp"
#include "secrets/secretsmanager_api.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;
using detail::k_exists;
using nlohmann::json;

// A ClientRequestToken that every run reading version `version_id` derives
// alike (UUID-shaped, 36 characters; the API wants 32 to 64).
std::string token_after(const std::string& version_id) {
    const auto hex = core::hex_encode(core::sha256("renewer-lease-after:" + version_id)).substr(0, 32);
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
           hex.substr(20);
}

class SecretsManagerLocker final : public Locker {
public:
    SecretsManagerLocker(std::shared_ptr<detail::SecretsManagerApi> api, std::string secret_id)
        : api_(std::move(api)), secret_id_(std::move(secret_id)), lock_id_(detail::base_name(secret_id_) + "-lock") {}

    core::Result<Lease> try_acquire(const std::string& owner, std::chrono::seconds ttl) override {
        const auto record = detail::new_lease(owner, ttl);
        const auto text = detail::lease_to_json(record);
        TRY_ASSIGN(auto current, get_value(lock_id_, Stage::current));
        if (!current) {
            json body = {{"Name", lock_id_},
                         {"SecretString", text},
                         {"ClientRequestToken", detail::uuid_v4()},
                         {"Description", "renewer lease for " + secret_id_}};
            api_->add_create_options(body, detail::KmsKey::omit);
            auto created = call("CreateSecret", body);
            if (created.ok()) {
                return detail::to_lease(record);
            }
            if (created.error().code != k_exists) {
                return created.error().wrap("aws-sm:" + lock_id_ + " CreateSecret");
            }
            return lost_race(record);
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
        return lost_race(record);
    }

    core::Result<Lease> renew(const Lease& lease, std::chrono::seconds ttl) override {
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

    core::Status release(const Lease& lease) override {
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

    // One GetSecretValue of NAME-lock; a missing lock secret is a free lease.
    core::Result<std::optional<Lease>> peek() override {
        TRY_ASSIGN(auto current, get_value(lock_id_, Stage::current));
        if (!current) {
            return std::optional<Lease>();
        }
        const auto held = detail::lease_from_json(current->text);
        if (!held || detail::lease_is_free(*held, std::chrono::system_clock::now())) {
            return std::optional<Lease>();
        }
        return std::optional<Lease>(detail::to_lease(*held));
    }

private:
    // The write failed as "exists": someone else's write landed between our
    // read and our swap, and we report them. Or our own did: the client
    // retries a call whose answer was lost (a dropped connection after
    // Secrets Manager carried it out), and the retry of CreateSecret finds
    // the secret it made. The token is random per acquisition, so a record
    // with ours is our lease, never "locked by" ourselves.
    core::Result<Lease> lost_race(const detail::LeaseRecord& ours) {
        TRY_ASSIGN(auto current, get_value(lock_id_, Stage::current));
        if (current) {
            if (auto held = detail::lease_from_json(current->text)) {
                if (held->token == ours.token) {
                    return detail::to_lease(*held);
                }
                return detail::lease_conflict(*held, describe());
            }
        }
        auto error = make_error(ErrorKind::conflict, describe() + ": another run took the lock first");
        error.code = "LockHeld";
        return error;
    }

    core::Result<json> call(std::string_view action, const json& body) { return api_->call(action, body); }
    core::Result<std::optional<detail::SecretValue>> get_value(const std::string& id, Stage stage) {
        return api_->get_value(id, stage);
    }

    std::shared_ptr<detail::SecretsManagerApi> api_;
    std::string secret_id_;
    std::string lock_id_;
};

}  // namespace

namespace detail {

std::unique_ptr<Locker> make_secretsmanager_locker(std::shared_ptr<SecretsManagerApi> api, std::string secret_id) {
    return std::make_unique<SecretsManagerLocker>(std::move(api), std::move(secret_id));
}

}  // namespace detail
}  // namespace secrets
