#include "dns/solver.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "dns/challenge.hpp"
#include "dns/resolver.hpp"
#include "dns/wire.hpp"

namespace dns {
namespace {

using std::chrono::milliseconds;

// Process-wide locks per record name: a provider's read-modify-write of one
// RRSet never interleaves with another's in this process.
class NameLocks {
public:
    static NameLocks& instance() {
        static NameLocks locks;
        return locks;
    }

    class Guard {
    public:
        explicit Guard(std::vector<std::shared_ptr<std::mutex>> mutexes) : mutexes_(std::move(mutexes)) {
            for (auto& m : mutexes_) {
                m->lock();  // in sorted name order: no deadlock between two guards
            }
        }
        ~Guard() {
            for (auto it = mutexes_.rbegin(); it != mutexes_.rend(); ++it) {
                (*it)->unlock();
            }
        }
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;

    private:
        std::vector<std::shared_ptr<std::mutex>> mutexes_;
    };

    Guard lock(const std::vector<TxtRecord>& records) {
        std::set<std::string> names;
        for (const auto& r : records) {
            names.insert(wire::canonical_name(r.fqdn));
        }
        std::vector<std::shared_ptr<std::mutex>> mutexes;
        {
            std::lock_guard lock(mutex_);
            for (const auto& name : names) {
                auto& slot = locks_[name];
                if (!slot) {
                    slot = std::make_shared<std::mutex>();
                }
                mutexes.push_back(slot);
            }
        }
        return Guard(std::move(mutexes));
    }

private:
    std::mutex mutex_;
    std::map<std::string, std::shared_ptr<std::mutex>> locks_;
};

struct Group {
    std::shared_ptr<Provider> provider;
    std::vector<TxtRecord> records;
};

milliseconds since(core::Clock::time_point start) {
    return std::chrono::duration_cast<milliseconds>(core::Clock::now() - start);
}

std::string domain_list(const std::vector<Challenge>& challenges) {
    std::string out;
    std::set<std::string> seen;
    for (const auto& c : challenges) {
        if (seen.insert(c.domain).second) {
            out += (out.empty() ? "" : ", ") + c.domain;
        }
    }
    return out;
}

// How long clean-up may still use the network after SIGTERM (ECS waits 30 s
// before SIGKILL by default): our TXT values must not outlive the run.
constexpr milliseconds k_cleanup_after_cancel{20'000};

// Removes every group's records; returns how many values were there and are
// gone now, or the first failure (after trying every group).
core::Result<std::size_t> cleanup_groups(std::vector<Group>& groups) {
    const core::CancelShield shield(k_cleanup_after_cancel);
    core::Status first;
    std::size_t removed = 0;
    for (auto& g : groups) {
        if (g.records.empty()) {
            continue;
        }
        auto guard = NameLocks::instance().lock(g.records);
        auto count = g.provider->cleanup(g.records);
        if (count) {
            removed += *count;
            continue;
        }
        core::log::warn(
            "dns: cleanup failed",
            {{"provider", g.provider->name()}, {"fqdn", g.records.front().fqdn}, {"error", count.error().message}});
        if (first.ok()) {
            first = core::Status(count.error());
        }
    }
    if (!first) {
        return first.error();
    }
    return removed;
}

// The records grouped by the provider that owns their zone (longest match).
std::vector<Group> group_by_provider(const std::vector<TxtRecord>& records, const std::shared_ptr<Provider>& fallback,
                                     const SolverOptions& options) {
    std::vector<Group> groups;
    for (const auto& r : records) {
        std::shared_ptr<Provider> provider = fallback;
        std::size_t best = 0;
        for (const auto& [zone, p] : options.zone_providers) {
            const std::string z = wire::canonical_name(zone);
            if (wire::is_subdomain(r.fqdn, z) && z.size() > best) {
                best = z.size();
                provider = p;
            }
        }
        auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& g) { return g.provider == provider; });
        if (it == groups.end()) {
            groups.push_back({provider, {}});
            it = std::prev(groups.end());
        }
        it->records.push_back(r);
    }
    return groups;
}

}  // namespace

