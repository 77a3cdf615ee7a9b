#include "dns/propagation.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "core/log.hpp"
#include "core/retry.hpp"
#include "dns/resolver.hpp"

namespace dns {
namespace {

using std::chrono::milliseconds;

std::string quote_list(const std::vector<std::string>& values) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
        out += i == 0 ? "\"" : ", \"";
        for (char c : values[i]) {
            if (c == '"' || c == '\\') {
                out.push_back('\\');
            }
            out.push_back(c);
        }
        out += "\"";
    }
    return out + "]";
}

// "ns1.example.com. (192.0.2.1:53)", or the address alone when overridden.
std::string server_label(const AuthoritativeServer& server) {
    return server.ns_name == server.address ? server.address : server.ns_name + " (" + server.address + ")";
}

std::string duration_text(std::chrono::milliseconds d) {
    if (d < std::chrono::seconds(10)) {
        return std::to_string(d.count()) + "ms";
    }
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
}

// What is still missing at one name on one server.
struct Probe {
    const AuthoritativeServer* server = nullptr;
    std::string fqdn;
    std::string zone;
    std::vector<std::string> expected;
    bool satisfied = false;
    std::string last_answer = "nothing yet";
    std::vector<std::string> missing;
    std::optional<core::Clock::time_point> first_unreachable;
    std::string unreachable_reason;
};

// SIGTERM during the wait: say so, not "no answer before the deadline".
core::Error stopped(const Probe& p, core::Clock::time_point started) {
    const auto waited = std::chrono::duration_cast<milliseconds>(core::Clock::now() - started);
    return core::make_error(core::ErrorKind::cancelled,
                            "propagation check for " + p.fqdn + ": stopped (SIGTERM) after " + duration_text(waited) +
                                " waiting for " + server_label(*p.server) + " (zone " + p.zone + ")");
}

// Nothing listens on the server's port (ICMP port unreachable, TCP reset):
// waiting cannot help, so fail at once and name the setting to fix.
core::Error refused(const Probe& p, const PropagationOptions& options) {
    const std::string fix =
        options.nameservers.empty()
            ? "the zone's NS records name a host that serves no DNS; set --dns-nameservers to the servers that do"
            : "check --dns-nameservers";
    return core::make_error(core::ErrorKind::network,
                            "propagation check for " + p.fqdn + ": nameserver " + server_label(*p.server) +
                                " for zone " + p.zone + " refuses connections (nothing listens on that port): " + fix);
}

core::Result<Resolver> recursive_resolver(const PropagationOptions& options) {
    ResolverOptions ro;
    ro.servers = options.resolver;
    ro.recursion = Recursion::desired;
    ro.try_timeout = options.query_timeout;
    return Resolver::create(ro);
}

}  // namespace

core::Result<std::vector<AuthoritativeServer>> authoritative_servers(const std::string& zone,
                                                                     const PropagationOptions& options,
                                                                     const core::Deadline& deadline) {
    std::vector<AuthoritativeServer> out;
    if (!options.nameservers.empty()) {
        TRY_ASSIGN(std::vector<HostPort> list, parse_host_port_list(options.nameservers));
        for (const auto& hp : list) {
            TRY_ASSIGN(std::vector<std::string> addresses, to_server_addresses(hp));
            for (const auto& a : addresses) {
                out.push_back({a, a});
            }
        }
        return out;
    }
    TRY_ASSIGN(Resolver resolver, recursive_resolver(options));
    TRY_ASSIGN(std::vector<std::string> ns_names, lookup_ns(resolver, zone, deadline));
    for (const auto& ns : ns_names) {
        auto addresses = lookup_addresses(resolver, ns, deadline);
        if (!addresses) {
            return addresses.error().wrap("zone " + wire::canonical_name(zone));
        }
        for (const auto& ip : *addresses) {
            const std::string address = ip.find(':') != std::string::npos ? "[" + ip + "]:53" : ip + ":53";
            out.push_back({ns, address});
        }
    }
    return out;
}

