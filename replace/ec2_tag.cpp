// ec2-tag: DescribeInstances by tag, then TerminateInstances of at most
// max_terminate of those still running an old copy; the group or tier
// respawns them and the new instances fetch the new certificate at boot.
#include <algorithm>
#include <tuple>

#include <fmt/format.h>

#include "aws/client.hpp"
#include "core/x509.hpp"
#include "replace/common.hpp"

namespace replace {
namespace {

struct Instance {
    std::string id;
    std::string launch_time;  // as answered, ISO 8601
};

aws::Params describe_params(const ReplaceTarget& target, const std::string& next_token) {
    aws::Params params = {
        {"Filter.1.Name", "tag:" + target.tag_key},
        {"Filter.1.Value.1", target.tag_value},
        {"Filter.2.Name", "instance-state-name"},
        {"Filter.2.Value.1", "running"},
        {"MaxResults", "1000"},
    };
    if (!next_token.empty()) {
        params.emplace_back("NextToken", next_token);
    }
    return params;
}

core::Result<std::vector<Instance>> describe_tagged(const ReplaceTarget& target, aws::Client& client) {
    std::vector<Instance> instances;
    std::string next_token;
    // DescribeInstances pages with NextToken; bounded so a misbehaving
    // endpoint cannot keep us here.
    for (int page = 0; page < 1000; ++page) {
        auto answer = client.query(aws::ec2, "DescribeInstances", describe_params(target, next_token));
        if (!answer) {
            return answer.error().wrap("ec2-tag DescribeInstances");
        }
        TRY_ASSIGN(auto doc, parse_xml(*answer, "ec2-tag DescribeInstances"));
        const auto root = doc.document_element();
        for (const auto reservation : root.child("reservationSet").children("item")) {
            for (const auto item : reservation.child("instancesSet").children("item")) {
                const std::string state = item.child("instanceState").child("name").text().as_string();
                if (!state.empty() && state != "running") {
                    continue;  // the filter already asked for running; be safe
                }
                instances.push_back(
                    {item.child("instanceId").text().as_string(), item.child("launchTime").text().as_string()});
            }
        }
        next_token = root.child("nextToken").text().as_string();
        if (next_token.empty()) {
            return instances;
        }
    }
    return core::make_error(core::ErrorKind::protocol, "ec2-tag DescribeInstances: more than 1000 pages");
}

// The instances launched before the newest changed certificate was stored,
// oldest first (they are the likeliest to serve an old copy). `fresh` counts
// the others: they already have it.
std::vector<Instance> stale_instances(const std::vector<Instance>& instances,
                                      const std::vector<ChangedCertificate>& changed, std::size_t& fresh) {
    std::optional<std::chrono::system_clock::time_point> stored_at;
    for (const auto& cert : changed) {
        if (cert.stored_at && (!stored_at || *cert.stored_at > *stored_at)) {
            stored_at = cert.stored_at;
        }
    }
    std::vector<Instance> stale;
    fresh = 0;
    for (const auto& instance : instances) {
        const auto launched = core::parse_time(instance.launch_time);
        if (stored_at && launched.ok() && *launched >= *stored_at) {
            ++fresh;
            continue;
        }
        stale.push_back(instance);
    }
    std::stable_sort(stale.begin(), stale.end(), [](const Instance& a, const Instance& b) {
        return std::tie(a.launch_time, a.id) < std::tie(b.launch_time, b.id);
    });
    return stale;
}

class Ec2TagReplacer final : public Replacer {
public:
    Ec2TagReplacer(const ReplaceTarget& target, aws::Client* client) : target_(target), client_(client) {}

    core::Status run(const std::vector<ChangedCertificate>& changed, DryRun dry_run, ReplaceOutcome& out) override {
        const std::string selector = fmt::format("{}={}", target_.tag_key, target_.tag_value);
        if (dry_run == DryRun::yes) {
            out.calls = {"DescribeInstances", "TerminateInstances"};
            out.summary = fmt::format(
                "ec2-tag: dry run, would call DescribeInstances (tag:{}, running) and TerminateInstances for at most "
                "{} of them",
                selector, target_.max_terminate);
            return {};
        }
        TRY(need_client(client_, "ec2-tag"));
        out.calls.push_back("DescribeInstances");
        TRY_ASSIGN(auto instances, describe_tagged(target_, *client_));
        std::size_t fresh = 0;
        const auto stale = stale_instances(instances, changed, fresh);
        const auto cap = static_cast<std::size_t>(std::max(target_.max_terminate, 0));
        std::vector<std::string> chosen;
        for (std::size_t i = 0; i < stale.size(); ++i) {
            (i < cap ? chosen : out.left_for_next_run).push_back(stale[i].id);
        }
        if (chosen.empty()) {
            out.summary = fmt::format("ec2-tag: no running instance tagged {} to replace ({} found, {} already fresh)",
                                      selector, instances.size(), fresh);
            return {};
        }
        TRY(terminate(chosen, out));
        out.summary =
            fmt::format("ec2-tag: terminated {} of {} running instances tagged {} ({}); the tier respawns them",
                        out.terminated.size(), instances.size(), selector, join(out.terminated, " "));
        if (!out.left_for_next_run.empty()) {
            out.summary +=
                fmt::format("; {} left for the next run over the cap of {} ({})", out.left_for_next_run.size(),
                            target_.max_terminate, join(out.left_for_next_run, " "));
        }
        return {};
    }

private:
    core::Status terminate(const std::vector<std::string>& chosen, ReplaceOutcome& out) {
        aws::Params params;
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            params.emplace_back(fmt::format("InstanceId.{}", i + 1), chosen[i]);
        }
        out.calls.push_back("TerminateInstances");
        auto answer = client_->query(aws::ec2, "TerminateInstances", params);
        if (!answer) {
            return answer.error().wrap(fmt::format("ec2-tag TerminateInstances {}", join(chosen, " ")));
        }
        TRY_ASSIGN(auto doc, parse_xml(*answer, "ec2-tag TerminateInstances"));
        for (const auto item : doc.document_element().child("instancesSet").children("item")) {
            out.terminated.push_back(item.child("instanceId").text().as_string());
        }
        if (out.terminated.empty()) {
            out.terminated = chosen;  // an answer without the list still means success
        }
        return {};
    }

    ReplaceTarget target_;
    aws::Client* client_;
};

}  // namespace

std::unique_ptr<Replacer> make_ec2_tag(const ReplaceTarget& target, aws::Client* client) {
    return std::make_unique<Ec2TagReplacer>(target, client);
}

}  // namespace replace