// Also the journal's PresentLog: the entry holds exactly the values sent.
struct Presentation::State final : PresentLog {
    std::vector<Group> groups;
    std::vector<TxtRecord> records;
    milliseconds present_time{0};
    milliseconds propagation_time{0};
    bool cleaned = false;
    std::shared_ptr<Journal> journal;
    std::string journal_key;
    std::string journal_id;
    std::vector<TxtRecord> sent;  // what may exist now: sent and not refused
    std::mutex log_mutex;         // present_sets() may present several sets at once

    // Written before the change goes out: a run killed after it leaves the next run these values to remove.
    core::Status sending(const std::vector<TxtRecord>& batch) override {
        const std::lock_guard lock(log_mutex);
        const std::size_t before = sent.size();
        for (const auto& r : batch) {
            if (std::find(sent.begin(), sent.end(), r) == sent.end()) {
                sent.push_back(r);
            }
        }
        auto status = journal_sent();
        if (!status) {
            sent.resize(before);  // not journalled, so the provider does not send it
        }
        return status;
    }

    void refused(const std::vector<TxtRecord>& batch) override {
        const std::lock_guard lock(log_mutex);
        std::erase_if(sent,
                      [&](const TxtRecord& r) { return std::find(batch.begin(), batch.end(), r) != batch.end(); });
        if (auto status = journal_sent(); !status) {
            core::log::warn("dns: could not update a journal entry", {{"error", status.error().message}});
        }
    }

    core::Status journal_sent() {
        if (!journal) {
            return {};
        }
        if (sent.empty()) {
            forget();
            return {};
        }
        if (journal_id.empty()) {
            TRY_ASSIGN(journal_id, journal->add(journal_key, sent));
            return {};
        }
        return journal->replace(journal_id, journal_key, sent);
    }

    void forget() {
        if (journal && !journal_id.empty()) {
            if (auto removed = journal->remove(journal_id); !removed) {
                core::log::warn("dns: could not forget a journal entry", {{"error", removed.error().message}});
            }
            journal_id.clear();
        }
    }

    // Cleans `which` up; once everything presented is gone, the journal
    // entry goes too (a failed clean-up keeps it for the next run).
    core::Status clean(std::vector<Group>& which) {
        cleaned = true;
        auto removed = cleanup_groups(which);
        if (!removed) {
            return core::Status(removed.error());
        }
        forget();
        return {};
    }
};

Presentation::Presentation(std::unique_ptr<State> state) : state_(std::move(state)) {}
Presentation::Presentation(Presentation&&) noexcept = default;
namespace {

// Clean-up from a destructor or a move: logged, never thrown (a throwing
// destructor would terminate the run with the TXT values still there).
void cleanup_quietly(Presentation& presentation) noexcept {
    try {
        auto status = presentation.cleanup();
        if (!status) {
            core::log::error("dns: cleanup on scope exit failed", {{"error", status.error().message}});
        }
    } catch (const std::exception& e) {
        try {
            core::log::error("dns: cleanup on scope exit failed", {{"error", e.what()}});
        } catch (...) {  // NOLINT(bugprone-empty-catch): nothing is left to report with
        }
    }
}

}  // namespace

Presentation& Presentation::operator=(Presentation&& other) noexcept {
    if (this != &other) {
        if (state_ && !state_->cleaned) {
            cleanup_quietly(*this);
        }
        state_ = std::move(other.state_);
    }
    return *this;
}

Presentation::~Presentation() {
    if (state_ && !state_->cleaned) {
        cleanup_quietly(*this);
    }
}

core::Status Presentation::cleanup() {
    if (!state_ || state_->cleaned) {
        return {};
    }
    return state_->clean(state_->groups);
}

const std::vector<TxtRecord>& Presentation::records() const { return state_->records; }
milliseconds Presentation::present_time() const { return state_->present_time; }
milliseconds Presentation::propagation_time() const { return state_->propagation_time; }

Solver::Solver(std::shared_ptr<Provider> provider, SolverOptions options)
    : provider_(std::move(provider)), options_(std::move(options)) {}

