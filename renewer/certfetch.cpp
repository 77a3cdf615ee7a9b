#include "renewer/certfetch.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.hpp"
#include "core/child_env.hpp"
#include "core/live_files.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "core/subprocess.hpp"
#include "renewer/certfetch_lock.hpp"
#include "renewer/certfetch_parts.hpp"
#include "renewer/exit_codes.hpp"
#include "secrets/bundle.hpp"

namespace renewer::certfetch {
namespace {

using core::ErrorKind;
using core::make_error;

constexpr mode_t k_cert_mode = 0644;

std::string with_newline(std::string text) {
    if (!text.empty() && text.back() != '\n') {
        text.push_back('\n');
    }
    return text;
}

std::string join(const std::string& dir, const std::string& name) {
    return (std::filesystem::path(dir) / name).string();
}

core::Error io_error(const std::string& what, const std::string& path, int err) {
    return make_error(ErrorKind::io, what + " " + path + ": " + std::strerror(err));
}

const std::vector<std::string>& file_names() {
    static const std::vector<std::string> names = {k_privkey_file, k_chain_file, k_fullchain_file};
    return names;
}

// What a stage holds and whether it can be served; `why` when it cannot.
struct Candidate {
    std::optional<secrets::Bundle> bundle;
    std::string why;
    // The store could not be read (network, credentials, throttling after
    // retries): not a reason to serve an older version.
    bool fetch_failed = false;
    bool absent = false;  // the store holds no such version
};

Candidate load(secrets::Store& store, secrets::Stage stage, const secrets::VerifyOptions& verify) {
    Candidate c;
    auto got = store.get(stage);
    if (!got.ok()) {
        c.why = got.error().message;
        c.fetch_failed = got.error().kind != ErrorKind::invalid_input;
        return c;
    }
    if (!got->has_value()) {
        c.absent = true;
        c.why = std::string("there is no ") + secrets::to_string(stage) + " version";
        return c;
    }
    if (auto verified = secrets::verify_bundle(**got, verify); !verified.ok()) {
        c.why = verified.error().message;
        return c;
    }
    c.bundle = std::move(**got);
    return c;
}

// The bundle readers get from the folder now, if it is whole and still servable.
std::optional<secrets::Bundle> on_disk(const std::string& dir, const secrets::VerifyOptions& verify) {
    auto files = core::read_live_files(dir, {k_fullchain_file, k_privkey_file});
    if (!files.ok() || files->size() != 2) {
        return std::nullopt;
    }
    auto bundle = secrets::build_bundle(files->at(k_fullchain_file), files->at(k_privkey_file), "",
                                        std::chrono::system_clock::now());
    if (!bundle.ok() || !secrets::verify_bundle(*bundle, verify).ok()) {
        return std::nullopt;
    }
    return std::move(bundle).value();
}

// From the leaf itself: a bundle written by another tool may lack `not_after`.
std::optional<core::SystemTime> leaf_not_after(const secrets::Bundle& bundle) {
    auto leaf = core::Certificate::from_pem(bundle.certificate);
    if (!leaf.ok()) {
        return std::nullopt;
    }
    return leaf->info().not_after;
}

// Content equal: fix mode/owner in place when they drifted (no rewrite, so the
// mtime stays and nothing needs a reload). The path leads into the live version.
core::Status fix_metadata(const Options& options, const core::LiveFile& file) {
    const auto path = join(options.out_dir, file.name);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return io_error("cannot stat", path, errno);
    }
    if ((st.st_mode & 07777) != file.mode) {
        if (::chmod(path.c_str(), file.mode) != 0) {
            return io_error("cannot chmod", path, errno);
        }
    }
    const bool owner_differs = options.owner && st.st_uid != *options.owner;
    const bool group_differs = options.group && st.st_gid != *options.group;
    if (owner_differs || group_differs) {
        if (::chown(path.c_str(), options.owner.value_or(static_cast<uid_t>(-1)),
                    options.group.value_or(static_cast<gid_t>(-1))) != 0) {
            return io_error("cannot chown", path, errno);
        }
    }
    return {};
}

// Leftovers of a certfetch killed part-way (we hold the folder's lock, so no
// writer is alive): temp files of older releases (".NAME.pem.certfetch-XXXXXX",
// one may hold the key), write_file_atomic temps, unfinished versions.
void sweep(const std::string& dir) {
    int removed = core::remove_stale_temp_files(dir) + core::sweep_live_versions(dir);
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        const auto name = entry.path().filename().string();
        std::error_code rm;
        if (name.starts_with(".") && name.find(".pem.certfetch-") != std::string::npos && entry.is_regular_file(rm) &&
            std::filesystem::remove(entry.path(), rm)) {
            ++removed;
        }
    }
    if (removed > 0) {
        core::log::info("certfetch: removed what a killed certfetch left",
                        {{"dir", dir}, {"entries", std::to_string(removed)}});
    }
}

