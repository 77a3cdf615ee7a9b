#include "dns/route53.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "aws/credentials.hpp"
#include "core/http.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "dns/route53_wire.hpp"
#include "dns/wire.hpp"

namespace dns {
namespace {

namespace rw = route53_wire;
using std::chrono::milliseconds;

constexpr const char* k_api = "/2013-04-01";

// One limiter for every Route53 call of the process: Route53's quota is per account.
std::shared_ptr<aws::RateLimiter> process_rate_limiter(double requests_per_second) {
    static std::mutex mutex;
    static std::shared_ptr<aws::RateLimiter> limiter;
    std::lock_guard lock(mutex);
    if (!limiter) {
        limiter = std::make_shared<aws::RateLimiter>(requests_per_second);
    }
    return limiter;
}

std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    std::replace(text.begin(), text.end(), '\r', ' ');
    return text;
}

std::string zone_label(const rw::HostedZone& zone) {
    return (zone.name.empty() ? std::string("id ") : zone.name + " ") + "(" + zone.id + ")";
}

class Route53Provider final : public Provider {
public:
    explicit Route53Provider(Route53Settings settings) : settings_(std::move(settings)) {
        if (!settings_.rate_limiter) {
            settings_.rate_limiter = process_rate_limiter(settings_.requests_per_second);
        }
        if (!settings_.client.credentials) {
            settings_.client.credentials = aws::default_credentials_chain();
        }
        if (!settings_.assume_role_arn.empty()) {
            aws::AssumeRoleOptions options;
            options.role_arn = settings_.assume_role_arn;
            options.external_id = settings_.external_id;
            options.session_name = settings_.session_name;
            settings_.client.credentials = aws::assume_role_credentials(settings_.client.credentials, options);
        }
        settings_.client.rate_limiter = settings_.rate_limiter;
    }

    core::Status present(const std::vector<TxtRecord>& records) override {
        return apply(records, Step::present);
    }
    core::Status cleanup(const std::vector<TxtRecord>& records) override {
        return apply(records, Step::cleanup);
    }
    std::string name() const override { return "route53"; }

private:
    enum class Step { present, cleanup };

    // A client from the pool (aws::Client owns one connection and is not thread-safe).
    class Lease {
    public:
        Lease(Route53Provider& owner, std::unique_ptr<aws::Client> client)
            : owner_(owner), client_(std::move(client)) {}
        ~Lease() {
            std::lock_guard lock(owner_.mutex_);
            owner_.pool_.push_back(std::move(client_));
        }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        aws::Client& operator*() { return *client_; }
        aws::Client* operator->() { return client_.get(); }

    private:
        Route53Provider& owner_;
        std::unique_ptr<aws::Client> client_;
    };

    Lease lease() {
        {
            std::lock_guard lock(mutex_);
            if (!pool_.empty()) {
                auto client = std::move(pool_.back());
                pool_.pop_back();
                return Lease(*this, std::move(client));
            }
        }
        return Lease(*this, std::make_unique<aws::Client>(settings_.client));
    }

    core::Result<std::string> call(const char* action, const char* method, const std::string& path,
                                   const aws::Params& query, const std::string& body) {
        auto client = lease();
        return client->rest_xml(aws::route53, action, method, path, query, body);
    }

    // Hosted zones named exactly `name` (ListHostedZonesByName, cached).
    core::Result<std::vector<rw::HostedZone>> zones_named(const std::string& name) {
        {
            std::lock_guard lock(mutex_);
            if (auto it = zones_by_name_.find(name); it != zones_by_name_.end()) {
                return it->second;
            }
        }
        std::vector<rw::HostedZone> found;
        aws::Params query{{"dnsname", name}, {"maxitems", "100"}};
        TRY_ASSIGN(std::string xml, call("ListHostedZonesByName", "GET", std::string(k_api) + "/hostedzonesbyname",
                                         query, ""));
        TRY_ASSIGN(rw::ZonePage page, rw::parse_hosted_zones(xml));
        for (auto& z : page.zones) {
            if (z.name == name) {
                found.push_back(std::move(z));
            }
        }
        std::lock_guard lock(mutex_);
        zones_by_name_[name] = found;
        return found;
    }

    // The hosted zone of `fqdn`: AWS_HOSTED_ZONE_ID, else the longest suffix with a zone.
    core::Result<rw::HostedZone> zone_for(const std::string& fqdn) {
        if (!settings_.hosted_zone_id.empty()) {
            std::string id = settings_.hosted_zone_id;
            if (id.starts_with("/hostedzone/")) {
                id.erase(0, 12);
            }
            return rw::HostedZone{id, "", false};
        }
        std::string suffix = fqdn;
        std::string tried;
        while (!suffix.empty() && suffix != ".") {
            auto zones = zones_named(suffix);
            if (!zones) {
                return zones.error().wrap("route53: looking up the hosted zone of " + fqdn);
            }
            if (!zones->empty()) {
                return rw::pick_zone(fqdn, *zones, settings_.zone_visibility);
            }
            tried += (tried.empty() ? "" : ", ") + suffix;
            const auto dot = suffix.find('.');
            suffix = dot == std::string::npos ? std::string() : suffix.substr(dot + 1);
        }
        return core::make_error(core::ErrorKind::not_found,
                                "route53: no hosted zone for " + fqdn + " (none of " + tried +
                                    " is a hosted zone this account can see)");
    }

