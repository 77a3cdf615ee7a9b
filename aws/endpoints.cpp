// Service constants, region and endpoint resolution (SDKs and Tools Reference
// Guide: "AWS Region", "Service-specific endpoints").
#include <cstdlib>
#include <string>

#include "aws/client.hpp"
#include "aws/config_file.hpp"
#include "core/env.hpp"
#include "core/text.hpp"

namespace aws {

// signing name, endpoint prefix, AWS_ENDPOINT_URL_<env_name>, API version, JSON target, global
const Service route53{"route53", "route53", "ROUTE_53", "2013-04-01", nullptr, true};
const Service secrets_manager{"secretsmanager", "secretsmanager", "SECRETS_MANAGER",
                              "2017-10-17",     "secretsmanager", false};
const Service ec2{"ec2", "ec2", "EC2", "2016-11-15", nullptr, false};
const Service autoscaling{"autoscaling", "autoscaling", "AUTO_SCALING", "2011-01-01", nullptr, false};
const Service ecs{"ecs", "ecs", "ECS", "2014-11-13", "AmazonEC2ContainerServiceV20141113", false};
const Service sts{"sts", "sts", "STS", "2011-06-15", nullptr, false};
const Service dynamodb{"dynamodb", "dynamodb", "DYNAMODB", "2012-08-10", "DynamoDB_20120810", false, "1.0"};

namespace {

std::string strip_trailing_slash(std::string url) {
    while (url.size() > 1 && url.back() == '/') {
        url.pop_back();
    }
    return url;
}

}  // namespace

std::string resolve_region() {
    for (const char* name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
        std::string value = core::env_or(name);
        if (!value.empty()) {
            return value;
        }
    }
    std::string from_profile = config::profile_value("region");
    return from_profile.empty() ? "us-east-1" : from_profile;
}

std::string resolve_endpoint(const Service& service, const std::string& region) {
    // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS / ignore_configured_endpoint_urls turn
    // every configured endpoint off (SDK "Service-specific endpoints").
    const bool ignore_configured = core::ascii_lower(core::env_or("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) == "true";
    if (!ignore_configured) {
        std::string url = core::env_or(("AWS_ENDPOINT_URL_" + std::string(service.env_name)).c_str());
        if (url.empty()) {
            url = core::env_or("AWS_ENDPOINT_URL");
        }
        if (!url.empty()) {
            return strip_trailing_slash(url);
        }
        if (auto shared = config::SharedConfig::load()) {
            if (auto profile = shared->profile(config::profile_name())) {
                auto value = [&profile](const std::string& key) {
                    auto it = profile->find(key);
                    return it == profile->end() ? std::string() : it->second;
                };
                if (core::ascii_lower(value("ignore_configured_endpoint_urls")) != "true") {
                    // [services name] / <service id> = / endpoint_url = ...
                    if (std::string section = value("services"); !section.empty()) {
                        if (auto services = shared->services(section)) {
                            auto it = services->find(core::ascii_lower(service.env_name) + ".endpoint_url");
                            if (it != services->end() && !it->second.empty()) {
                                return strip_trailing_slash(it->second);
                            }
                        }
                    }
                    if (std::string global = value("endpoint_url"); !global.empty()) {
                        return strip_trailing_slash(global);
                    }
                }
            }
        }
    }
    const std::string suffix = region.starts_with("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
    if (service.global) {
        return "https://" + std::string(service.endpoint_prefix) + "." + suffix;
    }
    return "https://" + std::string(service.endpoint_prefix) + "." + region + "." + suffix;
}

}  // namespace aws