core::Result<std::string> Solver::record_name(const std::string& domain) const {
    const std::string fqdn = challenge_fqdn(domain);
    ResolverOptions ro;
    ro.servers = options_.propagation.resolver;
    ro.recursion = Recursion::desired;
    ro.try_timeout = options_.propagation.query_timeout;
    if (options_.cname == CnameMode::ignore) {
        if (options_.propagation_mode == PropagationMode::check) {
            TRY(check_no_cname(ro, fqdn));
        }
        return fqdn;
    }
    TRY_ASSIGN(Resolver resolver, Resolver::create(ro));
    const auto deadline = core::Deadline::after(options_.propagation.query_timeout * 8);
    auto target = follow_cname(resolver, fqdn, deadline);
    if (!target) {
        return target.error().wrap("CNAME look-up of " + fqdn + " (turn delegation off to skip it)");
    }
    if (*target != fqdn) {
        core::log::info("dns: _acme-challenge delegated by CNAME",
                        {{"domain", domain}, {"from", fqdn}, {"to", *target}});
    }
    return target;
}

// With delegation off, a CNAME at the record name means the TXT value is
// written beside it and never served (RFC 1034 section 3.6.2: a CNAME has no
// other data; RFC 2136 section 3.4.1.2 servers ignore the add silently): say so
// now instead of after the whole propagation timeout. A look-up that fails is
// left to the propagation check.
core::Status Solver::check_no_cname(const ResolverOptions& ro, const std::string& fqdn) const {
    auto resolver = Resolver::create(ro);
    if (!resolver) {
        return {};
    }
    const auto deadline = core::Deadline::after(options_.propagation.query_timeout * 2);
    auto answer = resolver->query(fqdn, wire::RrType::cname, deadline);
    if (!answer) {
        core::log::debug("dns: CNAME check skipped", {{"fqdn", fqdn}, {"error", answer.error().message}});
        return {};
    }
    for (const auto& rr : answer->answers) {
        if (rr.type == static_cast<std::uint16_t>(wire::RrType::cname) && wire::canonical_name(rr.name) == fqdn) {
            auto target = answer->name_at(rr.rdata_offset);
            return core::make_error(
                core::ErrorKind::invalid_input,
                fqdn + " is a CNAME to " + (target ? wire::canonical_name(*target) : "another name") +
                    ", and CNAME delegation is off (--no-cname-follow, or \"follow_cname\": false): "
                    "the TXT value would never be served; drop --no-cname-follow");
        }
    }
    return {};
}

namespace {

std::string name_list(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
        out += (out.empty() ? "" : ", ") + n;
    }
    return "[" + out + "]";
}

// The public zone of `fqdn` and its NS set, from the resolver; nullopt when
// the look-up fails (the propagation check reports that).
struct PublicZone {
    std::string name;
    std::vector<std::string> nameservers;
};
std::optional<PublicZone> public_zone(Resolver& resolver, const std::string& fqdn, const core::Deadline& deadline) {
    auto zone = find_zone(resolver, fqdn, deadline);
    if (!zone) {
        core::log::debug("dns: delegation check skipped", {{"fqdn", fqdn}, {"error", zone.error().message}});
        return std::nullopt;
    }
    auto ns = lookup_ns(resolver, *zone, deadline);
    if (!ns) {
        core::log::debug("dns: delegation check skipped", {{"fqdn", fqdn}, {"error", ns.error().message}});
        return std::nullopt;
    }
    return PublicZone{*zone, *ns};
}

// One line when the provider's zone is not where public DNS leads.
core::Status compare_delegation(const std::string& fqdn, const ZoneInfo& ours, const PublicZone& pub,
                                const std::string& provider) {
    if (pub.name != ours.name) {
        const std::string why = wire::is_subdomain(pub.name, ours.name)
                                    ? "the child zone " + pub.name + " is delegated elsewhere"
                                    : "zone " + ours.name + " is not delegated; public DNS answers from " + pub.name;
        return core::make_error(core::ErrorKind::invalid_input,
                                provider + " writes " + fqdn + " into hosted zone " + ours.label +
                                    ", but public DNS serves it from zone " + pub.name + " (" + why +
                                    "): the TXT value would never be seen; write it in the zone public DNS uses");
    }
    const bool shared = std::any_of(pub.nameservers.begin(), pub.nameservers.end(), [&](const std::string& ns) {
        return std::find(ours.nameservers.begin(), ours.nameservers.end(), ns) != ours.nameservers.end();
    });
    if (!shared && !ours.nameservers.empty()) {
        return core::make_error(core::ErrorKind::invalid_input,
                                provider + " writes " + fqdn + " into hosted zone " + ours.label + ", served by " +
                                    name_list(ours.nameservers) + ", but public DNS delegates zone " + pub.name +
                                    " to " + name_list(pub.nameservers) +
                                    " (a stale delegation, or another hosted zone of that name): the TXT value "
                                    "would never be seen; fix the NS records at the parent or pick the zone "
                                    "(--route53-zone-id)");
    }
    return {};
}

}  // namespace

