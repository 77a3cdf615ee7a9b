#include "renewer/certfetch_all.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "aws/client.hpp"
#include "core/atomic_file.hpp"
#include "core/live_files.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "renewer/certfetch_lock.hpp"
#include "renewer/certfetch_parts.hpp"
#include "renewer/exit_codes.hpp"

namespace renewer::certfetch {
namespace {

using core::ErrorKind;

// The error line of a run of --all, and its exit code.
int fail_all(const std::string& message) {
    core::log::error("certfetch --all: " + message);
    return k_exit_failed;
}

// The folder name is what nginx looks up ($ssl_server_name, lower case in
// practice: RFC 6066 §3 host names): a lower-case host name, never a path.
std::string folder_name_problem(const std::string& name) {
    if (name.empty() || name.size() > 253) {
        return "is not a host name (empty or longer than 253 characters)";
    }
    if (name.front() == '.' || name.find("..") != std::string::npos) {
        return "is not a host name (empty label)";
    }
    const bool ok = std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*' || c == '_';
    });
    return ok ? "" : "is not a lower-case host name usable as a folder name";
}

// A folder per name already (not only our lock and marker files).
bool has_name_folders(const std::string& out_dir) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(out_dir, ec)) {
        if (!entry.path().filename().string().starts_with(".") && entry.is_directory(ec)) {
            return true;
        }
    }
    return false;
}

// The listing, retried with backoff for --retry-for while it cannot be read
// and no name has a folder yet (a fresh host at boot, as run() does).
core::Result<std::vector<secrets::Listing>> list_with_retry(secrets::Store& store, const Options& options,
                                                            const std::string& prefix) {
    const auto deadline = core::Deadline::after(options.retry_for);
    core::RetryPolicy policy;
    policy.base_delay = std::chrono::seconds(1);
    policy.max_delay = std::chrono::seconds(20);
    for (int retry = 0;; ++retry) {
        auto listed = store.list(prefix);
        if (listed.ok() || listed.error().kind == ErrorKind::invalid_input || has_name_folders(options.out_dir) ||
            deadline.expired()) {
            return listed;
        }
        core::log::warn("certfetch --all: " + listed.error().message + "; retrying (--retry-for " +
                            std::to_string(options.retry_for.count()) + " s)",
                        {{"attempt", std::to_string(retry + 1)}});
        const auto window = core::backoff_delay(policy, retry) / 2 + policy.base_delay / 2;
        if (!core::sleep_for(window, deadline).ok() && core::cancelled()) {
            return listed;
        }
    }
}

enum class Fate { written, unchanged, skipped };

// OUT/NAME/.certfetch-version: the store's version (secrets::Listing::version)
// whose bundle the folder serves. A listing with the same version needs no
// read of the bundle: a run where nothing changed costs the listing alone
// (ListSecrets, 100 names a call), not one GetSecretValue per name.
constexpr const char* k_version_file = ".certfetch-version";

// The version and the options that shape the files (a changed --mode,
// --owner or --group is applied by reading the bundle again).
std::string stamp_text(const secrets::Listing& entry, const Options& options) {
    const auto id = [](const auto& value) { return value ? std::to_string(*value) : std::string("-"); };
    return entry.version + " mode=" + std::to_string(options.key_mode) + " owner=" + id(options.owner) +
           " group=" + id(options.group) + "\n";
}

bool same_version(const secrets::Listing& entry, const Options& one, const std::string& stamp) {
    if (entry.version.empty()) {
        return false;
    }
    auto kept = core::read_file(stamp);
    if (!kept.ok() || *kept != stamp_text(entry, one)) {
        return false;
    }
    // The files must still be there (not removed by hand since).
    auto files = core::read_live_files(one.out_dir, {k_fullchain_file, k_privkey_file});
    return files.ok() && files->size() == 2;
}