// Runs the operator's reload command through /bin/sh -c (it is their own
// shell text). The child gets our environment (without our AWS credentials
// and other secrets, core::child_environment) plus the file paths; never the
// key itself, in argv or env. A reload that hangs is stopped after
// --reload-timeout (its whole process group), so certfetch's timer keeps
// firing.
// With --all (`one_certificate` false) only CERTFETCH_DIR: the files are one
// folder down, one folder per name.
core::Status run_reload(const Options& options, bool one_certificate) {
    core::SubprocessOptions reload;
    reload.argv = core::shell_argv(options.reload);
    reload.env = core::child_environment();
    reload.env.push_back("CERTFETCH_DIR=" + options.out_dir);
    if (one_certificate) {
        reload.env.push_back("CERTFETCH_FULLCHAIN=" + join(options.out_dir, k_fullchain_file));
        reload.env.push_back("CERTFETCH_PRIVKEY=" + join(options.out_dir, k_privkey_file));
        reload.env.push_back("CERTFETCH_CHAIN=" + join(options.out_dir, k_chain_file));
    }
    reload.timeout = options.reload_timeout;
    reload.on_line = [](std::string_view line) {
        core::log::info("certfetch: reload output", {{"line", std::string(line)}});
    };
    auto ran = core::run_subprocess(reload);
    if (!ran) {
        return make_error(ErrorKind::io, "cannot start the reload command: " + ran.error().message);
    }
    using End = core::SubprocessResult::End;
    switch (ran->end) {
        case End::exited:
            if (ran->exit_code == 0) {
                return {};
            }
            return make_error(ErrorKind::internal, "the reload command " + ran->describe());
        case End::signalled: return make_error(ErrorKind::internal, "the reload command was " + ran->describe());
        case End::timed_out:
            return make_error(ErrorKind::timeout, "the reload command did not finish within " +
                                                      std::to_string(options.reload_timeout.count()) +
                                                      " s (--reload-timeout); stopped");
        case End::cancelled: return make_error(ErrorKind::cancelled, "the reload command was stopped: cancelled");
    }
    return make_error(ErrorKind::internal, "the reload command " + ran->describe());
}

bool file_exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

int fail(const std::string& message) {
    core::log::error("certfetch: " + message);
    return k_exit_failed;
}

// What to serve, or why not. `keep_disk`: the files on disk (`bundle`) beat
// what the store offers (exit 0, nothing written).
struct Selection {
    std::optional<secrets::Bundle> bundle;
    bool keep_disk = false;
    bool transient = false;  // the store could not be read: worth retrying
    std::string error;
    bool previous = false;  // AWSCURRENT could not be served: AWSPREVIOUS (or the disk) won
};

Selection select(secrets::Store& store, const Options& options, const secrets::VerifyOptions& verify) {
    const auto where = store.describe();
    // AWSCURRENT first; AWSPREVIOUS only when the current one cannot be served.
    auto chosen = load(store, secrets::Stage::current, verify);
    if (!chosen.bundle && chosen.fetch_failed) {
        return {std::nullopt, false, true, "cannot read " + where + ": " + chosen.why};
    }
    if (chosen.bundle) {
        return {std::move(chosen.bundle), false, false, {}};
    }
    // Nothing stored at all (no secret, no folder): said in every store's
    // terms; a store without a current version has no previous one either.
    if (chosen.absent) {
        return {std::nullopt, false, false, "not found: " + where + " holds no certificate"};
    }
    const auto current_why = chosen.why;
    core::log::warn("certfetch: AWSCURRENT of " + where + " is unusable (" + current_why +
                    "); falling back to AWSPREVIOUS");
    chosen = load(store, secrets::Stage::previous, verify);
    if (!chosen.bundle) {
        return {std::nullopt, false, chosen.fetch_failed,
                "no usable certificate in " + where + ": AWSCURRENT: " + current_why + "; AWSPREVIOUS: " + chosen.why};
    }
    // Do not trade a good certificate already on disk for an older one.
    if (auto disk = on_disk(options.out_dir, verify); disk) {
        const auto disk_end = leaf_not_after(*disk);
        const auto prev_end = leaf_not_after(*chosen.bundle);
        if (disk_end && prev_end && *disk_end > *prev_end) {
            core::log::warn("certfetch: the files in " + options.out_dir +
                                " are newer than AWSPREVIOUS and still valid; leaving them",
                            {{"serial", disk->serial}});
            return {std::move(disk), true, false, {}, true};
        }
    }
    core::log::warn("certfetch: using AWSPREVIOUS of " + where, {{"serial", chosen.bundle->serial}});
    return {std::move(chosen.bundle), false, false, {}, true};
}

