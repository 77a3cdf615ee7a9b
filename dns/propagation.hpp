// Propagation check: after the provider reports a change applied, ask every
// authoritative server of the zone directly (RD=0) until each returns every
// expected TXT value. Polls with backoff, bounded by a deadline; prints a
// progress line every few seconds on a terminal.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "core/retry.hpp"
#include "dns/provider.hpp"

namespace dns {

struct PropagationOptions {
    // Recursive resolver "ip:port[,ip:port]" for the SOA, NS, CNAME and
    // address look-ups; empty = the system's (/etc/resolv.conf).
    std::string resolver;
    // Replaces the authoritative servers' addresses: "ip:port[,ip:port]". Every
    // zone is then checked against exactly these servers (test servers do not
    // listen on port 53). Empty = the addresses of the zone's NS set.
    std::string nameservers;
    std::chrono::milliseconds timeout{300'000};      // whole check
    std::chrono::milliseconds initial_interval{50};  // first poll gap
    std::chrono::milliseconds max_interval{2'000};   // poll gap cap
    std::chrono::milliseconds query_timeout{1'500};  // one DNS try
    // A server that has not answered at all for this long fails the check at
    // once, naming it (instead of waiting for the whole timeout).
    std::chrono::milliseconds unreachable_grace{10'000};
    std::chrono::milliseconds progress_every{3'000};
};

// One authoritative server of a zone.
struct AuthoritativeServer {
    std::string ns_name;  // "ns1.example.com." (the override's address when overridden)
    std::string address;  // "ip:port" as c-ares takes it
};

// The zone's authoritative servers: the NS set resolved to addresses, or the override.
core::Result<std::vector<AuthoritativeServer>> authoritative_servers(const std::string& zone,
                                                                     const PropagationOptions& options,
                                                                     const core::Deadline& deadline);

// Waits until every record is visible on every authoritative server of its
// zone. Errors (one line each):
//   timeout  "... _acme-challenge.example.com. (zone example.com.) not visible on ns1... (ip:port): answered [..], missing [..]"
//   network  "... nameserver ns1... (ip:port) for zone example.com. unreachable ..."
core::Status wait_for_propagation(const std::vector<TxtRecord>& records, const PropagationOptions& options);

}  // namespace dns
