#include "dns/resolver.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>

#include "core/c_handle.hpp"

namespace dns {
namespace {

// Process-wide c-ares initialisation (ares_library_init, once).
core::Status init_cares() {
    static std::once_flag once;
    static int status = ARES_SUCCESS;
    std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (status != ARES_SUCCESS) {
        return core::make_error(core::ErrorKind::internal, std::string("c-ares: ") + ares_strerror(status));
    }
    return {};
}

using ChannelPtr = core::CHandle<ares_channeldata, ares_destroy>;
using AresBuffer = core::CHandle<unsigned char, ares_free_string>;

struct Pending {
    bool done = false;
    int status = ARES_SUCCESS;
    std::string answer;
};

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* pending = static_cast<Pending*>(arg);
    pending->done = true;
    pending->status = status;
    if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
        pending->answer.assign(reinterpret_cast<const char*>(abuf), static_cast<std::size_t>(alen));
    }
}

bool is_ipv6(std::string_view host) { return host.find(':') != std::string_view::npos; }

std::string format_server(const std::string& ip, int port) {
    return is_ipv6(ip) ? "[" + ip + "]:" + std::to_string(port) : ip + ":" + std::to_string(port);
}

std::string type_name(wire::RrType type) {
    switch (type) {
        case wire::RrType::a: return "A";
        case wire::RrType::ns: return "NS";
        case wire::RrType::cname: return "CNAME";
        case wire::RrType::soa: return "SOA";
        case wire::RrType::txt: return "TXT";
        case wire::RrType::aaaa: return "AAAA";
        case wire::RrType::tsig: return "TSIG";
    }
    return "TYPE" + std::to_string(static_cast<int>(type));
}

std::string parent_of(const std::string& canonical) {
    const auto dot = canonical.find('.');
    if (dot == std::string::npos || dot + 1 >= canonical.size()) {
        return ".";
    }
    return canonical.substr(dot + 1);
}

}  // namespace

core::Result<HostPort> parse_host_port(std::string_view text, int default_port) {
    HostPort out;
    out.port = default_port;
    std::string_view rest = text;
    while (!rest.empty() && rest.front() == ' ') {
        rest.remove_prefix(1);
    }
    while (!rest.empty() && rest.back() == ' ') {
        rest.remove_suffix(1);
    }
    std::string_view port_text;
    if (rest.starts_with("[")) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos) {
            return core::make_error(core::ErrorKind::invalid_input, "bad address '" + std::string(text) + "'");
        }
        out.host = std::string(rest.substr(1, close - 1));
        rest.remove_prefix(close + 1);
        if (rest.starts_with(":")) {
            port_text = rest.substr(1);
        } else if (!rest.empty()) {
            return core::make_error(core::ErrorKind::invalid_input, "bad address '" + std::string(text) + "'");
        }
    } else if (std::count(rest.begin(), rest.end(), ':') == 1) {
        const auto colon = rest.find(':');
        out.host = std::string(rest.substr(0, colon));
        port_text = rest.substr(colon + 1);
    } else {
        out.host = std::string(rest);  // bare host or bare IPv6
    }
    if (out.host.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "missing host in '" + std::string(text) + "'");
    }
    if (!port_text.empty()) {
        int port = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9' || port > 65535) {
                return core::make_error(core::ErrorKind::invalid_input, "bad port in '" + std::string(text) + "'");
            }
            port = port * 10 + (c - '0');
        }
        if (port <= 0 || port > 65535) {
            return core::make_error(core::ErrorKind::invalid_input, "bad port in '" + std::string(text) + "'");
        }
        out.port = port;
    }
    return out;
}

core::Result<std::vector<HostPort>> parse_host_port_list(std::string_view text, int default_port) {
    std::vector<HostPort> out;
    std::string item;
    auto flush = [&]() -> core::Status {
        if (!item.empty()) {
            TRY_ASSIGN(HostPort hp, parse_host_port(item, default_port));
            out.push_back(std::move(hp));
            item.clear();
        }
        return {};
    };
    for (char c : text) {
        if (c == ',' || c == ' ') {
            TRY(flush());
        } else {
            item.push_back(c);
        }
    }
    TRY(flush());
    return out;
}