// select(), retried with backoff while the store cannot be read and nothing
// valid is on disk (a fresh instance at boot whose credentials or network are
// not ready yet): nginx would otherwise start without a certificate.
Selection select_with_retry(std::unique_ptr<secrets::Store> store, const std::string& spec, const Options& options,
                            const secrets::VerifyOptions& verify) {
    const auto deadline = core::Deadline::after(options.retry_for);
    core::RetryPolicy policy;
    policy.base_delay = std::chrono::seconds(1);
    policy.max_delay = std::chrono::seconds(20);
    for (int retry = 0;; ++retry) {
        auto selection = select(*store, options, verify);
        if (!selection.transient || deadline.expired() || on_disk(options.out_dir, verify)) {
            return selection;
        }
        // At least half the window: full jitter alone may retry at once.
        const auto window = core::backoff_delay(policy, retry) / 2 + policy.base_delay / 2;
        core::log::warn("certfetch: " + selection.error + "; no valid files in " + options.out_dir +
                            " yet, retrying (--retry-for " + std::to_string(options.retry_for.count()) + " s)",
                        {{"attempt", std::to_string(retry + 1)}});
        if (!core::sleep_for(window, deadline).ok() && core::cancelled()) {
            return selection;
        }
        // A fresh store: a new credentials chain and connection each attempt.
        auto fresh = secrets::make_store(spec, options.store_config);
        if (fresh.ok()) {
            store = std::move(fresh).value();
        }
    }
}

std::vector<core::LiveFile> files_of(const Options& options, const secrets::Bundle& bundle) {
    std::string chain = bundle.chain;
    if (chain.empty()) {
        if (auto derived = secrets::intermediates_pem(bundle.certificate); derived.ok()) {
            chain = std::move(derived).value();
        }
    }
    return {
        {k_privkey_file, with_newline(bundle.private_key), options.key_mode, options.owner, options.group},
        {k_chain_file, with_newline(chain), k_cert_mode, options.owner, options.group},
        {k_fullchain_file, with_newline(bundle.certificate), k_cert_mode, options.owner, options.group},
    };
}

// Writes `bundle` as the new live version when it differs from what readers
// get now (one switch: docs/architecture.md#crash-safety); fixes modes in
// place otherwise. Returns the names that changed, empty when none did.
// `marker`: the reload-owed file to create before the switch; empty = none.
core::Result<std::string> install(const Options& options, const secrets::Bundle& bundle, const std::string& marker) {
    const auto files = files_of(options, bundle);
    TRY_ASSIGN(auto now, core::read_live_files(options.out_dir, file_names()));
    std::string changed;
    for (const auto& file : files) {
        auto it = now.find(file.name);
        if (it == now.end() || it->second != file.content) {
            changed += (changed.empty() ? "" : ",") + file.name;
        }
    }
    if (changed.empty()) {
        TRY_ASSIGN(bool adopted, core::adopt_live_layout(options.out_dir, file_names()));
        if (adopted) {
            core::log::info("certfetch: moved the files under " + options.out_dir + "/live (same content)");
        }
        for (const auto& file : files) {
            TRY(fix_metadata(options, file));
        }
        return changed;
    }
    if (!marker.empty()) {
        // Written before the switch: if we die between it and the reload,
        // the next run still owes nginx a reload.
        if (auto marked = core::write_file_atomic(marker, "", {}); !marked.ok()) {
            core::log::warn("certfetch: " + marked.error().message);
        }
    }
    TRY_ASSIGN(auto version, core::publish_live_files(options.out_dir, files));
    core::log::debug("certfetch: live version", {{"version", version}});
    return changed;
}

int reload_if_owed(const Options& options, bool changed, bool one_certificate) {
    const auto marker = join(options.out_dir, k_reload_marker);
    if (options.reload.empty() || (!changed && !file_exists(marker))) {
        return k_exit_ok;
    }
    if (auto reloaded = run_reload(options, one_certificate); !reloaded.ok()) {
        core::log::error("certfetch: " + reloaded.error().message +
                         " (the files were written; the next run retries the reload)");
        return k_exit_reload_failed;
    }
    ::unlink(marker.c_str());
    core::log::info("certfetch: reload command succeeded");
    return k_exit_ok;
}

