#include "dns/route53.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>

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

    using Provider::present;
    core::Status present(const std::vector<TxtRecord>& records, PresentLog& log) override {
        return present_all(records, log);
    }
    core::Result<std::size_t> cleanup(const std::vector<TxtRecord>& records) override { return cleanup_all(records); }

    // The hosted zone of `fqdn` and its NS set (ListResourceRecordSets: no
    // permission beyond what a present needs). Nothing to compare for a
    // private zone or one given by id (AWS_HOSTED_ZONE_ID: the user chose it).
    core::Result<std::optional<ZoneInfo>> zone_info(const std::string& fqdn) override {
        if (!settings_.hosted_zone_id.empty()) {
            return std::optional<ZoneInfo>();
        }
        auto zone = zone_for(wire::canonical_name(fqdn));
        if (!zone) {
            core::Error e = zone.error();
            e.message = one_line(e.message);
            return e;
        }
        if (zone->private_zone) {
            return std::optional<ZoneInfo>();
        }
        {
            std::lock_guard lock(mutex_);
            if (auto it = zone_info_.find(zone->id); it != zone_info_.end()) {
                return std::optional<ZoneInfo>(it->second);
            }
        }
        aws::Params query{{"name", zone->name}, {"type", "NS"}, {"maxitems", "1"}};
        auto xml = call("ListResourceRecordSets", "GET",
                        std::string(k_api) + "/hostedzone/" + core::http::url_encode(zone->id) + "/rrset", query, "");
        if (!xml) {
            return failure(xml.error(), "ListResourceRecordSets", zone->name, *zone);
        }
        TRY_ASSIGN(std::optional<rw::RecordSet> ns, rw::parse_record_set(*xml, zone->name, "NS"));
        ZoneInfo info{zone->name, zone_label(*zone), {}};
        for (const auto& v : ns ? ns->values : std::vector<std::string>()) {
            info.nameservers.push_back(wire::canonical_name(v));
        }
        std::sort(info.nameservers.begin(), info.nameservers.end());
        std::lock_guard lock(mutex_);
        zone_info_[zone->id] = info;
        return std::optional<ZoneInfo>(std::move(info));
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
        TRY_ASSIGN(std::string xml,
                   call("ListHostedZonesByName", "GET", std::string(k_api) + "/hostedzonesbyname", query, ""));
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

    // "b.example.com." -> "example.com."; names of one or two labels stay as they are.
    static std::string last_two_labels(const std::string& fqdn) {
        const std::string name = fqdn.ends_with('.') ? fqdn.substr(0, fqdn.size() - 1) : fqdn;
        const auto last = name.rfind('.');
        if (last == std::string::npos || last == 0) {
            return fqdn;
        }
        const auto second = name.rfind('.', last - 1);
        return (second == std::string::npos ? name : name.substr(second + 1)) + ".";
    }

    // Every hosted zone named `base` or below it, from one page of
    // ListHostedZonesByName (cached); nullopt when the page ends inside that
    // subtree (the listing may be incomplete).
    core::Result<std::optional<std::vector<rw::HostedZone>>> zones_below(const std::string& base) {
        {
            std::lock_guard lock(mutex_);
            if (auto it = zones_below_.find(base); it != zones_below_.end()) {
                return it->second;
            }
        }
        aws::Params query{{"dnsname", base}, {"maxitems", "100"}};
        TRY_ASSIGN(std::string xml,
                   call("ListHostedZonesByName", "GET", std::string(k_api) + "/hostedzonesbyname", query, ""));
        TRY_ASSIGN(rw::ZonePage page, rw::parse_hosted_zones(xml));
        std::optional<std::vector<rw::HostedZone>> found(std::in_place);
        bool last_inside = false;
        for (auto& z : page.zones) {
            last_inside = z.name == base || z.name.ends_with("." + base);
            if (last_inside) {
                found->push_back(std::move(z));
            }
        }
        if (page.truncated && last_inside) {
            found.reset();
        }
        std::lock_guard lock(mutex_);
        zones_below_[base] = found;
        if (found) {
            // The walk below may ask for these names: answer from this listing.
            for (const auto& z : *found) {
                auto& named = zones_by_name_[z.name];
                if (std::find_if(named.begin(), named.end(), [&](const rw::HostedZone& h) { return h.id == z.id; }) ==
                    named.end()) {
                    named.push_back(z);
                }
            }
        }
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
        // One ListHostedZonesByName from the last two labels lists that zone
        // and every zone below it (Route53 sorts by reversed labels), so a
        // run needs one call per base domain, not one per name and suffix.
        const std::string base = last_two_labels(fqdn);
        auto under = zones_below(base);
        if (!under) {
            return under.error().wrap("route53: looking up the hosted zone of " + fqdn);
        }
        if (*under) {
            std::vector<rw::HostedZone> matching;
            for (const auto& z : **under) {
                if (fqdn == z.name || fqdn.ends_with("." + z.name)) {
                    matching.push_back(z);
                }
            }
            if (!matching.empty()) {
                return rw::pick_zone(fqdn, matching, settings_.zone_visibility);
            }
        }
        // Not found that way (a zone above the base, or a listing too long to
        // trust): ask for each suffix, longest first.
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
        return core::make_error(core::ErrorKind::not_found, "route53: no hosted zone for " + fqdn + " (none of " +
                                                                tried + " is a hosted zone this account can see)");
    }

    core::Result<std::optional<rw::RecordSet>> read_set(const rw::HostedZone& zone, const std::string& fqdn) {
        aws::Params query{{"name", fqdn}, {"type", "TXT"}, {"maxitems", "10"}};
        TRY_ASSIGN(std::string xml,
                   call("ListResourceRecordSets", "GET",
                        std::string(k_api) + "/hostedzone/" + core::http::url_encode(zone.id) + "/rrset", query, ""));
        return rw::parse_record_set(xml, fqdn, "TXT");
    }

    // What to send for one name: nothing when the set is already as wanted.
    struct Plan {
        std::vector<rw::Change> changes;
        std::size_t ours_there = 0;  // how many of our values the set holds now
    };

    // Compare-and-swap on one TXT set: DELETE of exactly the set read (values
    // and TTL, which Route53 requires to match) plus CREATE of the new set in
    // one change batch, which Route53 applies atomically. When someone else
    // changed the set since we read it, the DELETE no longer matches and the
    // whole batch fails as InvalidChangeBatch: nobody's value is lost, and we
    // read again. A name with no set yet is a plain CREATE, which fails the
    // same way when the set appeared meanwhile. An UPSERT would overwrite.
    core::Result<Plan> plan(const rw::HostedZone& zone, const std::string& fqdn, const std::vector<std::string>& ours,
                            Step step) {
        TRY_ASSIGN(std::optional<rw::RecordSet> current, read_set(zone, fqdn));
        const std::vector<std::string> wanted = quoted(ours);
        Plan out;
        std::vector<std::string> values = current ? current->values : std::vector<std::string>();
        for (const auto& q : wanted) {
            const auto it = std::find(values.begin(), values.end(), q);
            if (it != values.end()) {
                ++out.ours_there;
            }
            if (step == Step::present && it == values.end()) {
                values.push_back(q);
            } else if (step == Step::cleanup && it != values.end()) {
                values.erase(it);
            }
        }
        const bool unchanged = step == Step::present ? out.ours_there == wanted.size() : out.ours_there == 0;
        if (unchanged) {
            return out;
        }
        if (current) {
            out.changes.push_back({rw::Action::remove, *current});
        }
        if (!values.empty()) {
            rw::RecordSet next;
            next.name = fqdn;
            next.ttl = current ? current->ttl : settings_.ttl;  // their TTL stays (RFC 2181 section 5.2)
            next.values = std::move(values);
            out.changes.push_back({rw::Action::create, std::move(next)});
        }
        return out;
    }

    core::Status wait_insync(const rw::HostedZone& zone, const std::string& change_id) {
        const core::Deadline deadline = core::Deadline::after(settings_.change_timeout);
        milliseconds delay = settings_.initial_poll;
        while (true) {
            TRY_ASSIGN(
                std::string xml,
                call("GetChange", "GET", std::string(k_api) + "/change/" + core::http::url_encode(change_id), {}, ""));
            TRY_ASSIGN(rw::ChangeInfo info, rw::parse_change_info(xml));
            if (info.status == "INSYNC") {
                return {};
            }
            if (deadline.expired()) {
                const auto secs = std::chrono::duration_cast<std::chrono::seconds>(settings_.change_timeout).count();
                return core::make_error(core::ErrorKind::timeout, "route53: change " + change_id + " in zone " +
                                                                      zone_label(zone) + " still " + info.status +
                                                                      " after " + std::to_string(secs) +
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

    using Names = std::map<std::string, std::vector<std::string>>;  // fqdn -> our values (unquoted)

    // One zone. The fast path needs no read: present CREATEs each set with
    // just our values, cleanup DELETEs exactly the set this process created.
    // The change goes out through the zone's group commit (below), so the
    // certificates being ordered at the same time share one change batch and
    // one INSYNC wait. When Route53 refuses the batch as InvalidChangeBatch
    // (the set exists already, another writer changed it), the read-first path
    // merges with what is there, as before.
    core::Result<std::size_t> apply_zone(const rw::HostedZone& zone, const Names& names, Step step) {
        auto changes = fast_changes(names, step);
        if (!changes) {
            return apply_zone_read_first(zone, names, step);
        }
        auto status = commit_grouped(zone, std::move(*changes), names.begin()->first);
        if (status.ok()) {
            std::size_t count = 0;
            std::lock_guard lock(mutex_);
            for (const auto& [fqdn, values] : names) {
                count += values.size();
                if (step == Step::present) {
                    created_[fqdn] = quoted(values);
                } else {
                    created_.erase(fqdn);
                }
            }
            // present: none was there (CREATE succeeded); cleanup: the DELETE matched exactly ours.
            return step == Step::present ? 0 : count;
        }
        if (status.error().code != "InvalidChangeBatch") {
            return status.error();
        }
        core::log::debug("route53: set not as expected; reading it first",
                         {{"zone", zone_label(zone)}, {"fqdn", names.begin()->first}});
        {
            std::lock_guard lock(mutex_);
            for (const auto& [fqdn, values] : names) {
                created_.erase(fqdn);
            }
        }
        return apply_zone_read_first(zone, names, step);
    }

    static std::vector<std::string> quoted(const std::vector<std::string>& values) {
        std::vector<std::string> out;
        out.reserve(values.size());
        for (const auto& v : values) {
            out.push_back(rw::quote_txt(v));
        }
        return out;
    }

    // CREATE (present) or DELETE (cleanup of a set this process created with
    // exactly these values); nullopt when the fast path does not apply.
    std::optional<std::vector<rw::Change>> fast_changes(const Names& names, Step step) {
        std::vector<rw::Change> changes;
        std::lock_guard lock(mutex_);
        for (const auto& [fqdn, values] : names) {
            rw::Change change;
            change.rrset.name = fqdn;
            change.rrset.ttl = settings_.ttl;
            change.rrset.values = quoted(values);
            if (step == Step::present) {
                change.action = rw::Action::create;
            } else {
                auto it = created_.find(fqdn);
                if (it == created_.end() || it->second != change.rrset.values) {
                    return std::nullopt;
                }
                change.action = rw::Action::remove;
            }
            changes.push_back(std::move(change));
        }
        return changes;
    }

    // Group commit per zone: the first caller becomes the leader and sends
    // its changes; whoever arrives while that request waits for the rate
    // limiter or Route53 is queued, and the next leader sends the whole queue
    // as one batch (no timer: batches form exactly while a request is in
    // flight). The leader gives the lead up before it waits for INSYNC, so the
    // next batch goes out meanwhile. A batch Route53 refuses is retried one
    // caller at a time, so every caller gets its own result.
    struct Submission {
        std::vector<rw::Change> changes;
        std::string fqdn;  // for messages
        bool taken = false;
        std::optional<core::Status> result;  // written under ZoneQueue::mutex
    };
    struct ZoneQueue {
        std::mutex mutex;
        std::condition_variable done;
        std::vector<Submission*> queue;
        bool leader = false;
    };
    struct Sent {
        std::vector<std::optional<core::Status>> results;  // per submission: final unless waiting
        std::vector<std::string> change_ids;               // the combined change(s) to wait for
        std::vector<bool> waiting;                         // per submission: result follows INSYNC
    };

    core::Status commit_grouped(const rw::HostedZone& zone, std::vector<rw::Change> changes, const std::string& fqdn) {
        std::shared_ptr<ZoneQueue> q;
        {
            std::lock_guard lock(mutex_);
            auto& slot = queues_[zone.id];
            if (!slot) {
                slot = std::make_shared<ZoneQueue>();
            }
            q = slot;
        }
        Submission me{std::move(changes), fqdn, false, std::nullopt};
        std::unique_lock lock(q->mutex);
        q->queue.push_back(&me);
        while (!me.taken) {
            if (q->leader) {
                q->done.wait(lock);
                continue;
            }
            q->leader = true;
            std::vector<Submission*> batch;
            batch.swap(q->queue);
            for (auto* s : batch) {
                s->taken = true;
            }
            lock.unlock();
            Sent sent = send_batch(zone, batch);
            lock.lock();
            for (std::size_t i = 0; i < batch.size(); ++i) {
                if (!sent.waiting[i]) {
                    batch[i]->result = std::move(sent.results[i]);
                }
            }
            q->leader = false;
            q->done.notify_all();
            if (std::find(sent.waiting.begin(), sent.waiting.end(), true) != sent.waiting.end()) {
                lock.unlock();
                core::Status status;
                for (const auto& id : sent.change_ids) {
                    status = wait_insync(zone, id);
                    if (!status) {
                        status = failure(status.error(), "GetChange", batch.front()->fqdn, zone);
                        break;
                    }
                }
                lock.lock();
                for (std::size_t i = 0; i < batch.size(); ++i) {
                    if (sent.waiting[i]) {
                        batch[i]->result = status;
                    }
                }
                q->done.notify_all();
            }
        }
        q->done.wait(lock, [&] { return me.result.has_value(); });
        return *me.result;
    }

    Sent send_batch(const rw::HostedZone& zone, const std::vector<Submission*>& batch) noexcept {
        Sent sent;
        sent.results.resize(batch.size());
        sent.waiting.assign(batch.size(), false);
        try {
            if (batch.size() > 1) {
                std::vector<rw::Change> all;
                for (const auto* s : batch) {
                    all.insert(all.end(), s->changes.begin(), s->changes.end());
                }
                std::vector<std::string> ids;
                auto status = post(zone, all, ids);
                if (status.ok()) {
                    core::log::debug("route53: one change for several certificates",
                                     {{"zone", zone_label(zone)}, {"callers", std::to_string(batch.size())}});
                    sent.change_ids = std::move(ids);
                    for (std::size_t i = 0; i < batch.size(); ++i) {
                        sent.results[i] = core::Status();
                        sent.waiting[i] = !sent.change_ids.empty();
                    }
                    return sent;
                }
            }
            if (batch.size() == 1) {
                std::vector<std::string> ids;
                auto status = post(zone, batch.front()->changes, ids);
                sent.results[0] = status;
                if (status.ok() && !ids.empty()) {
                    sent.change_ids = std::move(ids);
                    sent.waiting[0] = true;
                }
                return sent;
            }
            for (std::size_t i = 0; i < batch.size(); ++i) {
                sent.results[i] = submit(zone, batch[i]->changes, batch[i]->fqdn);
            }
        } catch (const std::exception& e) {
            for (std::size_t i = 0; i < batch.size(); ++i) {
                if (!sent.results[i]) {
                    sent.results[i] =
                        core::Status(core::make_error(core::ErrorKind::internal, std::string("route53: ") + e.what()));
                }
                sent.waiting[i] = false;
            }
        }
        return sent;
    }

    // ChangeResourceRecordSets (split only past Route53's limits); `wait_ids`
    // receives the changes that must reach INSYNC before the values count as
    // live. Only what adds values is waited for: nobody waits for a removed
    // value to vanish (the change is applied; INSYNC follows).
    core::Status post(const rw::HostedZone& zone, const std::vector<rw::Change>& changes,
                      std::vector<std::string>& wait_ids) {
        auto batches = rw::split_batches(changes);
        if (!batches) {
            return batches.error();
        }
        for (const auto& batch : *batches) {
            const std::string body = rw::change_batch_xml(batch, "renewer dns-01");
            auto xml =
                call("ChangeResourceRecordSets", "POST",
                     std::string(k_api) + "/hostedzone/" + core::http::url_encode(zone.id) + "/rrset/", {}, body);
            if (!xml) {
                return failure(xml.error(), "ChangeResourceRecordSets", batch.front().rrset.name, zone);
            }
            auto info = rw::parse_change_info(*xml);
            if (!info) {
                return info.error();
            }
            const bool adds = std::any_of(batch.begin(), batch.end(),
                                          [](const rw::Change& c) { return c.action != rw::Action::remove; });
            if (adds && info->status != "INSYNC") {
                wait_ids.push_back(info->id);
            }
        }
        return {};
    }

    // post(), then INSYNC.
    core::Status submit(const rw::HostedZone& zone, const std::vector<rw::Change>& changes, const std::string& fqdn) {
        std::vector<std::string> change_ids;
        TRY(post(zone, changes, change_ids));
        for (const auto& id : change_ids) {
            auto status = wait_insync(zone, id);
            if (!status) {
                return failure(status.error(), "GetChange", fqdn, zone);
            }
        }
        return {};
    }

    // How often a compare-and-swap that lost to another writer reads again.
    static constexpr int k_cas_attempts = 5;

    // One zone, read first: read each name, then one ChangeResourceRecordSets
    // of compare-and-swap pairs (see plan(); split only past Route53's
    // limits, a pair never), then INSYNC. Returns how many of our values the
    // sets held before the change.
    core::Result<std::size_t> apply_zone_read_first(const rw::HostedZone& zone, const Names& names, Step step) {
        const std::string step_name = step == Step::present ? "present" : "cleanup";
        for (int attempt = 1;; ++attempt) {
            std::vector<rw::Change> changes;
            std::size_t ours_there = 0;
            for (const auto& [fqdn, values] : names) {
                auto planned = plan(zone, fqdn, values, step);
                if (!planned) {
                    return failure(planned.error(), "ListResourceRecordSets", fqdn, zone);
                }
                ours_there += planned->ours_there;
                std::move(planned->changes.begin(), planned->changes.end(), std::back_inserter(changes));
            }
            if (changes.empty()) {
                return ours_there;
            }
            TRY_ASSIGN(auto batches, rw::split_batches(changes));
            std::vector<std::string> change_ids;
            bool conflict = false;
            for (const auto& batch : batches) {
                const std::string body = rw::change_batch_xml(batch, "renewer dns-01 " + step_name);
                auto xml =
                    call("ChangeResourceRecordSets", "POST",
                         std::string(k_api) + "/hostedzone/" + core::http::url_encode(zone.id) + "/rrset/", {}, body);
                if (!xml) {
                    // The set changed since we read it (another writer): read again, a bounded number of times.
                    if (xml.error().code == "InvalidChangeBatch" && attempt < k_cas_attempts) {
                        conflict = true;
                        break;
                    }
                    return failure(xml.error(), "ChangeResourceRecordSets", batch.front().rrset.name, zone);
                }
                TRY_ASSIGN(rw::ChangeInfo info, rw::parse_change_info(*xml));
                if (step == Step::present) {  // a cleanup needs no INSYNC wait (see submit())
                    change_ids.push_back(info.id);
                }
            }
            for (const auto& id : change_ids) {
                auto status = wait_insync(zone, id);
                if (!status) {
                    return failure(status.error(), "GetChange", names.begin()->first, zone);
                }
            }
            if (!conflict) {
                core::log::debug(
                    "route53: change in sync",
                    {{"zone", zone_label(zone)}, {"step", step_name}, {"changes", std::to_string(changes.size())}});
                return ours_there;
            }
            core::log::info("route53: TXT set changed since it was read; reading it again",
                            {{"zone", zone_label(zone)}, {"step", step_name}, {"attempt", std::to_string(attempt)}});
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

    using ByZone = std::map<std::string, std::pair<rw::HostedZone, Names>>;  // zone id -> (zone, names)

    // Every record's hosted zone, before anything is sent.
    core::Result<ByZone> group_by_zone(const std::vector<TxtRecord>& records) {
        ByZone by_zone;
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
        return by_zone;
    }

    static std::vector<TxtRecord> records_of(const Names& names) {
        std::vector<TxtRecord> out;
        for (const auto& [fqdn, values] : names) {
            for (const auto& v : values) {
                out.push_back({fqdn, v});
            }
        }
        return out;
    }

    // How many zones change and wait for INSYNC at once: the pipelined run
    // presents every certificate's values in one call, and customer domains
    // often live in a zone each; one after another, each zone would add a
    // whole INSYNC wait (docs/deployment.md#sizing).
    static constexpr std::size_t k_zones_at_once = 32;

    core::Status present_all(const std::vector<TxtRecord>& records, PresentLog& log) {
        TRY_ASSIGN(ByZone by_zone, group_by_zone(records));
        std::vector<const ByZone::value_type*> zones;
        for (const auto& entry : by_zone) {
            TRY(log.sending(records_of(entry.second.second)));
            zones.push_back(&entry);
        }
        std::vector<core::Status> results(zones.size());
        std::atomic<std::size_t> next{0};
        auto worker = [&] {
            for (std::size_t i = next.fetch_add(1); i < zones.size(); i = next.fetch_add(1)) {
                const auto& [zone, names] = zones[i]->second;
                auto applied = apply_zone(zone, names, Step::present);
                results[i] = applied ? core::Status() : core::Status(applied.error());
            }
        };
        {
            std::vector<std::jthread> pool;
            for (std::size_t t = 1; t < std::min(zones.size(), k_zones_at_once); ++t) {
                pool.emplace_back(worker);
            }
            worker();
        }
        for (auto& status : results) {
            TRY(status);
        }
        return {};
    }

    core::Result<std::size_t> cleanup_all(const std::vector<TxtRecord>& records) {
        TRY_ASSIGN(ByZone by_zone, group_by_zone(records));
        core::Status first;
        std::size_t removed = 0;
        for (const auto& [id, entry] : by_zone) {
            auto count = apply_zone(entry.first, entry.second, Step::cleanup);
            if (count) {
                removed += *count;
            } else if (first.ok()) {
                first = core::Status(count.error());  // carry on with the other zones
            }
        }
        if (!first) {
            return first.error();
        }
        return removed;
    }

    Route53Settings settings_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<aws::Client>> pool_;
    std::map<std::string, std::vector<rw::HostedZone>> zones_by_name_;
    std::map<std::string, std::optional<std::vector<rw::HostedZone>>> zones_below_;  // base -> listing
    std::map<std::string, std::vector<std::string>> created_;   // fqdn -> quoted values this process CREATEd
    std::map<std::string, std::shared_ptr<ZoneQueue>> queues_;  // zone id -> group commit
    std::map<std::string, ZoneInfo> zone_info_;                 // zone id -> name and NS set
};

}  // namespace

namespace {

std::optional<std::string> role_arn_problem(std::string_view text) {
    if (text.rfind("arn:", 0) != 0) {
        return fmt::format("\"{}\" is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", text);
    }
    return std::nullopt;
}

using core::settings::Setting;
using core::settings::Type;

const std::array<Setting, 8> k_route53_settings{{
    {.key = "zone_id",
     .flag = "route53-zone-id",
     .env = "AWS_HOSTED_ZONE_ID",
     .help = "hosted zone id (skips zone discovery)"},
    {.key = "private_zone",
     .flag = "route53-private-zone",
     .env = "AWS_PRIVATE_ZONE",
     .type = Type::boolean,
     .help = "prefer a private hosted zone over a public one of the same name"},
    {.key = "ttl",
     .env = "AWS_TTL",
     .type = Type::integer,
     .min = 1,
     .max = 86400,
     .help = "TTL of new TXT sets, seconds (default 60)"},
    {.key = "assume_role_arn",
     .flag = "route53-assume-role-arn",
     .env = "AWS_ASSUME_ROLE_ARN",
     .help = "role to assume for Route53 calls (the zone's account)",
     .check = role_arn_problem},
    {.key = "external_id",
     .flag = "route53-external-id",
     .env = "AWS_EXTERNAL_ID",
     .help = "external id for the assumed role"},
    {.key = "session_name",
     .env = "AWS_ASSUME_ROLE_SESSION_NAME",
     .help = "session name of the assumed role",
     .in_file = false},
    {.key = "requests_per_second",
     .flag = "route53-rps",
     .env = "AWS_ROUTE53_REQUESTS_PER_SECOND",
     .type = Type::number,
     .min = 0,
     .max = 100,
     .min_exclusive = true,
     .help = "maximum Route53 requests per second of this process (default 4; Route53 allows an account 5)"},
    {.key = "polling_interval",
     .env = "AWS_POLLING_INTERVAL",
     .type = Type::integer,
     .min = 1,
     .max = 600,
     .help = "seconds, the cap of the GetChange backoff (default 4)",
     .in_file = false},
}};

}  // namespace

std::span<const core::settings::Setting> Route53Settings::schema() { return k_route53_settings; }

core::Result<Route53Settings> Route53Settings::from_values(const core::settings::Values& values,
                                                           const std::string& block_origin) {
    namespace settings = core::settings;
    Route53Settings s;
    s.hosted_zone_id = settings::text(values, "zone_id");
    s.zone_visibility = settings::boolean(values, "private_zone", false) ? ZoneVisibility::prefer_private
                                                                         : ZoneVisibility::prefer_public;
    s.ttl = static_cast<std::uint32_t>(settings::integer(values, "ttl", s.ttl));
    s.assume_role_arn = settings::text(values, "assume_role_arn");
    s.external_id = settings::text(values, "external_id");
    s.session_name = settings::text(values, "session_name", s.session_name);
    s.requests_per_second = settings::number(values, "requests_per_second", s.requests_per_second);
    s.max_poll = std::chrono::seconds(settings::integer(values, "polling_interval", 4));
    if (!s.external_id.empty() && s.assume_role_arn.empty()) {
        return settings::settings_error(
            settings::origin(values, "external_id"),
            "needs an assumed role (" + settings::missing_origin(k_route53_settings[3], block_origin) + ")");
    }
    return s;
}

core::Result<Route53Settings> Route53Settings::from_env(const Env& env) {
    TRY_ASSIGN(const auto values, core::settings::read_env(core::settings::flat_block(schema()), env));
    return from_values(values, "");
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
