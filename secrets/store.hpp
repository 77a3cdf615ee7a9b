// secrets::Store: where a certificate bundle lives, with versions (the
// current one and the one before it), plus the ACME account record. The
// lease that keeps two runs from ordering the same certificate is the
// store's Locker (locker.hpp).
//
// One small interface, one file per implementation, and this header exposes
// only factories: make_store() picks one by the spec's scheme from a
// name-to-factory table.
//
//   aws-sm:NAME_OR_ARN  (alias secretsmanager:NAME_OR_ARN)   secretsmanager_store.cpp
//   dir:/path/to/folder                                       dir_store.cpp
//   dynamodb:TABLE/KEY                                        dynamodb_store.cpp
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/retry.hpp"
#include "core/x509.hpp"
#include "secrets/bundle.hpp"
#include "secrets/locker.hpp"

namespace aws {
struct ClientSettings;
}

namespace secrets {

// Secrets Manager's staging labels AWSCURRENT / AWSPREVIOUS; the directory
// store keeps bundle.json / bundle.previous.json.
enum class Stage { current, previous };
const char* to_string(Stage stage);

// One certificate bundle found by Store::list().
struct Listing {
    // Its key below the listed location: the secret name after the store's
    // prefix ("customers/" + "shop.example" -> "shop.example"), the folder name.
    std::string name;
    std::string spec;  // make_store() opens it from this
    // Changes whenever the current bundle does, so a reader that kept it can
    // skip reading an unchanged bundle: Secrets Manager, AWSCURRENT's
    // VersionId (from the same ListSecrets page). Empty = unknown: read it.
    std::string version;
};

struct ReadAhead;

// A Store is used by one thread at a time (the Secrets Manager store owns one
// aws::Client, which owns one connection); make one per worker.
class Store {
public:
    virtual ~Store() = default;
    Store() = default;
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // The bundle at `stage`, or nullopt when there is none (no secret yet, no
    // previous version). The bundle is parsed (parse_bundle) but not verified:
    // callers decide (verify_bundle) what they accept.
    virtual core::Result<std::optional<Bundle>> get(Stage stage = Stage::current) = 0;

    // Stores `bundle` as the new current version; the old current becomes the
    // previous one. Creates the secret/folder when absent. Idempotent: putting
    // the bundle that is already current changes nothing.
    virtual core::Status put(const Bundle& bundle) = 0;

    // The ACME account record: an opaque JSON text (account key PEM + URL),
    // owned by acme/. nullopt when none was stored yet.
    virtual core::Result<std::optional<std::string>> get_account() = 0;
    virtual core::Status put_account(std::string_view account_json) = 0;

    // A small JSON note kept beside the bundle, outside its versions (writing
    // one never moves AWSPREVIOUS), e.g. a replacement still owed
    // (docs/replacement.md). Secrets Manager: the secret "<name>-<kind>"; a
    // folder: the file "<kind>.json". nullopt when none was written yet.
    virtual core::Result<std::optional<std::string>> get_note(std::string_view kind) = 0;
    virtual core::Status put_note(std::string_view kind, std::string_view json_text) = 0;

    // For logs and summaries: "aws-sm:name" / "dir:/path". Never secret.
    virtual std::string describe() const = 0;

    // Every certificate bundle kept under this store's location whose key
    // continues with `prefix`, sorted by name: what `certfetch --all` fetches
    // (docs/customer-domains.md). The store's target is read as a location:
    //   aws-sm:customers/  the secrets named "customers/<prefix>..." in this
    //                      store's account and region (ListSecrets with a name
    //                      filter, every page)
    //   dir:/srv/certs     the folders "/srv/certs/<prefix>..." holding a
    //                      bundle (bundle.json, or fullchain.pem + privkey.pem)
    // Never the side records of a bundle: leases ("-lock", .renewer.lock),
    // account records ("-account", account.json) and notes ("-replace-owed").
    // Bundles are not read here: a bad one is found when its store is read.
    // A store that cannot list says so (ErrorKind::invalid_input).
    virtual core::Result<std::vector<Listing>> list(std::string_view prefix);

