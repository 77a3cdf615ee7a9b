// What a replacement is told: the target's settings from the configuration,
// the certificates that changed in this run, and what it reports back.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replace {

enum class ReplaceType { none, autoscaling, ec2_tag, ecs, hook };

// "none", "autoscaling", "ec2-tag", "ecs", "hook" (the config file's spelling).
const char* to_string(ReplaceType type);
std::optional<ReplaceType> parse_replace_type(std::string_view name);

enum class DryRun { no, yes };

struct ReplaceTarget {
    ReplaceType type = ReplaceType::none;
    // autoscaling
    std::string group;                   // AutoScalingGroupName
    int min_healthy_percentage = 90;     // Preferences.MinHealthyPercentage, 0..100
    std::optional<int> instance_warmup;  // Preferences.InstanceWarmup, seconds
    // ec2-tag
    std::string tag_key;  // Filter tag:<tag_key> = tag_value
    std::string tag_value;
    int max_terminate = 1;  // cap on TerminateInstances per run
    // ecs
    std::string cluster;
    std::string service;
    // hook
    std::string command;                // run as /bin/sh -c COMMAND
    std::chrono::seconds timeout{300};  // hook: killed (process group) after this
    // Names of environment variables removed from the hook's environment
    // because they hold our secrets (the config's *_env fields). The well-known
    // ones (RFC2136_TSIG_SECRET, ACME_EAB_HMAC_KEY) are always removed.
    std::vector<std::string> hidden_env;

    bool operator==(const ReplaceTarget&) const = default;
};

// One certificate that was renewed (or stored from the spool) in this run.
struct ChangedCertificate {
    std::string name;                  // certificate id
    std::vector<std::string> domains;  // normalized names
    std::string serial;                // hex
    std::string location;              // store spec ("aws-sm:NAME" or "dir:/path")
    // When the new version was stored; ec2-tag terminates only instances
    // launched before the latest of these (a respawned instance already has
    // the new certificate). Unset = every matching instance is a candidate.
    std::optional<std::chrono::system_clock::time_point> stored_at;
};

struct ReplaceOutcome {
    ReplaceType type = ReplaceType::none;
    DryRun dry_run = DryRun::no;
    std::string summary;                         // one line for the run's summary
    std::vector<std::string> calls;              // API actions made (or that would be made in a dry run)
    std::string refresh_id;                      // autoscaling: InstanceRefreshId
    bool already_in_progress = false;            // autoscaling: InstanceRefreshInProgress
    std::vector<std::string> terminated;         // ec2-tag: instance ids terminated (or that would be)
    std::vector<std::string> left_for_next_run;  // ec2-tag: over the cap, still running an old copy
    std::string deployment_id;                   // ecs: the new PRIMARY deployment id, when answered
    int hook_exit_status = 0;                    // hook: exit status
};

}  // namespace replace
