// DNS look-ups over c-ares (libc-ares 1.18): one RAII channel per Resolver,
// driven with poll() and bounded by a core::Deadline. c-ares does the
// transport (UDP, TCP on truncation, retries); answers are read with
// dns::wire. Used by the propagation checker, the CNAME-delegation step of
// the solver and the RFC 2136 provider (zone discovery).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/retry.hpp"
#include "dns/wire.hpp"

namespace dns {

// "host", "host:port", "[v6]:port" -> host and port (`default_port` when none).
struct HostPort {
    std::string host;
    int port = 53;
};
core::Result<HostPort> parse_host_port(std::string_view text, int default_port = 53);
// Splits "a:1,b:2" (commas or spaces) and parses each.
core::Result<std::vector<HostPort>> parse_host_port_list(std::string_view text, int default_port = 53);
// "1.2.3.4:53" / "[::1]:53": the form c-ares takes. A host name is resolved
// with the system resolver (getaddrinfo), every address kept.
core::Result<std::vector<std::string>> to_server_addresses(const HostPort& server);

enum class Recursion {
    desired,  // RD=1: ask a recursive resolver
    off,      // RD=0: ask an authoritative server directly
};

struct ResolverOptions {
    // Servers as "ip:port[,ip:port]" (see to_server_addresses); empty = the
    // system's (/etc/resolv.conf).
    std::string servers;
    Recursion recursion = Recursion::desired;
    std::chrono::milliseconds try_timeout{1'500};  // per try, c-ares ARES_OPT_TIMEOUTMS
    int tries = 2;                                 // c-ares ARES_OPT_TRIES
};

// Error::code of a query the server's port refused (nothing listens there).
inline constexpr const char* k_connection_refused = "ECONNREFUSED";

class Resolver {
public:
    // Errors: invalid_input for a bad server list, internal when c-ares cannot start.
    static core::Result<Resolver> create(ResolverOptions options);
    ~Resolver();
    Resolver(Resolver&&) noexcept;
    Resolver& operator=(Resolver&&) noexcept;
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // One query (class IN). Any DNS answer, whatever its RCODE, is a Message;
    // errors: network (unreachable, refused: code k_connection_refused),
    // timeout (no answer in time or deadline), cancelled (SIGTERM: "stopped").
    core::Result<wire::Message> query(std::string_view name, wire::RrType type,
                                      const core::Deadline& deadline = core::Deadline::never());

    // The servers as given (or "system resolver"), for messages.
    const std::string& describe() const;

private:
    struct Impl;
    explicit Resolver(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// The zone apex that holds `fqdn` (RFC 1034 §4.3.2 zone cut): the SOA owner
// named in the answer or authority section, walking up label by label.
// Returns the canonical apex ("example.com.").
core::Result<std::string> find_zone(Resolver& resolver, std::string_view fqdn, const core::Deadline& deadline);

// The zone's NS names (canonical, sorted).
core::Result<std::vector<std::string>> lookup_ns(Resolver& resolver, std::string_view zone,
                                                 const core::Deadline& deadline);

// A and AAAA addresses of `host` (text form, A first).
core::Result<std::vector<std::string>> lookup_addresses(Resolver& resolver, std::string_view host,
                                                        const core::Deadline& deadline);

// Follows a CNAME chain from `fqdn` (at most 16 links) and returns the final
// name (canonical); `fqdn` itself when it is not an alias. A loop is an error.
core::Result<std::string> follow_cname(Resolver& resolver, std::string_view fqdn, const core::Deadline& deadline);

// What one server said about TXT at a name.
struct TxtAnswer {
    int rcode = 0;
    bool authoritative = false;
    std::vector<std::string> values;  // each record's strings concatenated
};
core::Result<TxtAnswer> lookup_txt(Resolver& resolver, std::string_view fqdn, const core::Deadline& deadline);

}  // namespace dns
