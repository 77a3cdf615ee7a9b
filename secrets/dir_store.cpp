// The directory store: what certbot users expect to find, plus the bundle.
//
//   fullchain.pem (0644)  chain.pem (0644)  privkey.pem (0600): links into
//     live/, one version folder (.v-N) switched in one rename, so a reader
//     never pairs a new key with an old certificate (core/live_files.hpp)
//   bundle.json (0600, the source of truth; holds the key)
//   bundle.previous.json (0600, Stage::previous)
//   account.json (0600, unless StoreConfig::account names another file)
//   .renewer.lock (0600, the lease; dir_locker.cpp)
//   <kind>.json (0600, notes: Store::put_note, e.g. replace-owed.json)
//
// Every other file is replaced atomically (core::write_file_atomic). put()
// writes bundle.json last: it is the commit point, so a crash part-way leaves
// the old bundle current and the next run converges. Only the run holding the
// lease writes here.
#include <algorithm>
#include <filesystem>

#include <sys/stat.h>

#include "core/atomic_file.hpp"
#include "core/live_files.hpp"
#include "core/log.hpp"
#include "core/unique_fd.hpp"
#include "secrets/lease.hpp"
#include "secrets/store.hpp"

namespace secrets {
namespace {

using core::ErrorKind;
using core::make_error;

constexpr mode_t k_public_mode = 0644;
constexpr mode_t k_secret_mode = 0600;
constexpr const char* k_fullchain = "fullchain.pem";
constexpr const char* k_privkey = "privkey.pem";
constexpr const char* k_chain = "chain.pem";
constexpr const char* k_bundle = "bundle.json";
constexpr const char* k_previous = "bundle.previous.json";
constexpr const char* k_account = "account.json";

// nullopt when the file is absent.
core::Result<std::optional<std::string>> read_optional(const std::string& path) {
    auto text = core::read_file(path);
    if (!text.ok()) {
        if (text.error().kind == ErrorKind::not_found) {
            return std::optional<std::string>();
        }
        return text.error();
    }
    return std::optional<std::string>(std::move(text).value());
}

// A folder list() reports: a real folder (not the live/ link, not a
// dot-folder such as .v-N) holding bundle.json or the certbot-style pair.
bool is_bundle_folder(const std::filesystem::directory_entry& entry) {
    std::error_code ec;
    if (entry.path().filename().string().starts_with(".") ||
        entry.symlink_status(ec).type() != std::filesystem::file_type::directory) {
        return false;
    }
    return std::filesystem::exists(entry.path() / k_bundle, ec) ||
           std::filesystem::exists(entry.path() / k_fullchain, ec);
}

class DirStore final : public Store {
public:
    DirStore(std::string dir, std::string account_path)
        : dir_(std::move(dir)), account_path_(std::move(account_path)) {}

    core::Result<std::optional<Bundle>> get(Stage stage) override {
        if (stage == Stage::previous) {
            TRY_ASSIGN(auto text, read_optional(path(k_previous)));
            if (!text) {
                return std::optional<Bundle>();
            }
            return parse_at(*text, path(k_previous));
        }
        TRY_ASSIGN(auto text, read_optional(path(k_bundle)));
        if (text) {
            return parse_at(*text, path(k_bundle));
        }
        return from_pem_files();
    }

    core::Status put(const Bundle& bundle) override {
        TRY(detail::make_dirs(dir_));
        // A writer killed mid-put left temp files (one may hold the key) or
        // an unfinished version folder.
        core::remove_stale_temp_files(dir_);
        core::sweep_live_versions(dir_);
        const auto json = to_json(bundle);
        TRY_ASSIGN(auto existing, read_optional(path(k_bundle)));
        if (existing && *existing == json) {
            return {};  // already current: a retried put after a crash
        }
        std::optional<std::string> old_json = existing;
        if (!old_json) {
            // A folder certbot-style tools filled: its PEM files are the current version.
            TRY_ASSIGN(auto reconstructed, from_pem_files());
            if (reconstructed) {
                old_json = to_json(*reconstructed);
            }
        }
        if (old_json) {
            // Same serial = the same certificate re-put (metadata only): keep the real previous.
            const auto old = parse_bundle(*old_json);
            if (!old.ok() || old->serial.empty() || old->serial != bundle.serial) {
                TRY(write(k_previous, *old_json, k_secret_mode));
            }
        }
        std::string chain = bundle.chain;
        if (chain.empty()) {
            if (auto derived = intermediates_pem(bundle.certificate); derived.ok()) {
                chain = std::move(derived).value();
            }
        }
        std::vector<core::LiveFile> pems = {{k_privkey, bundle.private_key, k_secret_mode, {}, {}},
                                            {k_chain, chain, k_public_mode, {}, {}},
                                            {k_fullchain, bundle.certificate, k_public_mode, {}, {}}};
        if (auto published = core::publish_live_files(dir_, pems); !published.ok()) {
            return published.error().wrap("dir store");
        }
        return write(k_bundle, json, k_secret_mode);
    }

