// ecs: UpdateService with forceNewDeployment; the new tasks fetch the new
// certificate when they start.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aws/client.hpp"
#include "replace/common.hpp"

namespace replace {
namespace {

// The id of the PRIMARY deployment in an UpdateService answer; empty when absent.
std::string primary_deployment(const nlohmann::json& answer) {
    std::string id;
    if (answer.contains("service") && answer["service"].contains("deployments") &&
        answer["service"]["deployments"].is_array()) {
        for (const auto& deployment : answer["service"]["deployments"]) {
            if (deployment.value("status", "") == "PRIMARY" && deployment.contains("id") &&
                deployment["id"].is_string()) {
                id = deployment["id"].get<std::string>();
            }
        }
    }
    return id;
}

class EcsReplacer final : public Replacer {
public:
    EcsReplacer(const ReplaceTarget& target, aws::Client* client) : target_(target), client_(client) {}

    core::Status run(const std::vector<ChangedCertificate>& /*changed*/, DryRun dry_run, ReplaceOutcome& out) override {
        out.calls.push_back("UpdateService");
        const std::string described = fmt::format("UpdateService cluster={} service={} forceNewDeployment=true",
                                                  target_.cluster, target_.service);
        if (dry_run == DryRun::yes) {
            out.summary = "ecs: dry run, would call " + described;
            return {};
        }
        TRY(need_client(client_, "ecs UpdateService"));
        // UpdateService (ECS JSON 1.1): forceNewDeployment starts new tasks with
        // the same task definition; they fetch the new certificate when they start.
        const nlohmann::json body = {
            {"cluster", target_.cluster}, {"service", target_.service}, {"forceNewDeployment", true}};
        auto answer = client_->json(aws::ecs, "UpdateService", body);
        if (!answer) {
            return answer.error().wrap(
                fmt::format("ecs UpdateService cluster {} service {}", target_.cluster, target_.service));
        }
        out.deployment_id = primary_deployment(*answer);
        out.summary = fmt::format("ecs: {}{}", described,
                                  out.deployment_id.empty() ? std::string() : " -> deployment " + out.deployment_id);
        return {};
    }

private:
    ReplaceTarget target_;
    aws::Client* client_;
};

}  // namespace

std::unique_ptr<Replacer> make_ecs(const ReplaceTarget& target, aws::Client* client) {
    return std::make_unique<EcsReplacer>(target, client);
}

}  // namespace replace