core::Result<std::vector<std::string>> to_server_addresses(const HostPort& server) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(server.host.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
        return core::make_error(core::ErrorKind::network,
                                "cannot resolve nameserver '" + server.host + "': " + gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, &freeaddrinfo);
    std::vector<std::string> out;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        char buf[INET6_ADDRSTRLEN] = {};
        if (ai->ai_family == AF_INET) {
            inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, buf, sizeof buf);
        } else if (ai->ai_family == AF_INET6) {
            inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, buf, sizeof buf);
        } else {
            continue;
        }
        std::string formatted = format_server(buf, server.port);
        if (std::find(out.begin(), out.end(), formatted) == out.end()) {
            out.push_back(std::move(formatted));
        }
    }
    if (out.empty()) {
        return core::make_error(core::ErrorKind::network, "no address for nameserver '" + server.host + "'");
    }
    return out;
}

struct Resolver::Impl {
    ChannelPtr channel;
    ResolverOptions options;
    std::string description;
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::~Resolver() = default;
Resolver::Resolver(Resolver&&) noexcept = default;
Resolver& Resolver::operator=(Resolver&&) noexcept = default;

const std::string& Resolver::describe() const { return impl_->description; }

core::Result<Resolver> Resolver::create(ResolverOptions options) {
    TRY(init_cares());
    ares_options opts{};
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    // NOCHECKRESP: hand REFUSED/SERVFAIL answers to us instead of silently trying
    // another server, so errors can say what the server answered.
    opts.flags = ARES_FLAG_NOCHECKRESP;
    if (options.recursion == Recursion::off) {
        opts.flags |= ARES_FLAG_NORECURSE;
    }
    opts.timeout = static_cast<int>(options.try_timeout.count());
    opts.tries = std::max(1, options.tries);
    ares_channel raw = nullptr;
    const int rc = ares_init_options(&raw, &opts, mask);
    if (rc != ARES_SUCCESS) {
        return core::make_error(core::ErrorKind::internal, std::string("c-ares init: ") + ares_strerror(rc));
    }
    auto impl = std::make_unique<Impl>();
    impl->channel.reset(raw);
    impl->description = "system resolver";
    if (!options.servers.empty()) {
        TRY_ASSIGN(std::vector<HostPort> list, parse_host_port_list(options.servers));
        std::string csv;
        for (const auto& hp : list) {
            TRY_ASSIGN(std::vector<std::string> addresses, to_server_addresses(hp));
            for (const auto& a : addresses) {
                csv += (csv.empty() ? "" : ",") + a;
            }
        }
        const int set_rc = ares_set_servers_ports_csv(impl->channel.get(), csv.c_str());
        if (set_rc != ARES_SUCCESS) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    "bad DNS server list '" + options.servers + "': " + ares_strerror(set_rc));
        }
        impl->description = csv;
    }
    impl->options = std::move(options);
    return Resolver(std::move(impl));
}