    core::Result<std::optional<rw::RecordSet>> read_set(const rw::HostedZone& zone, const std::string& fqdn) {
        aws::Params query{{"name", fqdn}, {"type", "TXT"}, {"maxitems", "10"}};
        TRY_ASSIGN(std::string xml, call("ListResourceRecordSets", "GET",
                                         std::string(k_api) + "/hostedzone/" + core::http::url_encode(zone.id) + "/rrset",
                                         query, ""));
        return rw::parse_record_set(xml, fqdn, "TXT");
    }

    // What to send for one name, or nullopt when the set is already as wanted.
    core::Result<std::optional<rw::Change>> plan(const rw::HostedZone& zone, const std::string& fqdn,
                                                 const std::vector<std::string>& ours, Step step) {
        TRY_ASSIGN(std::optional<rw::RecordSet> current, read_set(zone, fqdn));
        std::vector<std::string> quoted;
        for (const auto& v : ours) {
            quoted.push_back(rw::quote_txt(v));
        }
        if (step == Step::present) {
            rw::Change change;
            change.action = rw::Action::upsert;
            if (current) {
                change.rrset = *current;  // their values and TTL, byte for byte
            } else {
                change.rrset.name = fqdn;
                change.rrset.ttl = settings_.ttl;
            }
            bool added = false;
            for (const auto& q : quoted) {
                if (std::find(change.rrset.values.begin(), change.rrset.values.end(), q) == change.rrset.values.end()) {
                    change.rrset.values.push_back(q);
                    added = true;
                }
            }
            if (!added) {
                return std::optional<rw::Change>();
            }
            return std::optional<rw::Change>(std::move(change));
        }
        if (!current) {
            return std::optional<rw::Change>();
        }
        rw::Change change;
        change.rrset = *current;
        std::vector<std::string> remainder;
        for (const auto& v : current->values) {
            if (std::find(quoted.begin(), quoted.end(), v) == quoted.end()) {
                remainder.push_back(v);
            }
        }
        if (remainder.size() == current->values.size()) {
            return std::optional<rw::Change>();  // nothing of ours is there
        }
        if (remainder.empty()) {
            change.action = rw::Action::remove;  // DELETE needs the exact current set
        } else {
            change.action = rw::Action::upsert;
            change.rrset.values = std::move(remainder);
        }
        return std::optional<rw::Change>(std::move(change));
    }

    core::Status wait_insync(const rw::HostedZone& zone, const std::string& change_id) {
        const core::Deadline deadline = core::Deadline::after(settings_.change_timeout);
        milliseconds delay = settings_.initial_poll;
        while (true) {
            TRY_ASSIGN(std::string xml, call("GetChange", "GET", std::string(k_api) + "/change/" +
                                                                  core::http::url_encode(change_id),
                                             {}, ""));
            TRY_ASSIGN(rw::ChangeInfo info, rw::parse_change_info(xml));
            if (info.status == "INSYNC") {
                return {};
            }
            if (deadline.expired()) {
                const auto secs = std::chrono::duration_cast<std::chrono::seconds>(settings_.change_timeout).count();
                return core::make_error(core::ErrorKind::timeout,
                                        "route53: change " + change_id + " in zone " + zone_label(zone) +
                                            " still " + info.status + " after " + std::to_string(secs) +
                                            "s (AWS_PROPAGATION_TIMEOUT)");
            }
            // GetChange backoff (Route53 docs: changes usually reach INSYNC within 60 s).
            auto slept = core::sleep_for(delay, deadline);
            if (!slept && slept.error().kind == core::ErrorKind::cancelled) {
                return slept.error();
            }
            delay = std::min(settings_.max_poll, delay * 2);
        }
    }

