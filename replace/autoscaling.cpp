// autoscaling: StartInstanceRefresh on the Auto Scaling group; the new
// instances fetch the new certificate when they boot (certfetch).
#include <fmt/format.h>

#include "aws/client.hpp"
#include "replace/common.hpp"

namespace replace {
namespace {

class AutoscalingReplacer final : public Replacer {
public:
    AutoscalingReplacer(const ReplaceTarget& target, aws::Client* client) : target_(target), client_(client) {}

    core::Status run(const std::vector<ChangedCertificate>& /*changed*/, DryRun dry_run, ReplaceOutcome& out) override {
        // StartInstanceRefresh (Query, AutoScaling API 2011-01-01); Rolling is the
        // only strategy that keeps MinHealthyPercentage of the group in service.
        aws::Params params = {
            {"AutoScalingGroupName", target_.group},
            {"Strategy", "Rolling"},
            {"Preferences.MinHealthyPercentage", std::to_string(target_.min_healthy_percentage)},
        };
        if (target_.instance_warmup) {
            params.emplace_back("Preferences.InstanceWarmup", std::to_string(*target_.instance_warmup));
        }
        out.calls.push_back("StartInstanceRefresh");
        const std::string described = fmt::format(
            "StartInstanceRefresh group={} min_healthy={}%{}", target_.group, target_.min_healthy_percentage,
            target_.instance_warmup ? fmt::format(" warmup={}s", *target_.instance_warmup) : std::string());
        if (dry_run == DryRun::yes) {
            out.summary = "autoscaling: dry run, would call " + described;
            return {};
        }
        TRY(need_client(client_, "autoscaling StartInstanceRefresh"));
        auto answer = client_->query(aws::autoscaling, "StartInstanceRefresh", params);
        if (!answer) {
            return refresh_refused(answer.error(), out);
        }
        TRY_ASSIGN(auto doc, parse_xml(*answer, "autoscaling StartInstanceRefresh"));
        out.refresh_id = find_element(doc, "InstanceRefreshId").text().as_string();
        out.summary = fmt::format("autoscaling: {} -> instance refresh {}", described,
                                  out.refresh_id.empty() ? std::string("(no id answered)") : out.refresh_id);
        return {};
    }

private:
    // A refresh already running (someone else's, or ours from a run that
    // changed certificates moments ago) replaces the instances it has not
    // reached yet, and those boot with the new certificate; the ones it
    // already replaced pick it up on certfetch's timer. Starting another is
    // refused by AWS anyway, so this is a warning, not a failure.
    core::Status refresh_refused(const core::Error& error, ReplaceOutcome& out) const {
        if (error.code == "InstanceRefreshInProgress") {
            out.already_in_progress = true;
            out.summary = fmt::format(
                "autoscaling: instance refresh already in progress for group {}; not started again (instances it "
                "already replaced get the new certificate from certfetch's timer)",
                target_.group);
            return {};
        }
        return error.wrap(fmt::format("autoscaling StartInstanceRefresh group {}", target_.group));
    }

    ReplaceTarget target_;
    aws::Client* client_;
};

}  // namespace

std::unique_ptr<Replacer> make_autoscaling(const ReplaceTarget& target, aws::Client* client) {
    return std::make_unique<AutoscalingReplacer>(target, client);
}

}  // namespace replace