core::Result<wire::Message> Resolver::query(std::string_view name, wire::RrType type, const core::Deadline& deadline) {
    const std::string qname = wire::canonical_name(name);
    unsigned char* raw_query = nullptr;
    int query_len = 0;
    const int rd = impl_->options.recursion == Recursion::desired ? 1 : 0;
    // The ID is replaced by c-ares with a random one.
    const int rc =
        ares_create_query(qname.c_str(), wire::k_class_in, static_cast<int>(type), 0, rd, &raw_query, &query_len, 0);
    if (rc != ARES_SUCCESS) {
        return core::make_error(core::ErrorKind::invalid_input,
                                "cannot build a DNS query for '" + qname + "': " + ares_strerror(rc));
    }
    AresBuffer query_buf(raw_query);
    Pending pending;
    ares_channel channel = impl_->channel.get();
    ares_send(channel, query_buf.get(), query_len, &on_answer, &pending);
    while (!pending.done) {
        if (deadline.expired() || core::cancelled()) {
            ares_cancel(channel);  // runs the callback with ARES_ECANCELLED
            const bool stopped = core::cancelled();
            return core::make_error(
                stopped ? core::ErrorKind::cancelled : core::ErrorKind::timeout,
                "DNS " + type_name(type) + " " + qname + " at " + impl_->description +
                    (stopped ? ": stopped (SIGTERM) while waiting for the answer" : ": no answer before the deadline"));
        }
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        const int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
        std::vector<pollfd> fds;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
            short events = 0;
            if (ARES_GETSOCK_READABLE(bits, i)) {
                events |= POLLIN;
            }
            if (ARES_GETSOCK_WRITABLE(bits, i)) {
                events |= POLLOUT;
            }
            if (events != 0) {
                fds.push_back(pollfd{socks[i], events, 0});
            }
        }
        const auto remaining = deadline.remaining();
        timeval max_tv{};
        const auto cap = std::min<long long>(remaining.count(), 200);  // wake often enough to see cancel()
        max_tv.tv_sec = static_cast<time_t>(cap / 1000);
        max_tv.tv_usec = static_cast<suseconds_t>((cap % 1000) * 1000);
        timeval tv{};
        const timeval* wait = ares_timeout(channel, &max_tv, &tv);
        const int wait_ms = static_cast<int>(wait->tv_sec * 1000 + (wait->tv_usec + 999) / 1000);
        const int ready = poll(fds.data(), fds.size(), wait_ms);
        if (ready <= 0) {
            ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
            continue;
        }
        for (const auto& p : fds) {
            const bool readable = (p.revents & (POLLIN | POLLERR | POLLHUP)) != 0;
            const bool writable = (p.revents & POLLOUT) != 0;
            ares_process_fd(channel, readable ? p.fd : ARES_SOCKET_BAD, writable ? p.fd : ARES_SOCKET_BAD);
        }
    }
    const std::string what = "DNS " + type_name(type) + " " + qname + " at " + impl_->description;
    switch (pending.status) {
        case ARES_SUCCESS: break;
        case ARES_ECONNREFUSED: {
            // ICMP port unreachable (UDP) or a reset (TCP): nothing listens there.
            auto error = core::make_error(core::ErrorKind::network, what + ": connection refused");
            error.code = k_connection_refused;
            return error;
        }
        case ARES_ETIMEOUT: return core::make_error(core::ErrorKind::timeout, what + ": no answer (timed out)");
        default: return core::make_error(core::ErrorKind::network, what + ": " + ares_strerror(pending.status));
    }
    auto parsed = wire::parse(pending.answer);
    if (!parsed) {
        return parsed.error().wrap(what);
    }
    return parsed;
}

core::Result<std::string> find_zone(Resolver& resolver, std::string_view fqdn, const core::Deadline& deadline) {
    std::string name = wire::canonical_name(fqdn);
    std::string last_answer;
    while (name != ".") {
        TRY_ASSIGN(wire::Message m, resolver.query(name, wire::RrType::soa, deadline));
        const int rcode = m.rcode();
        if (rcode == static_cast<int>(wire::Rcode::noerror) || rcode == static_cast<int>(wire::Rcode::nxdomain)) {
            bool alias = false;
            for (const auto& rr : m.answers) {
                if (rr.type == static_cast<std::uint16_t>(wire::RrType::cname) &&
                    wire::canonical_name(rr.name) == name) {
                    alias = true;
                }
                if (rr.type == static_cast<std::uint16_t>(wire::RrType::soa) && wire::canonical_name(rr.name) == name) {
                    return name;
                }
            }
            // RFC 2308 §2: a negative answer carries the zone's SOA in the authority section.
            if (!alias) {
                for (const auto& rr : m.authority) {
                    if (rr.type == static_cast<std::uint16_t>(wire::RrType::soa) && wire::is_subdomain(name, rr.name)) {
                        return wire::canonical_name(rr.name);
                    }
                }
            }
        }
        last_answer = wire::rcode_name(rcode);
        name = parent_of(name);
    }
    return core::make_error(core::ErrorKind::not_found, "no DNS zone (SOA) found for " + wire::canonical_name(fqdn) +
                                                            " at " + resolver.describe() + " (last answer " +
                                                            last_answer + ")");
}