// Stale delegation: the provider's zone must be the zone public DNS leads
// to, or the propagation check could only time out
// (docs/dns-providers.md#stale-delegation).
core::Status Solver::check_delegation(const std::vector<TxtRecord>& records) const {
    if (options_.propagation_mode != PropagationMode::check) {
        return {};
    }
    std::optional<Resolver> resolver;
    const auto deadline = core::Deadline::after(options_.propagation.query_timeout * 8);
    std::map<std::string, std::optional<PublicZone>> seen;  // our zone -> public view
    for (const auto& g : group_by_provider(records, provider_, options_)) {
        for (const auto& r : g.records) {
            TRY_ASSIGN(std::optional<ZoneInfo> ours, g.provider->zone_info(r.fqdn));
            if (!ours) {
                continue;
            }
            if (!resolver) {
                ResolverOptions ro;
                ro.servers = options_.propagation.resolver;
                ro.try_timeout = options_.propagation.query_timeout;
                TRY_ASSIGN(Resolver created, Resolver::create(ro));
                resolver.emplace(std::move(created));
            }
            auto [it, fresh] = seen.try_emplace(ours->name + "|" + r.fqdn);
            if (fresh) {
                it->second = public_zone(*resolver, wire::canonical_name(r.fqdn), deadline);
            }
            if (it->second) {
                TRY(compare_delegation(wire::canonical_name(r.fqdn), *ours, *it->second, g.provider->name()));
            }
        }
    }
    return {};
}

core::Result<Presentation> Solver::present(const std::vector<Challenge>& challenges) {
    const std::string domains = domain_list(challenges);
    const auto started = core::Clock::now();
    auto state = std::make_unique<Presentation::State>();

    // 1. Names (RFC 8555 §8.4), CNAME delegation, de-duplication.
    std::map<std::string, std::string> name_of;  // domain without "*." -> record name
    for (const auto& c : challenges) {
        const std::string base = c.domain.starts_with("*.") ? c.domain.substr(2) : c.domain;
        if (!name_of.contains(base)) {
            auto name = record_name(base);
            if (!name) {
                return name.error().wrap("dns-01 for " + c.domain);
            }
            name_of[base] = *name;
        }
        TxtRecord record{name_of[base], c.value};
        if (std::find(state->records.begin(), state->records.end(), record) == state->records.end()) {
            state->records.push_back(std::move(record));
        }
    }

    // 2. Route each record to its provider (longest matching zone wins), and
    // check that each provider's zone is the one public DNS leads to.
    state->groups = group_by_provider(state->records, provider_, options_);
    if (auto delegation = check_delegation(state->records); !delegation) {
        return delegation.error().wrap("dns-01 for " + domains);
    }
    state->journal = journal_;
    state->journal_key = journal_key_;

    // 3. One present per provider; it makes one change per zone, journalled
    // (through the state's PresentLog) just before it is sent.
    for (auto& g : state->groups) {
        core::Status status;
        {
            auto guard = NameLocks::instance().lock(g.records);
            status = g.provider->present(g.records, *state);
        }
        if (!status) {
            // Clean up whatever was sent, this group's possibly partial change included.
            auto sent = group_by_provider(state->sent, provider_, options_);
            (void)state->clean(sent);
            return status.error().wrap("dns-01 for " + domains);
        }
    }
    state->present_time = since(started);

    // 4. Visible on every authoritative server.
    if (options_.propagation_mode == PropagationMode::check) {
        const auto check_started = core::Clock::now();
        auto status = wait_for_propagation(state->records, options_.propagation);
        if (!status) {
            (void)state->clean(state->groups);
            return status.error().wrap("dns-01 for " + domains);
        }
        state->propagation_time = since(check_started);
    }
    core::log::info("dns: TXT records live", {{"domains", domains},
                                              {"records", std::to_string(state->records.size())},
                                              {"present_ms", std::to_string(state->present_time.count())},
                                              {"propagation_ms", std::to_string(state->propagation_time.count())}});
    return Presentation(std::move(state));
}