// The line that ends a run that serves a certificate names it (serial,
// notAfter, days left); within --warn-days of its notAfter it is a warning:
// the host is the last place a stuck renewal shows (docs/operations.md).
void log_served(const Options& options, const secrets::Bundle& bundle, const std::string& what,
                core::log::Fields fields) {
    const auto not_after = leaf_not_after(bundle);
    const auto now = options.now.value_or(std::chrono::system_clock::now());
    const auto days_left =
        not_after ? std::chrono::duration_cast<std::chrono::hours>(*not_after - now).count() / 24 : 0;
    fields.insert(fields.begin(), {{"dir", options.out_dir},
                                   {"serial", bundle.serial},
                                   {"not_after", not_after ? core::format_time(*not_after) : bundle.not_after},
                                   {"days_left", std::to_string(days_left)}});
    core::log::info("certfetch: " + what, fields);
    if (options.warn_days > 0 && not_after && days_left < options.warn_days) {
        core::log::warn(fmt::format("certfetch: the certificate served from {} expires in {} day(s), on {} "
                                    "(--warn-days {}): is its renewal failing?",
                                    options.out_dir, days_left, core::format_time(*not_after), options.warn_days),
                        {{"serial", bundle.serial}, {"days_left", std::to_string(days_left)}});
    }
}

int check_options(const Options& options) {
    if (options.out_dir.empty()) {
        core::log::error("certfetch: --out is required");
        return k_exit_bad_config;
    }
    if (options.secret_id.empty() == options.store.empty()) {
        core::log::error("certfetch: give exactly one of --secret-id or --store");
        return k_exit_bad_config;
    }
    return k_exit_ok;
}

}  // namespace

int run(const Options& options) {
    if (int bad = check_options(options); bad != k_exit_ok) {
        return bad;
    }
    const std::string spec = options.store.empty() ? "aws-sm:" + options.secret_id : options.store;
    auto store = secrets::make_store(spec, options.store_config);
    if (!store.ok()) {
        core::log::error("certfetch: " + store.error().message);
        return store.error().kind == ErrorKind::invalid_input ? k_exit_bad_config : k_exit_failed;
    }
    const auto where = (*store)->describe();
    std::error_code ec;
    std::filesystem::create_directories(options.out_dir, ec);
    if (ec) {
        return fail("cannot create " + options.out_dir + ": " + ec.message());
    }
    auto lock = lock_out_dir(options.out_dir, options.lock_wait);
    if (!lock.ok()) {
        return fail(lock.error().message + "; files in " + options.out_dir + " left unchanged");
    }
    sweep(options.out_dir);

    secrets::VerifyOptions verify;
    verify.expect_name = options.expect_name;
    verify.now = options.now;
    auto selection = select_with_retry(std::move(store).value(), spec, options, verify);
    if (selection.keep_disk) {
        log_served(options, *selection.bundle, "certificate kept", {{"source", options.out_dir}});
        return k_exit_ok;
    }
    if (!selection.bundle) {
        return fail(selection.error + "; files in " + options.out_dir + " left unchanged");
    }
    const auto& bundle = *selection.bundle;
    auto changed = install(options, bundle, options.reload.empty() ? "" : join(options.out_dir, k_reload_marker));
    if (!changed.ok()) {
        return fail(changed.error().message + "; readers still get the previous files in " + options.out_dir);
    }
    core::log::Fields fields = {{"source", where}};
    if (!changed->empty()) {
        fields.emplace_back("files", *changed);
    }
    log_served(options, bundle, changed->empty() ? "certificate unchanged" : "certificate written", fields);
    return reload_if_owed(options, !changed->empty(), true);
}

namespace detail {

void sweep_folder(const std::string& dir) { sweep(dir); }

core::Result<Fetched> fetch_into(secrets::Store& store, const Options& options, const std::string& marker) {
    secrets::VerifyOptions verify;
    verify.expect_name = options.expect_name;
    verify.now = options.now;
    auto selection = select(store, options, verify);
    if (selection.keep_disk) {
        return Fetched{{}, {}, false};
    }
    if (!selection.bundle) {
        return make_error(selection.transient ? ErrorKind::io : ErrorKind::invalid_input, selection.error);
    }
    TRY_ASSIGN(auto changed, install(options, *selection.bundle, marker));
    return Fetched{std::move(changed), selection.bundle->serial, !selection.previous};
}

int reload_once(const Options& options, bool changed) { return reload_if_owed(options, changed, false); }

}  // namespace detail

}  // namespace renewer::certfetch