    core::Result<std::optional<std::string>> get_account() override { return read_optional(account_path_); }

    core::Status put_account(std::string_view account_json) override {
        TRY(detail::make_dirs(std::filesystem::path(account_path_).parent_path().string()));
        core::FileOptions options;
        options.mode = k_secret_mode;
        auto written = core::write_file_atomic(account_path_, account_json, options);
        if (!written.ok()) {
            return written.error().wrap("dir store: account");
        }
        return {};
    }

    core::Result<std::optional<std::string>> get_note(std::string_view kind) override {
        return read_optional(note_path(kind));
    }

    core::Status put_note(std::string_view kind, std::string_view json_text) override {
        TRY(detail::make_dirs(dir_));
        core::FileOptions options;
        options.mode = k_secret_mode;
        auto written = core::write_file_atomic(note_path(kind), json_text, options);
        if (!written.ok()) {
            return written.error().wrap("dir store: note");
        }
        return {};
    }

    std::string describe() const override { return "dir:" + dir_; }

    core::Result<std::vector<Listing>> list(std::string_view prefix) override {
        std::error_code ec;
        std::filesystem::directory_iterator it(dir_, ec);
        if (ec) {
            return make_error(ec == std::errc::no_such_file_or_directory ? ErrorKind::not_found : ErrorKind::io,
                              "dir store: cannot list " + dir_ + ": " + ec.message());
        }
        std::vector<Listing> found;
        for (const auto& entry : it) {
            const auto name = entry.path().filename().string();
            if (name.starts_with(prefix) && is_bundle_folder(entry)) {
                found.push_back({name, "dir:" + entry.path().string(), {}});
            }
        }
        std::sort(found.begin(), found.end(), [](const Listing& a, const Listing& b) { return a.name < b.name; });
        return found;
    }

    core::Result<std::unique_ptr<Store>> open(std::string_view name) override {
        const auto sub = std::filesystem::path(dir_) / name;
        return std::unique_ptr<Store>(std::make_unique<DirStore>(sub.string(), (sub / k_account).string()));
    }

private:
    std::string path(const char* name) const { return (std::filesystem::path(dir_) / name).string(); }
    std::string note_path(std::string_view kind) const {
        return (std::filesystem::path(dir_) / (std::string(kind) + ".json")).string();
    }

    core::Result<std::optional<Bundle>> parse_at(const std::string& text, const std::string& where) const {
        auto bundle = parse_bundle(text);
        if (!bundle.ok()) {
            return bundle.error().wrap(where);
        }
        return std::optional<Bundle>(std::move(bundle).value());
    }

    // A bundle rebuilt from fullchain.pem + privkey.pem when bundle.json is
    // absent (a folder filled by certbot or by hand); nullopt when either is
    // missing. Both from one version when they are links into live/.
    core::Result<std::optional<Bundle>> from_pem_files() const {
        TRY_ASSIGN(auto pems, core::read_live_files(dir_, {k_fullchain, k_privkey}));
        if (pems.size() != 2) {
            return std::optional<Bundle>();
        }
        const auto& fullchain = pems.at(k_fullchain);
        const auto& key = pems.at(k_privkey);
        struct stat st {};
        core::SystemTime renewed = std::chrono::system_clock::now();
        if (::stat(path(k_fullchain).c_str(), &st) == 0) {
            renewed = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
        }
        auto bundle = build_bundle(fullchain, key, "", renewed);
        if (!bundle.ok()) {
            return bundle.error().wrap(dir_);
        }
        return std::optional<Bundle>(std::move(bundle).value());
    }

    core::Status write(const char* name, std::string_view content, mode_t mode) const {
        core::FileOptions options;
        options.mode = mode;
        auto written = core::write_file_atomic(path(name), content, options);
        if (!written.ok()) {
            return written.error().wrap("dir store");
        }
        return {};
    }

    std::string dir_;
    std::string account_path_;
};

}  // namespace

core::Result<StoreWithLocker> make_dir_store_with_locker(const std::string& path, const StoreConfig& config) {
    if (path.empty()) {
        return make_error(ErrorKind::invalid_input, "dir store: the folder path is empty");
    }
    std::string account = config.account;
    if (account.empty()) {
        account = (std::filesystem::path(path) / k_account).string();
    }
    return StoreWithLocker{std::make_unique<DirStore>(path, account), detail::make_dir_locker(path)};
}

core::Result<std::unique_ptr<Store>> make_dir_store(const std::string& path, const StoreConfig& config) {
    TRY_ASSIGN(auto both, make_dir_store_with_locker(path, config));
    return std::move(both.store);
}

}  // namespace secrets