// The set's records after CNAME delegation, de-duplicated; `name_of`
// caches the look-ups across sets (RFC 8555 §8.4: apex and wildcard share a name).
core::Result<std::vector<TxtRecord>> Solver::set_records(const std::vector<Challenge>& set,
                                                         std::map<std::string, std::string>& name_of) const {
    std::vector<TxtRecord> out;
    for (const auto& c : set) {
        const std::string base = c.domain.starts_with("*.") ? c.domain.substr(2) : c.domain;
        auto it = name_of.find(base);
        if (it == name_of.end()) {
            auto name = record_name(base);
            if (!name) {
                return name.error().wrap("dns-01 for " + c.domain);
            }
            it = name_of.emplace(base, *name).first;
        }
        TxtRecord record{it->second, c.value};
        if (std::find(out.begin(), out.end(), record) == out.end()) {
            out.push_back(std::move(record));
        }
    }
    return out;
}

namespace {

std::vector<TxtRecord> live_records(const std::vector<std::vector<TxtRecord>>& records,
                                    const std::vector<core::Status>& outcomes) {
    std::vector<TxtRecord> all;
    std::set<std::pair<std::string, std::string>> seen;
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (!outcomes[i]) {
            continue;
        }
        for (const auto& r : records[i]) {
            if (seen.emplace(r.fqdn, r.value).second) {
                all.push_back(r);
            }
        }
    }
    return all;
}

std::size_t live_count(const std::vector<core::Status>& outcomes) {
    return static_cast<std::size_t>(std::count_if(outcomes.begin(), outcomes.end(), [](auto& o) { return o.ok(); }));
}

// Sends `records` through the provider of each (one present per provider).
core::Status present_through(const std::vector<Group>& groups, PresentLog& log) {
    for (const auto& g : groups) {
        auto guard = NameLocks::instance().lock(g.records);
        TRY(g.provider->present(g.records, log));
    }
    return {};
}

// Runs fn(i) for every i < count on at most `threads` threads.
template <typename Fn>
void each_parallel(std::size_t count, std::size_t threads, Fn fn) {
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (std::size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
            fn(i);
        }
    };
    std::vector<std::jthread> pool;
    for (std::size_t t = 0; t < std::min(count, threads); ++t) {
        pool.emplace_back(worker);
    }
}

// How many sets present or check on their own at once once the whole
// batch failed (finding which set the failure belongs to).
constexpr std::size_t k_isolation_threads = 16;

}  // namespace

// The delegation check of every live set at once; when it fails, each set on
// its own so only the sets at fault fail.
void Solver::check_sets_delegation(const std::vector<std::vector<TxtRecord>>& records,
                                   const std::vector<std::string>& labels, std::vector<core::Status>& outcomes) const {
    if (auto all = check_delegation(live_records(records, outcomes)); all.ok()) {
        return;
    }
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (outcomes[i]) {
            if (auto one = check_delegation(records[i]); !one) {
                outcomes[i] = one.error().wrap("dns-01 for " + labels[i]);
            }
        }
    }
}

// One present per provider for every live set; when the provider refuses
// the whole, what was sent is removed and each set is presented on its own
// (several at once), so a set the provider cannot write (no hosted zone, no
// permission) fails alone.
void Solver::present_sets_records(Presentation::State& state, const std::vector<std::vector<TxtRecord>>& records,
                                  const std::vector<std::string>& labels, std::vector<core::Status>& outcomes) const {
    state.records = live_records(records, outcomes);
    state.groups = group_by_provider(state.records, provider_, options_);
    auto status = present_through(state.groups, state);
    if (status.ok()) {
        return;
    }
    std::vector<std::size_t> live;
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (outcomes[i]) {
            live.push_back(i);
        }
    }
    auto sent = group_by_provider(state.sent, provider_, options_);
    (void)state.clean(sent);
    state.cleaned = false;  // the sets presented again below are cleaned up later
    if (live.size() == 1) {
        outcomes[live.front()] = status.error().wrap("dns-01 for " + labels[live.front()]);
        return;
    }
    core::log::warn("dns: the combined change failed; presenting each certificate on its own",
                    {{"error", status.error().message}, {"certificates", std::to_string(live.size())}});
    each_parallel(live.size(), k_isolation_threads, [&](std::size_t k) {
        const std::size_t i = live[k];
        auto one = present_through(group_by_provider(records[i], provider_, options_), state);
        if (!one) {
            outcomes[i] = one.error().wrap("dns-01 for " + labels[i]);
        }
    });
}

