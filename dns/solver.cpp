#include "dns/solver.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

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

core::Status cleanup_groups(std::vector<Group>& groups) {
    const core::CancelShield shield(k_cleanup_after_cancel);
    core::Status first;
    for (auto& g : groups) {
        if (g.records.empty()) {
            continue;
        }
        auto guard = NameLocks::instance().lock(g.records);
        auto status = g.provider->cleanup(g.records);
        if (!status) {
            core::log::warn("dns: cleanup failed", {{"provider", g.provider->name()},
                                                    {"fqdn", g.records.front().fqdn},
                                                    {"error", status.error().message}});
            if (first.ok()) {
                first = status;
            }
        }
    }
    return first;
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

struct Presentation::State {
    std::vector<Group> groups;
    std::vector<TxtRecord> records;
    milliseconds present_time{0};
    milliseconds propagation_time{0};
    bool cleaned = false;
    std::shared_ptr<Journal> journal;
    std::string journal_id;

    // Cleans `which` up; once everything presented is gone, the journal
    // entry goes too (a failed clean-up keeps it for the next run).
    core::Status clean(std::vector<Group>& which) {
        cleaned = true;
        auto status = cleanup_groups(which);
        if (status.ok() && journal && !journal_id.empty()) {
            if (auto removed = journal->remove(journal_id); !removed) {
                core::log::warn("dns: could not forget a journal entry", {{"error", removed.error().message}});
            }
            journal_id.clear();
        }
        return status;
    }
};

Presentation::Presentation(std::unique_ptr<State> state) : state_(std::move(state)) {}
Presentation::Presentation(Presentation&&) noexcept = default;
Presentation& Presentation::operator=(Presentation&& other) noexcept {
    if (this != &other) {
        if (state_ && !state_->cleaned) {
            (void)cleanup();
        }
        state_ = std::move(other.state_);
    }
    return *this;
}

Presentation::~Presentation() {
    if (state_ && !state_->cleaned) {
        auto status = cleanup();
        if (!status) {
            core::log::error("dns: cleanup on scope exit failed", {{"error", status.error().message}});
        }
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
    if (options_.cname == CnameMode::ignore) {
        return fqdn;
    }
    ResolverOptions ro;
    ro.servers = options_.propagation.resolver;
    ro.recursion = Recursion::desired;
    ro.try_timeout = options_.propagation.query_timeout;
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

    // 2. Route each record to its provider (longest matching zone wins).
    state->groups = group_by_provider(state->records, provider_, options_);

    // Journal first: if the run dies after the change, the next run knows.
    if (journal_) {
        auto id = journal_->add(journal_key_, state->records);
        if (!id) {
            return id.error().wrap("dns-01 for " + domains);
        }
        state->journal = journal_;
        state->journal_id = *id;
    }

    // 3. One present per provider; it makes one change per zone.
    for (std::size_t i = 0; i < state->groups.size(); ++i) {
        auto& g = state->groups[i];
        core::Status status;
        {
            auto guard = NameLocks::instance().lock(g.records);
            status = g.provider->present(g.records);
        }
        if (!status) {
            // Clean up everything presented so far, this group included (it may be partly applied).
            std::vector<Group> done(state->groups.begin(), state->groups.begin() + static_cast<long>(i) + 1);
            (void)state->clean(done);
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

void Solver::set_journal(std::shared_ptr<Journal> journal, std::string key) {
    journal_ = std::move(journal);
    journal_key_ = std::move(key);
}

core::Status Solver::remove(const std::vector<TxtRecord>& records) {
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
