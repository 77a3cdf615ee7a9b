// Replacement: how the web tier picks up renewed certificates. Run once per
// run, and only when some certificate changed (docs/architecture.md).
//   autoscaling  StartInstanceRefresh (rolling, minimum healthy percentage)
//   ec2-tag      DescribeInstances by tag, TerminateInstances of at most
//                max_terminate of them per run (the group/tier respawns them)
//   ecs          UpdateService forceNewDeployment=true
//   hook         a shell command with RENEWED_* variables, like certbot's
//                deploy hooks; never a key in its environment or argv
//   none
// Every target honours DryRun::yes: it logs what it would call and calls nothing.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "replace/target.hpp"

namespace aws {
class Client;
}

namespace replace {

// One replacement target (one file each: autoscaling.cpp, ec2_tag.cpp,
// ecs.cpp, hook.cpp), made by the factory table in factory.cpp for one
// ReplaceTarget.
class Replacer {
public:
    virtual ~Replacer() = default;
    // Runs the replacement once for all `changed` certificates (never
    // empty). With DryRun::yes it fills `out.summary` and `out.calls` with
    // what it would do and calls nothing. Errors name the target and the API
    // action.
    virtual core::Status run(const std::vector<ChangedCertificate>& changed, DryRun dry_run, ReplaceOutcome& out) = 0;
};

// Runs the replacement for `target` once for all `changed` certificates.
// Nothing is called when `changed` is empty. `client` is needed for the AWS
// targets unless `dry_run` is yes; it is not used by hook or none. The summary
// line is logged (info) and returned. Errors name the target and the API
// action ("ec2-tag TerminateInstances: ...").
core::Result<ReplaceOutcome> run_replacement(const ReplaceTarget& target,
                                             const std::vector<ChangedCertificate>& changed, DryRun dry_run,
                                             aws::Client* client);

// The hook's environment additions, certbot style (exposed for tests and --help):
//   RENEWED_CERTIFICATES  certificate ids, space-separated
//   RENEWED_DOMAINS       every name of every changed certificate, space-separated, no duplicates
//   RENEWED_LINEAGE       the directory of the first changed "dir:" store (certbot's name), if any
//   RENEWED_PATHS         the directories of all changed "dir:" stores, space-separated, if any
//   RENEWED_LOCATIONS     the store specs of the changed certificates, space-separated
//   RENEWED_SERIALS       their serials, space-separated, in the same order
std::vector<std::pair<std::string, std::string>> hook_environment(const std::vector<ChangedCertificate>& changed);

}  // namespace replace
