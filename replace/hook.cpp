// hook: the operator's shell command, run like certbot's deploy hooks with
// RENEWED_* variables; never a key in its environment or argv.
#include <algorithm>

#include <fmt/format.h>

#include "core/child_env.hpp"
#include "core/log.hpp"
#include "core/subprocess.hpp"
#include "replace/common.hpp"

namespace replace {
namespace {

// The hook's output reaches the log up to this many bytes per run.
constexpr std::size_t k_max_logged = std::size_t{64} * 1024;

// Our own secrets never reach the hook (exec hooks get paths, not keys):
// core::child_environment drops them, and the variables the configuration
// names as secret sources (target.hidden_env).
std::vector<std::string> hook_env_block(const ReplaceTarget& target, const std::vector<ChangedCertificate>& changed) {
    std::vector<std::string> block;
    for (auto& entry : core::child_environment(target.hidden_env)) {
        if (entry.starts_with("RENEWED_")) {
            continue;
        }
        block.push_back(std::move(entry));
    }
    for (const auto& [name, value] : hook_environment(changed)) {
        block.push_back(name + "=" + value);
    }
    return block;
}

core::Status hook_failure(const ReplaceTarget& target, const core::SubprocessResult& ran) {
    using End = core::SubprocessResult::End;
    if (ran.end == End::timed_out) {
        return core::make_error(core::ErrorKind::timeout, fmt::format("hook: '{}' did not finish within {} s; stopped",
                                                                      target.command, target.timeout.count()));
    }
    if (ran.end == End::cancelled) {
        return core::make_error(core::ErrorKind::cancelled,
                                fmt::format("hook: '{}' stopped: run cancelled", target.command));
    }
    core::Error error =
        core::make_error(core::ErrorKind::internal, fmt::format("hook: '{}' {}", target.command, ran.describe()));
    error.code = "hook_failed";
    return error;
}

class HookReplacer final : public Replacer {
public:
    explicit HookReplacer(const ReplaceTarget& target) : target_(target) {}

    core::Status run(const std::vector<ChangedCertificate>& changed, DryRun dry_run, ReplaceOutcome& out) override {
        out.calls.push_back("hook");
        if (dry_run == DryRun::yes) {
            std::vector<std::string> shown;
            for (const auto& [name, value] : hook_environment(changed)) {
                shown.push_back(fmt::format("{}=\"{}\"", name, value));
            }
            out.summary =
                fmt::format("hook: dry run, would run /bin/sh -c '{}' with {}", target_.command, join(shown, " "));
            return {};
        }
        core::SubprocessOptions options;
        options.argv = core::shell_argv(target_.command);
        options.env = hook_env_block(target_, changed);
        options.timeout = target_.timeout;
        std::size_t logged = 0;
        options.on_line = [&logged](std::string_view line) {
            if (logged < k_max_logged) {
                core::log::info("hook output", {{"line", std::string(line)}});
            }
            logged += line.size() + 1;
        };
        core::log::info("running deploy hook", {{"command", target_.command}, {"certificates", names_of(changed)}});
        auto ran = core::run_subprocess(options);
        if (!ran) {
            return core::make_error(core::ErrorKind::io, "hook: " + ran.error().message);
        }
        using End = core::SubprocessResult::End;
        out.hook_exit_status = ran->end == End::exited ? ran->exit_code : 128 + ran->signal;
        if (!ran->succeeded()) {
            return hook_failure(target_, *ran);
        }
        out.summary = fmt::format("hook: '{}' exited 0 after {:.1f} s for {}", target_.command,
                                  std::chrono::duration<double>(ran->elapsed).count(), names_of(changed));
        return {};
    }

private:
    ReplaceTarget target_;
};

}  // namespace

std::unique_ptr<Replacer> make_hook(const ReplaceTarget& target, aws::Client* /*client*/) {
    return std::make_unique<HookReplacer>(target);
}

std::vector<std::pair<std::string, std::string>> hook_environment(const std::vector<ChangedCertificate>& changed) {
    std::vector<std::string> ids;
    std::vector<std::string> domains;
    std::vector<std::string> paths;
    std::vector<std::string> locations;
    std::vector<std::string> serials;
    for (const auto& cert : changed) {
        ids.push_back(cert.name);
        for (const auto& domain : cert.domains) {
            if (std::find(domains.begin(), domains.end(), domain) == domains.end()) {
                domains.push_back(domain);
            }
        }
        if (cert.location.rfind("dir:", 0) == 0) {
            paths.push_back(cert.location.substr(4));
        }
        locations.push_back(cert.location);
        serials.push_back(cert.serial);
    }
    std::vector<std::pair<std::string, std::string>> env = {
        {"RENEWED_CERTIFICATES", join(ids, " ")},
        {"RENEWED_DOMAINS", join(domains, " ")},
    };
    if (!paths.empty()) {
        env.emplace_back("RENEWED_LINEAGE", paths.front());
        env.emplace_back("RENEWED_PATHS", join(paths, " "));
    }
    env.emplace_back("RENEWED_LOCATIONS", join(locations, " "));
    env.emplace_back("RENEWED_SERIALS", join(serials, " "));
    return env;
}

}  // namespace replace
