// The replacement targets by name, like dns/provider.cpp's provider table:
// adding a target is one file and one row here.
#include <array>

#include <fmt/format.h>

#include "core/log.hpp"
#include "replace/common.hpp"

namespace replace {
namespace {

using Factory = std::unique_ptr<Replacer> (*)(const ReplaceTarget&, aws::Client*);

struct TargetKind {
    ReplaceType type;
    const char* name;  // the configuration file's spelling
    Factory make;      // nullptr: nothing to run
};

constexpr std::array<TargetKind, 5> k_targets = {{
    {ReplaceType::none, "none", nullptr},
    {ReplaceType::autoscaling, "autoscaling", make_autoscaling},
    {ReplaceType::ec2_tag, "ec2-tag", make_ec2_tag},
    {ReplaceType::ecs, "ecs", make_ecs},
    {ReplaceType::hook, "hook", make_hook},
}};

const TargetKind& kind_of(ReplaceType type) {
    for (const auto& kind : k_targets) {
        if (kind.type == type) {
            return kind;
        }
    }
    return k_targets.front();
}

void log_outcome(const ReplaceOutcome& out, const std::vector<ChangedCertificate>& changed) {
    const core::log::Fields fields = {{"replace", to_string(out.type)}, {"certificates", names_of(changed)}};
    if (out.already_in_progress) {
        core::log::warn(out.summary, fields);
    } else {
        core::log::info(out.summary, fields);
    }
}

}  // namespace

const char* to_string(ReplaceType type) { return kind_of(type).name; }

std::optional<ReplaceType> parse_replace_type(std::string_view name) {
    for (const auto& kind : k_targets) {
        if (name == kind.name) {
            return kind.type;
        }
    }
    return std::nullopt;
}

core::Result<ReplaceOutcome> run_replacement(const ReplaceTarget& target,
                                             const std::vector<ChangedCertificate>& changed, DryRun dry_run,
                                             aws::Client* client) {
    ReplaceOutcome out;
    out.type = target.type;
    out.dry_run = dry_run;
    if (changed.empty()) {
        out.summary = fmt::format("{}: no certificate changed, nothing to replace", to_string(target.type));
        return out;
    }
    const TargetKind& kind = kind_of(target.type);
    if (kind.make == nullptr) {
        out.summary = "none: no replacement configured";
        log_outcome(out, changed);
        return out;
    }
    if (auto status = kind.make(target, client)->run(changed, dry_run, out); !status) {
        core::log::error("replacement failed", {{"replace", to_string(target.type)},
                                                {"certificates", names_of(changed)},
                                                {"error", status.error().message}});
        return status.error();
    }
    log_outcome(out, changed);
    return out;
}

}  // namespace replace