// The stamp is written (temp file and rename) without fsync: it is a hint
// that saves a read, written after publish_live_files() made the files and
// their switch durable, so a stamp that survives a crash never names files
// newer than those on disk, and one a crash lost or left empty differs from
// stamp_text(): the bundle is read again (docs/customer-domains.md). Two
// fsyncs per name saved, a fifth of a first fill's fsyncs.
core::Status write_stamp(const std::string& stamp, const std::string& text) {
    const std::string temp = stamp + ".tmp";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return core::make_error(ErrorKind::io, "cannot write " + temp + ": " + std::strerror(errno));
    }
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    const bool closed = ::close(fd) == 0;
    if (!written || !closed || ::rename(temp.c_str(), stamp.c_str()) != 0) {
        const int err = errno;
        ::unlink(temp.c_str());
        return core::make_error(ErrorKind::io, "cannot write " + stamp + ": " + std::strerror(err));
    }
    return {};
}

// Only when the current version is what the folder serves: after a fallback
// to AWSPREVIOUS the next run reads (and reports) the bad current one again.
void remember_version(const secrets::Listing& entry, const Options& one, const std::string& stamp, bool current) {
    if (!current || entry.version.empty()) {
        ::unlink(stamp.c_str());
        return;
    }
    if (auto written = write_stamp(stamp, stamp_text(entry, one)); !written.ok()) {
        core::log::warn("certfetch --all: " + written.error().message);
    }
}

// OUT's reload-owed marker (k_reload_marker), written once per run before the
// first folder may switch, not once per folder: one marker covers them all
// (a run killed after any switch still owes nginx its reload), and each
// write cost two fsyncs on the folder every worker writes in.
class ReloadMarker {
public:
    explicit ReloadMarker(std::string path) : path_(std::move(path)), existed_(!path_.empty() && exists(path_)) {}

    void before_switch() {
        std::call_once(once_, [this] {
            if (path_.empty() || existed_) {
                return;
            }
            if (auto marked = core::write_file_atomic(path_, "", {}); !marked.ok()) {
                core::log::warn("certfetch --all: " + marked.error().message);
            }
            written_ = true;
        });
    }

    // No folder changed: a marker this run wrote owes nothing.
    void unchanged() const {
        if (written_) {
            ::unlink(path_.c_str());
        }
    }

private:
    static bool exists(const std::string& path) {
        std::error_code ec;
        return std::filesystem::exists(path, ec);
    }

    std::string path_;
    bool existed_;
    bool written_ = false;
    std::once_flag once_;
};

struct Tally {
    std::mutex mutex;
    int written = 0;
    int unchanged = 0;
    std::vector<std::string> skipped;

    void add(Fate fate, const std::string& name) {
        switch (fate) {
            case Fate::written: ++written; break;
            case Fate::unchanged: ++unchanged; break;
            case Fate::skipped: skipped.push_back(name); break;
        }
    }
};

// One name into OUT/NAME through `store` (the worker's connection); never
// stops the others.
Fate fetch_one(secrets::Store& location, const secrets::Listing& entry, const Options& options, ReloadMarker& marker) {
    const auto skip = [&](const std::string& why) {
        core::log::error("certfetch --all: skipped " + entry.name + ": " + why, {{"source", entry.spec}});
        return Fate::skipped;
    };
    if (auto problem = folder_name_problem(entry.name); !problem.empty()) {
        return skip("the name " + problem);
    }
    Options one = options;
    one.out_dir = (std::filesystem::path(options.out_dir) / entry.name).string();
    one.expect_name = entry.name;
    one.reload.clear();
    std::error_code ec;
    const bool fresh = std::filesystem::create_directories(one.out_dir, ec);
    if (ec) {
        return skip("cannot create " + one.out_dir + ": " + ec.message());
    }
    const auto stamp = (std::filesystem::path(one.out_dir) / k_version_file).string();
    if (same_version(entry, one, stamp)) {
        return Fate::unchanged;
    }
    auto store = location.open(entry.name);
    if (!store.ok()) {
        return skip(store.error().message);
    }
    if (!fresh) {
        detail::sweep_folder(one.out_dir);  // a folder made just now holds nothing a killed run left
    }
    marker.before_switch();
    auto fetched = detail::fetch_into(**store, one, "");
    if (!fetched.ok()) {
        return skip(fetched.error().message + "; files in " + one.out_dir + " left unchanged");
    }
    remember_version(entry, one, stamp, fetched->current);
    core::log::Fields fields = {{"name", entry.name}, {"source", entry.spec}, {"serial", fetched->serial}};
    if (fetched->files.empty()) {
        core::log::debug("certfetch --all: certificate unchanged", fields);
        return Fate::unchanged;
    }
    fields.emplace_back("files", fetched->files);
    core::log::info("certfetch --all: certificate written", fields);
    return Fate::written;
}