    // The store of one Listing::name of list(), sharing this store's
    // connection and credentials (no new client per name): use it on this
    // store's thread. A store that cannot list: ErrorKind::invalid_input.
    virtual core::Result<std::unique_ptr<Store>> open(std::string_view name);

    // Batch reads, for read_ahead() below. Stores that one call can read
    // together answer the same non-empty family (DynamoDB: region and
    // table); empty, the default: this store reads one item at a time.
    virtual std::string batch_family() const { return {}; }
    // Reads ahead for every request of `family` (all of this store's family,
    // this one included) what read_ahead() describes. The default reads nothing.
    virtual void read_family_ahead(std::span<const ReadAhead> family, const core::Deadline& deadline);
};

// What read_ahead() reads for one store: its current bundle and these notes.
struct ReadAhead {
    Store* store = nullptr;
    std::vector<std::string> note_kinds;
};

// Reads the current bundle and the notes asked for of every store of
// `requests` before their own get(Stage::current) / get_note() calls, in as
// few calls as the stores allow (DynamoDB: BatchGetItem, 100 items a call,
// docs/stores.md#reading-many-certificates), giving up at `deadline`. Each
// store answers its next such read once from what was read ahead, then reads
// the store again (a read under a lease must see the latest write). Nothing
// is reported here: what could not be read ahead (an error, the deadline) is
// read by the store itself as without read_ahead(), which reports what it
// finds. Stores that cannot batch are left as they are.
void read_ahead(std::span<const ReadAhead> requests, const core::Deadline& deadline);

// Knobs shared by the stores; each ignores what does not apply to it.
struct StoreConfig {
    // Secrets Manager: the AWS client's region, credentials, endpoint, retry.
    // Null = defaults (region and credentials from the environment, default chain).
    std::shared_ptr<const aws::ClientSettings> aws;
    std::string kms_key_id;                                 // CreateSecret KmsKeyId; empty = the account's default key
    std::string description;                                // CreateSecret Description
    std::vector<std::pair<std::string, std::string>> tags;  // CreateSecret Tags
    // Where the ACME account record lives. Secrets Manager: a secret name,
    // default "<name>-account". Directory: a file path, default "<dir>/account.json".
    // DynamoDB: the account item's pk, default "_account" (one per table).
    std::string account;
    // Secrets Manager: keep the leases as items of this DynamoDB table
    // (dynamodb_locker.cpp) instead of one "<name>-lock" secret per certificate.
    std::string lease_table;
};

// Secrets Manager's SecretString limit (PutSecretValue / CreateSecret): 65536 bytes.
inline constexpr std::size_t k_secret_string_limit = 65536;

// Spec "scheme:rest" -> a store. ErrorKind::invalid_input for an unknown
// scheme or an empty rest, with the known schemes in the message.
core::Result<std::unique_ptr<Store>> make_store(std::string_view spec, const StoreConfig& config = {});

// A store and the locker that guards it, for one spec (the run needs both).
struct StoreWithLocker {
    std::unique_ptr<Store> store;
    std::unique_ptr<Locker> locker;
};
core::Result<StoreWithLocker> make_store_with_locker(std::string_view spec, const StoreConfig& config = {});

// The factories behind the table (tests and callers with a parsed config).
core::Result<std::unique_ptr<Store>> make_dir_store(const std::string& path, const StoreConfig& config = {});
core::Result<std::unique_ptr<Store>> make_secretsmanager_store(const std::string& secret_id,
                                                               const StoreConfig& config = {});
core::Result<StoreWithLocker> make_dir_store_with_locker(const std::string& path, const StoreConfig& config = {});
core::Result<StoreWithLocker> make_secretsmanager_store_with_locker(const std::string& secret_id,
                                                                    const StoreConfig& config = {});
// "TABLE/KEY": the certificate KEY's items in DynamoDB table TABLE.
core::Result<StoreWithLocker> make_dynamodb_store_with_locker(const std::string& target,
                                                              const StoreConfig& config = {});

}  // namespace secrets