core::Result<std::vector<std::string>> lookup_ns(Resolver& resolver, std::string_view zone,
                                                 const core::Deadline& deadline) {
    const std::string name = wire::canonical_name(zone);
    TRY_ASSIGN(wire::Message m, resolver.query(name, wire::RrType::ns, deadline));
    std::set<std::string> out;
    for (const auto* section : {&m.answers, &m.authority}) {
        for (const auto& rr : *section) {
            if (rr.type == static_cast<std::uint16_t>(wire::RrType::ns) && wire::canonical_name(rr.name) == name) {
                TRY_ASSIGN(std::string target, m.name_at(rr.rdata_offset));
                out.insert(wire::canonical_name(target));
            }
        }
        if (!out.empty()) {
            break;
        }
    }
    if (out.empty()) {
        return core::make_error(core::ErrorKind::not_found, "no NS records for zone " + name + " at " +
                                                                resolver.describe() + " (answer " +
                                                                wire::rcode_name(m.rcode()) + ")");
    }
    return std::vector<std::string>(out.begin(), out.end());
}

core::Result<std::vector<std::string>> lookup_addresses(Resolver& resolver, std::string_view host,
                                                        const core::Deadline& deadline) {
    std::vector<std::string> out;
    for (auto type : {wire::RrType::a, wire::RrType::aaaa}) {
        auto m = resolver.query(host, type, deadline);
        if (!m) {
            if (!out.empty() || type == wire::RrType::a) {
                continue;
            }
            return m.error();
        }
        for (const auto& rr : m->answers) {
            char buf[INET6_ADDRSTRLEN] = {};
            if (rr.type == static_cast<std::uint16_t>(wire::RrType::a) && rr.rdata.size() == 4) {
                inet_ntop(AF_INET, rr.rdata.data(), buf, sizeof buf);
                out.emplace_back(buf);
            } else if (rr.type == static_cast<std::uint16_t>(wire::RrType::aaaa) && rr.rdata.size() == 16) {
                inet_ntop(AF_INET6, rr.rdata.data(), buf, sizeof buf);
                out.emplace_back(buf);
            }
        }
    }
    if (out.empty()) {
        return core::make_error(core::ErrorKind::not_found, "no address for nameserver " + wire::canonical_name(host) +
                                                                " at " + resolver.describe());
    }
    return out;
}

core::Result<std::string> follow_cname(Resolver& resolver, std::string_view fqdn, const core::Deadline& deadline) {
    std::string name = wire::canonical_name(fqdn);
    std::set<std::string> seen{name};
    for (int hop = 0; hop < 16; ++hop) {
        TRY_ASSIGN(wire::Message m, resolver.query(name, wire::RrType::cname, deadline));
        std::string target;
        for (const auto& rr : m.answers) {
            if (rr.type == static_cast<std::uint16_t>(wire::RrType::cname) && wire::canonical_name(rr.name) == name) {
                TRY_ASSIGN(target, m.name_at(rr.rdata_offset));
                break;
            }
        }
        if (target.empty()) {
            return name;
        }
        target = wire::canonical_name(target);
        if (!seen.insert(target).second) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    "CNAME loop at " + wire::canonical_name(fqdn) + " (via " + target + ")");
        }
        name = target;
    }
    return core::make_error(core::ErrorKind::invalid_input,
                            "CNAME chain from " + wire::canonical_name(fqdn) + " longer than 16 links");
}

core::Result<TxtAnswer> lookup_txt(Resolver& resolver, std::string_view fqdn, const core::Deadline& deadline) {
    const std::string name = wire::canonical_name(fqdn);
    TRY_ASSIGN(wire::Message m, resolver.query(name, wire::RrType::txt, deadline));
    TxtAnswer out;
    out.rcode = m.rcode();
    out.authoritative = m.authoritative();
    for (const auto& rr : m.answers) {
        if (rr.type == static_cast<std::uint16_t>(wire::RrType::txt) && wire::canonical_name(rr.name) == name) {
            TRY_ASSIGN(std::string value, wire::decode_txt_rdata(rr.rdata));
            out.values.push_back(std::move(value));
        }
    }
    return out;
}

}  // namespace dns