// `workers` threads, each with its own connection (a store of `spec`: a
// Store is used by one thread at a time), take the names in order. Real
// Secrets Manager answers in tens of milliseconds, so 1,000 names one after
// the other would take most of a minute (docs/customer-domains.md).
void fetch_all(const std::string& spec, const std::vector<secrets::Listing>& listed, const Options& options,
               ReloadMarker& marker, int workers, Tally& tally) {
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
        auto location = secrets::make_store(spec, options.store_config);
        for (std::size_t i = next++; i < listed.size(); i = next++) {
            if (!location.ok()) {
                core::log::error("certfetch --all: skipped " + listed[i].name + ": " + location.error().message);
            }
            const auto fate = location.ok() ? fetch_one(**location, listed[i], options, marker) : Fate::skipped;
            const std::lock_guard lock(tally.mutex);
            tally.add(fate, listed[i].name);
        }
    };
    std::vector<std::jthread> threads;
    const auto count = std::min<std::size_t>(static_cast<std::size_t>(std::max(workers, 1)), listed.size());
    for (std::size_t t = 1; t < count; ++t) {
        threads.emplace_back(work);
    }
    work();
}

// One credentials chain for every worker's client (it is thread-safe and
// caches): on EC2 one IMDS fetch, not one per worker.
Options with_shared_credentials(Options options) {
    if (!options.store_config.aws) {
        auto settings = std::make_shared<aws::ClientSettings>();
        settings->credentials = aws::default_credentials_chain();
        options.store_config.aws = std::move(settings);
    }
    return options;
}

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& name : names) {
        out += (out.empty() ? "" : ",") + name;
    }
    return out;
}

}  // namespace

int run_all(const Options& options, const std::string& prefix, int workers) {
    if (options.out_dir.empty() || options.secret_id.empty() == options.store.empty()) {
        core::log::error("certfetch --all: give --out and exactly one of --secret-id PREFIX or --store SPEC");
        return k_exit_bad_config;
    }
    const std::string spec = options.store.empty() ? "aws-sm:" + options.secret_id : options.store;
    const auto shared = with_shared_credentials(options);
    auto store = secrets::make_store(spec, shared.store_config);
    if (!store.ok()) {
        core::log::error("certfetch --all: " + store.error().message);
        return store.error().kind == ErrorKind::invalid_input ? k_exit_bad_config : k_exit_failed;
    }
    std::error_code ec;
    std::filesystem::create_directories(options.out_dir, ec);
    if (ec) {
        return fail_all("cannot create " + options.out_dir + ": " + ec.message());
    }
    auto lock = lock_out_dir(options.out_dir, options.lock_wait);
    if (!lock.ok()) {
        return fail_all(lock.error().message + "; files in " + options.out_dir + " left unchanged");
    }
    auto listed = list_with_retry(**store, options, prefix);
    if (!listed.ok()) {
        const int code = fail_all(listed.error().message + "; files in " + options.out_dir + " left unchanged");
        return listed.error().kind == ErrorKind::invalid_input ? k_exit_bad_config : code;
    }
    ReloadMarker marker(options.reload.empty() ? ""
                                               : (std::filesystem::path(options.out_dir) / k_reload_marker).string());
    Tally tally;
    fetch_all(spec, *listed, shared, marker, workers, tally);
    if (tally.written == 0) {
        marker.unchanged();
    }
    core::log::Fields summary = {{"source", (*store)->describe() + prefix},
                                 {"listed", std::to_string(listed->size())},
                                 {"written", std::to_string(tally.written)},
                                 {"unchanged", std::to_string(tally.unchanged)},
                                 {"skipped", std::to_string(tally.skipped.size())}};
    if (!tally.skipped.empty()) {
        summary.emplace_back("skipped_names", joined(tally.skipped));
    }
    core::log::info("certfetch --all: done", summary);
    const int reloaded = detail::reload_once(options, tally.written > 0);
    if (reloaded != k_exit_ok) {
        return reloaded;
    }
    return tally.skipped.empty() ? k_exit_ok : k_exit_failed;
}

}  // namespace renewer::certfetch
