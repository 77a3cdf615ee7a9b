#include "renewer/certfetch.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.hpp"
#include "core/child_env.hpp"
#include "core/log.hpp"
#include "core/subprocess.hpp"
#include "renewer/exit_codes.hpp"
#include "secrets/bundle.hpp"

namespace renewer::certfetch {
namespace {

using core::ErrorKind;
using core::make_error;

constexpr mode_t k_cert_mode = 0644;

// One output file: its final name, content and mode, and the temp file that
// holds the new content until every temp is ready.
struct OutFile {
    std::string name;
    std::string content;
    mode_t mode = k_cert_mode;
    std::string temp;  // empty until staged
    bool changed = false;
};

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

// What a stage holds and whether it can be served; `why` when it cannot.
struct Candidate {
    std::optional<secrets::Bundle> bundle;
    std::string why;
    // The store could not be read (network, credentials, throttling after
    // retries): not a reason to serve an older version.
    bool fetch_failed = false;
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

// The bundle already on disk, if it is whole and still servable.
std::optional<secrets::Bundle> on_disk(const std::string& dir, const secrets::VerifyOptions& verify) {
    auto fullchain = core::read_file(join(dir, k_fullchain_file));
    auto key = core::read_file(join(dir, k_privkey_file));
    if (!fullchain.ok() || !key.ok()) {
        return std::nullopt;
    }
    auto bundle = secrets::build_bundle(*fullchain, *key, "", std::chrono::system_clock::now());
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

core::Status write_all(int fd, std::string_view content, const std::string& path) {
    while (!content.empty()) {
        const auto n = ::write(fd, content.data(), content.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return io_error("cannot write", path, errno);
        }
        content.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

// Writes `file` to a temp file beside its target with its final mode and
// owner, fsynced: after this only a rename is left to do.
core::Status stage(const Options& options, OutFile& file) {
    std::string pattern = join(options.out_dir, "." + file.name + ".certfetch-XXXXXX");
    const int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
    if (fd < 0) {
        return io_error("cannot create a temp file in", options.out_dir, errno);
    }
    file.temp = pattern;
    auto status = [&]() -> core::Status {
        // fchmod before any byte lands: the key is never readable by others.
        if (::fchmod(fd, file.mode) != 0) {
            return io_error("cannot chmod", file.temp, errno);
        }
        if (options.owner || options.group) {
            if (::fchown(fd, options.owner.value_or(static_cast<uid_t>(-1)),
                         options.group.value_or(static_cast<gid_t>(-1))) != 0) {
                return io_error("cannot chown", file.temp, errno);
            }
        }
        TRY(write_all(fd, file.content, file.temp));
        if (::fsync(fd) != 0) {
            return io_error("cannot fsync", file.temp, errno);
        }
        return {};
    }();
    ::close(fd);
    return status;
}

// Content equal: fix mode/owner in place when they drifted (no rewrite, so the
// mtime stays and nothing needs a reload).
core::Status fix_metadata(const Options& options, const OutFile& file) {
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

void fsync_dir(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

// Runs the operator's reload command through /bin/sh -c (it is their own
// shell text). The child gets our environment (without our AWS credentials
// and other secrets, core::child_environment) plus the file paths; never the
// key itself, in argv or env. A reload that hangs is stopped after
// --reload-timeout (its whole process group), so certfetch's timer keeps
// firing.
core::Status run_reload(const Options& options) {
    core::SubprocessOptions reload;
    reload.argv = core::shell_argv(options.reload);
    reload.env = core::child_environment();
    reload.env.push_back("CERTFETCH_DIR=" + options.out_dir);
    reload.env.push_back("CERTFETCH_FULLCHAIN=" + join(options.out_dir, k_fullchain_file));
    reload.env.push_back("CERTFETCH_PRIVKEY=" + join(options.out_dir, k_privkey_file));
    reload.env.push_back("CERTFETCH_CHAIN=" + join(options.out_dir, k_chain_file));
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

}  // namespace

int run(const Options& options) {
    if (options.out_dir.empty()) {
        core::log::error("certfetch: --out is required");
        return k_exit_bad_config;
    }
    if (options.secret_id.empty() == options.store.empty()) {
        core::log::error("certfetch: give exactly one of --secret-id or --store");
        return k_exit_bad_config;
    }
    const std::string spec = options.store.empty() ? "aws-sm:" + options.secret_id : options.store;
    auto store = secrets::make_store(spec, options.store_config);
    if (!store.ok()) {
        core::log::error("certfetch: " + store.error().message);
        return store.error().kind == ErrorKind::invalid_input ? k_exit_bad_config : k_exit_failed;
    }
    const auto where = (*store)->describe();

    secrets::VerifyOptions verify;
    verify.expect_name = options.expect_name;
    verify.now = options.now;

    // AWSCURRENT first; AWSPREVIOUS only when the current one cannot be served.
    auto chosen = load(**store, secrets::Stage::current, verify);
    if (!chosen.bundle && chosen.fetch_failed) {
        return fail("cannot read " + where + ": " + chosen.why + "; files in " + options.out_dir + " left unchanged");
    }
    if (!chosen.bundle) {
        const auto current_why = chosen.why;
        core::log::warn("certfetch: AWSCURRENT of " + where + " is unusable (" + current_why +
                        "); falling back to AWSPREVIOUS");
        chosen = load(**store, secrets::Stage::previous, verify);
        if (!chosen.bundle) {
            return fail("no usable certificate in " + where + ": AWSCURRENT: " + current_why +
                        "; AWSPREVIOUS: " + chosen.why + "; files in " + options.out_dir + " left unchanged");
        }
        // Do not trade a good certificate already on disk for an older one.
        if (auto disk = on_disk(options.out_dir, verify); disk) {
            const auto disk_end = leaf_not_after(*disk);
            const auto prev_end = leaf_not_after(*chosen.bundle);
            if (disk_end && prev_end && *disk_end > *prev_end) {
                core::log::warn("certfetch: the files in " + options.out_dir +
                                    " are newer than AWSPREVIOUS and still valid; leaving them",
                                {{"serial", disk->serial}});
                return k_exit_ok;
            }
        }
        core::log::warn("certfetch: using AWSPREVIOUS of " + where, {{"serial", chosen.bundle->serial}});
    }
    const auto& bundle = *chosen.bundle;

    std::string chain = bundle.chain;
    if (chain.empty()) {
        if (auto derived = secrets::intermediates_pem(bundle.certificate); derived.ok()) {
            chain = std::move(derived).value();
        }
    }
    // Renamed in this order; nginx only loads them on the reload after the
    // last rename, so it never pairs a new key with an old certificate.
    std::array<OutFile, 3> files = {{
        {k_privkey_file, with_newline(bundle.private_key), options.key_mode, {}, false},
        {k_chain_file, with_newline(chain), k_cert_mode, {}, false},
        {k_fullchain_file, with_newline(bundle.certificate), k_cert_mode, {}, false},
    }};

    std::error_code ec;
    std::filesystem::create_directories(options.out_dir, ec);
    if (ec) {
        return fail("cannot create " + options.out_dir + ": " + ec.message());
    }

    bool any_changed = false;
    for (auto& file : files) {
        auto existing = core::read_file(join(options.out_dir, file.name));
        file.changed = !existing.ok() || *existing != file.content;
        any_changed = any_changed || file.changed;
    }

    if (any_changed) {
        // Stage every file before renaming any: a failure here (disk full,
        // chown refused) leaves all old files exactly as they were.
        core::Status staged;
        for (auto& file : files) {
            if (file.changed) {
                staged = stage(options, file);
                if (!staged.ok()) {
                    break;
                }
            }
        }
        if (!staged.ok()) {
            for (auto& file : files) {
                if (!file.temp.empty()) {
                    ::unlink(file.temp.c_str());
                }
            }
            return fail(staged.error().message + "; files in " + options.out_dir + " left unchanged");
        }
        if (!options.reload.empty()) {
            // Written before the renames: if we die between them and the
            // reload, the next run still owes nginx a reload.
            if (auto marked = core::write_file_atomic(join(options.out_dir, k_reload_marker), "", {}); !marked.ok()) {
                core::log::warn("certfetch: " + marked.error().message);
            }
        }
        for (auto& file : files) {
            if (file.changed) {
                const auto target = join(options.out_dir, file.name);
                if (::rename(file.temp.c_str(), target.c_str()) != 0) {
                    const int err = errno;
                    for (auto& other : files) {
                        if (!other.temp.empty()) {
                            ::unlink(other.temp.c_str());
                        }
                    }
                    return fail(io_error("cannot rename into", target, err).message);
                }
                file.temp.clear();
            }
        }
        fsync_dir(options.out_dir);
    }
    for (const auto& file : files) {
        if (!file.changed) {
            if (auto fixed = fix_metadata(options, file); !fixed.ok()) {
                return fail(fixed.error().message);
            }
        }
    }

    std::string written;
    for (const auto& file : files) {
        if (file.changed) {
            written += (written.empty() ? "" : ",") + file.name;
        }
    }
    const core::log::Fields fields = {
        {"source", where}, {"dir", options.out_dir}, {"serial", bundle.serial}, {"not_after", bundle.not_after}};
    if (any_changed) {
        auto f = fields;
        f.emplace_back("files", written);
        core::log::info("certfetch: certificate written", f);
    } else {
        core::log::info("certfetch: certificate unchanged", fields);
    }

    const auto marker = join(options.out_dir, k_reload_marker);
    if (!options.reload.empty() && (any_changed || file_exists(marker))) {
        if (auto reloaded = run_reload(options); !reloaded.ok()) {
            return fail(reloaded.error().message + " (the files were written; the next run retries the reload)");
        }
        ::unlink(marker.c_str());
        core::log::info("certfetch: reload command succeeded");
    }
    return k_exit_ok;
}

}  // namespace renewer::certfetch