// One propagation wait for every live set; when it fails, each set is
// checked again on its own (the ones already visible pass at the first
// poll), so only the sets at fault fail.
void Solver::wait_sets_visible(const std::vector<std::vector<TxtRecord>>& records,
                               const std::vector<std::string>& labels, std::vector<core::Status>& outcomes) const {
    if (options_.propagation_mode != PropagationMode::check) {
        return;
    }
    const auto started = core::Clock::now();
    auto status = wait_for_propagation(live_records(records, outcomes), options_.propagation);
    if (status.ok()) {
        return;
    }
    if (live_count(outcomes) == 1) {
        for (std::size_t i = 0; i < records.size(); ++i) {
            if (outcomes[i]) {
                outcomes[i] = status.error().wrap("dns-01 for " + labels[i]);
            }
        }
        return;
    }
    PropagationOptions again = options_.propagation;
    again.timeout = std::max(options_.propagation.timeout - since(started), options_.propagation.max_interval * 3);
    each_parallel(records.size(), k_isolation_threads, [&](std::size_t i) {
        if (!outcomes[i]) {
            return;
        }
        if (auto one = wait_for_propagation(records[i], again); !one) {
            outcomes[i] = one.error().wrap("dns-01 for " + labels[i]);
        }
    });
}

SetsPresentation Solver::present_sets(const std::vector<std::vector<Challenge>>& sets) {
    const auto started = core::Clock::now();
    auto state = std::make_unique<Presentation::State>();
    state->journal = journal_;
    state->journal_key = journal_key_;
    std::vector<core::Status> outcomes(sets.size());
    std::vector<std::vector<TxtRecord>> records(sets.size());
    std::vector<std::string> labels;  // the set's domains, for messages
    std::map<std::string, std::string> name_of;
    for (std::size_t i = 0; i < sets.size(); ++i) {
        labels.push_back(domain_list(sets[i]));
        auto made = set_records(sets[i], name_of);
        if (made) {
            records[i] = std::move(*made);
        } else {
            outcomes[i] = made.error();
        }
    }
    check_sets_delegation(records, labels, outcomes);
    if (live_count(outcomes) > 0) {
        present_sets_records(*state, records, labels, outcomes);
    }
    state->present_time = since(started);
    const auto check_started = core::Clock::now();
    if (live_count(outcomes) > 0) {
        wait_sets_visible(records, labels, outcomes);
    }
    state->propagation_time = since(check_started);
    core::log::info("dns: TXT records live", {{"certificates", std::to_string(live_count(outcomes))},
                                              {"failed", std::to_string(sets.size() - live_count(outcomes))},
                                              {"records", std::to_string(state->records.size())},
                                              {"present_ms", std::to_string(state->present_time.count())},
                                              {"propagation_ms", std::to_string(state->propagation_time.count())}});
    return SetsPresentation{Presentation(std::move(state)), std::move(outcomes)};
}

void Solver::set_journal(std::shared_ptr<Journal> journal, std::string key) {
    journal_ = std::move(journal);
    journal_key_ = std::move(key);
}

core::Result<std::size_t> Solver::remove(const std::vector<TxtRecord>& records) {
    auto groups = group_by_provider(records, provider_, options_);
    return cleanup_groups(groups);
}

core::Result<DnsTestReport> run_dns_test(std::shared_ptr<Provider> provider, const SolverOptions& options,
                                         const std::string& domain) {
    const auto started = core::Clock::now();
    DnsTestReport report;
    report.domain = domain;
    // A value shaped like a real one (43 base64url characters), random so runs never collide.
    report.value = core::base64url_encode(core::random_bytes(32));
    Solver solver(std::move(provider), options);
    TRY_ASSIGN(Presentation presentation, solver.present({{domain, report.value}}));
    report.fqdn = presentation.records().front().fqdn;
    report.present_time = presentation.present_time();
    report.propagation_time = presentation.propagation_time();
    const auto cleanup_started = core::Clock::now();
    auto status = presentation.cleanup();
    if (!status) {
        return status.error().wrap("dns-test for " + domain + ": cleanup");
    }
    report.cleanup_time = since(cleanup_started);
    report.total_time = since(started);
    return report;
}

}  // namespace dns