    // One zone: read each name, then one ChangeResourceRecordSets (split only
    // past Route53's limits), then INSYNC.
    core::Status apply_zone(const rw::HostedZone& zone, const std::map<std::string, std::vector<std::string>>& names,
                            Step step) {
        const std::string step_name = step == Step::present ? "present" : "cleanup";
        // A DELETE whose set changed under us (another writer) fails as
        // InvalidChangeBatch: read again and retry a few times.
        for (int attempt = 1;; ++attempt) {
            std::vector<rw::Change> changes;
            for (const auto& [fqdn, values] : names) {
                auto change = plan(zone, fqdn, values, step);
                if (!change) {
                    return failure(change.error(), "ListResourceRecordSets", fqdn, zone);
                }
                if (*change) {
                    changes.push_back(std::move(**change));
                }
            }
            if (changes.empty()) {
                return {};
            }
            auto batches = rw::split_batches(changes);
            if (!batches) {
                return batches.error();
            }
            std::vector<std::string> change_ids;
            bool conflict = false;
            for (const auto& batch : *batches) {
                const std::string body = rw::change_batch_xml(batch, "renewer dns-01 " + step_name);
                auto xml = call("ChangeResourceRecordSets", "POST",
                                std::string(k_api) + "/hostedzone/" + core::http::url_encode(zone.id) + "/rrset/", {},
                                body);
                if (!xml) {
                    if (xml.error().code == "InvalidChangeBatch" && step == Step::cleanup && attempt < 3) {
                        conflict = true;
                        break;
                    }
                    return failure(xml.error(), "ChangeResourceRecordSets", batch.front().rrset.name, zone);
                }
                auto info = rw::parse_change_info(*xml);
                if (!info) {
                    return info.error();
                }
                change_ids.push_back(info->id);
            }
            for (const auto& id : change_ids) {
                auto status = wait_insync(zone, id);
                if (!status) {
                    return failure(status.error(), "GetChange", names.begin()->first, zone);
                }
            }
            if (!conflict) {
                core::log::debug("route53: change in sync", {{"zone", zone_label(zone)},
                                                             {"step", step_name},
                                                             {"changes", std::to_string(changes.size())}});
                return {};
            }
            core::log::info("route53: TXT set changed while cleaning up; reading it again", {{"zone", zone_label(zone)}});
        }
    }

    // One line naming the domain, the zone and (for AccessDenied) the action.
    core::Error failure(const core::Error& error, const char* action, const std::string& fqdn,
                        const rw::HostedZone& zone) {
        core::Error out = error;
        std::string message = one_line(error.message);
        if (error.code == "AccessDenied") {
            message = "missing IAM permission route53:" + std::string(action) + ": " + message;
        }
        out.message = "route53: " + fqdn + " in zone " + zone_label(zone) + ": " + message;
        return out;
    }

    core::Status apply(const std::vector<TxtRecord>& records, Step step) {
        // zone id -> (zone, name -> values)
        std::map<std::string, std::pair<rw::HostedZone, std::map<std::string, std::vector<std::string>>>> by_zone;
        for (const auto& r : records) {
            const std::string fqdn = wire::canonical_name(r.fqdn);
            auto zone = zone_for(fqdn);
            if (!zone) {
                core::Error e = zone.error();
                e.message = one_line(e.message);
                return e;
            }
            auto& entry = by_zone[zone->id];
            entry.first = *zone;
            auto& values = entry.second[fqdn];
            if (std::find(values.begin(), values.end(), r.value) == values.end()) {
                values.push_back(r.value);
            }
        }
        core::Status first;
        for (const auto& [id, entry] : by_zone) {
            auto status = apply_zone(entry.first, entry.second, step);
            if (!status) {
                if (step == Step::present) {
                    return status;
                }
                if (first.ok()) {
                    first = status;  // cleanup: carry on with the other zones
                }
            }
        }
        return first;
    }

    Route53Settings settings_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<aws::Client>> pool_;
    std::map<std::string, std::vector<rw::HostedZone>> zones_by_name_;
};

}  // namespace

core::Result<Route53Settings> Route53Settings::from_env(const Env& env) {
    Route53Settings s;
    s.hosted_zone_id = env_util::get_or(env, "AWS_HOSTED_ZONE_ID", "");
    TRY_ASSIGN(bool private_zone, env_util::get_flag(env, "AWS_PRIVATE_ZONE", false));
    s.zone_visibility = private_zone ? ZoneVisibility::prefer_private : ZoneVisibility::prefer_public;
    TRY_ASSIGN(long ttl, env_util::get_long(env, "AWS_TTL", 60, 0, 2147483647));
    s.ttl = static_cast<std::uint32_t>(ttl);
    s.assume_role_arn = env_util::get_or(env, "AWS_ASSUME_ROLE_ARN", "");
    s.external_id = env_util::get_or(env, "AWS_EXTERNAL_ID", "");
    s.session_name = env_util::get_or(env, "AWS_ASSUME_ROLE_SESSION_NAME", s.session_name);
    TRY_ASSIGN(double rps, env_util::get_double(env, "AWS_ROUTE53_REQUESTS_PER_SECOND", 4.0, 0.1, 1000.0));
    s.requests_per_second = rps;
    TRY_ASSIGN(long timeout, env_util::get_long(env, "AWS_PROPAGATION_TIMEOUT", 600, 1, 86400));
    s.change_timeout = std::chrono::seconds(timeout);
    TRY_ASSIGN(long poll, env_util::get_long(env, "AWS_POLLING_INTERVAL", 4, 1, 600));
    s.max_poll = std::chrono::seconds(poll);
    return s;
}

core::Result<std::unique_ptr<Provider>> make_route53(Route53Settings settings) {
    if (settings.requests_per_second <= 0) {
        return core::make_error(core::ErrorKind::invalid_input, "route53: the request rate must be positive");
    }
    if (!settings.external_id.empty() && settings.assume_role_arn.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "route53: AWS_EXTERNAL_ID needs AWS_ASSUME_ROLE_ARN");
    }
    return std::unique_ptr<Provider>(std::make_unique<Route53Provider>(std::move(settings)));
}

}  // namespace dns