core::Status wait_for_propagation(const std::vector<TxtRecord>& records, const PropagationOptions& options) {
    if (records.empty()) {
        return {};
    }
    const auto started = core::Clock::now();
    const core::Deadline deadline = core::Deadline::after(options.timeout);

    // Expected values per name.
    std::map<std::string, std::vector<std::string>> expected;
    for (const auto& r : records) {
        auto& values = expected[wire::canonical_name(r.fqdn)];
        if (std::find(values.begin(), values.end(), r.value) == values.end()) {
            values.push_back(r.value);
        }
    }

    // Zone of each name, and the zone's servers.
    TRY_ASSIGN(Resolver resolver, recursive_resolver(options));
    std::map<std::string, std::string> zone_of;
    std::map<std::string, std::vector<AuthoritativeServer>> servers_of;
    for (const auto& [fqdn, values] : expected) {
        auto zone = find_zone(resolver, fqdn, deadline);
        if (!zone) {
            return zone.error().wrap("propagation check for " + fqdn);
        }
        zone_of[fqdn] = *zone;
        if (!servers_of.contains(*zone)) {
            auto servers = authoritative_servers(*zone, options, deadline);
            if (!servers) {
                return servers.error().wrap("propagation check for " + fqdn);
            }
            servers_of[*zone] = std::move(*servers);
        }
    }

    // One resolver per server: RD=0, only that server (RFC 1034 §4.3.1 non-recursive query).
    std::map<std::string, Resolver> direct;
    std::vector<Probe> probes;
    for (const auto& [fqdn, values] : expected) {
        for (const auto& server : servers_of[zone_of[fqdn]]) {
            if (!direct.contains(server.address)) {
                ResolverOptions ro;
                ro.servers = server.address;
                ro.recursion = Recursion::off;
                ro.try_timeout = options.query_timeout;
                ro.tries = 1;
                TRY_ASSIGN(Resolver r, Resolver::create(ro));
                direct.emplace(server.address, std::move(r));
            }
            Probe p;
            p.server = &server;
            p.fqdn = fqdn;
            p.zone = zone_of[fqdn];
            p.expected = values;
            p.missing = values;
            probes.push_back(std::move(p));
        }
    }

    milliseconds interval = options.initial_interval;
    auto last_progress = core::Clock::now();
    while (true) {
        std::size_t pending = 0;
        for (auto& p : probes) {
            if (p.satisfied) {
                continue;
            }
            const core::Deadline query_deadline = deadline.min(core::Deadline::after(options.query_timeout * 2));
            auto answer = lookup_txt(direct.at(p.server->address), p.fqdn, query_deadline);
            const auto now = core::Clock::now();
            if (!answer) {
                if (answer.error().kind == core::ErrorKind::cancelled) {
                    return stopped(p, started);
                }
                if (answer.error().code == k_connection_refused) {
                    return refused(p, options);
                }
                if (!p.first_unreachable) {
                    p.first_unreachable = now;
                }
                p.unreachable_reason = answer.error().message;
                p.last_answer = "no answer";
                if (now - *p.first_unreachable >= options.unreachable_grace) {
                    return core::make_error(core::ErrorKind::network, "propagation check for " + p.fqdn +
                                                                          ": nameserver " + server_label(*p.server) +
                                                                          " for zone " + p.zone +
                                                                          " unreachable: " + p.unreachable_reason);
                }
                ++pending;
                continue;
            }
            p.first_unreachable.reset();
            p.missing.clear();
            for (const auto& v : p.expected) {
                if (std::find(answer->values.begin(), answer->values.end(), v) == answer->values.end()) {
                    p.missing.push_back(v);
                }
            }
            p.last_answer = wire::rcode_name(answer->rcode) + (answer->authoritative ? " " : " (not authoritative) ") +
                            quote_list(answer->values);
            // Only an authoritative answer counts (a lame server's referral does not).
            p.satisfied = p.missing.empty() && answer->authoritative;
            if (!p.satisfied) {
                ++pending;
            }
        }
        if (pending == 0) {
            const auto took = std::chrono::duration_cast<milliseconds>(core::Clock::now() - started);
            core::log::debug("dns: records visible on every authoritative server",
                             {{"records", std::to_string(records.size())},
                              {"servers", std::to_string(direct.size())},
                              {"ms", std::to_string(took.count())}});
            return {};
        }
        if (core::log::is_terminal() && core::Clock::now() - last_progress >= options.progress_every) {
            last_progress = core::Clock::now();
            const auto waited = std::chrono::duration_cast<std::chrono::seconds>(core::Clock::now() - started);
            core::log::progress("dns: waiting for " + std::to_string(pending) + " of " + std::to_string(probes.size()) +
                                " (name, nameserver) pairs, " + std::to_string(waited.count()) + "s");
        }
        auto slept = core::sleep_for(interval, deadline);
        if (!slept.ok() && slept.error().kind == core::ErrorKind::cancelled) {
            const auto waiting =
                std::find_if(probes.begin(), probes.end(), [](const Probe& p) { return !p.satisfied; });
            return stopped(*waiting, started);
        }
        if (deadline.expired()) {
            // One line: the first name still missing, with every server still missing it.
            std::string fqdn;
            std::string servers;
            for (const auto& p : probes) {
                if (p.satisfied || (!fqdn.empty() && p.fqdn != fqdn)) {
                    continue;
                }
                if (fqdn.empty()) {
                    fqdn = p.fqdn + " (zone " + p.zone + ")";
                }
                servers += (servers.empty() ? "" : "; ") + server_label(*p.server) + " answered " + p.last_answer +
                           ", missing " + quote_list(p.missing);
            }
            return core::make_error(core::ErrorKind::timeout, "propagation check: " + fqdn + " not visible after " +
                                                                  duration_text(options.timeout) + ": " + servers);
        }
        interval = std::min(options.max_interval, interval * 2);
    }
}

}  // namespace dns
