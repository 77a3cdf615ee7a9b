#include "dns/rfc2136.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"
#include "core/unique_fd.hpp"
#include "dns/config.hpp"
#include "dns/resolver.hpp"
#include "dns/wire.hpp"

namespace dns {
namespace {

core::Error net_error(const std::string& server, const std::string& what) {
    return core::make_error(core::ErrorKind::network, "rfc2136: nameserver " + server + " " + what);
}

core::Status wait_fd(int fd, short events, const core::Deadline& deadline, const std::string& server,
                     const char* step) {
    while (true) {
        const auto remaining = deadline.remaining();
        if (remaining.count() <= 0) {
            return core::make_error(core::ErrorKind::timeout, "rfc2136: nameserver " + server + ": timed out " + step);
        }
        pollfd p{fd, events, 0};
        const int rc = poll(&p, 1, static_cast<int>(std::min<long long>(remaining.count(), 200)));
        if (rc < 0 && errno != EINTR) {
            return net_error(server, std::string(step) + ": " + std::strerror(errno));
        }
        if (core::cancelled()) {
            return core::make_error(core::ErrorKind::cancelled, "rfc2136: cancelled");
        }
        if (rc > 0) {
            return {};
        }
    }
}

// One request/response exchange over TCP (RFC 1035 §4.2.2: two-octet length prefix).
core::Result<std::string> exchange_tcp(const HostPort& server, const std::string& request,
                                       const core::Deadline& deadline) {
    const std::string label = server.host + ":" + std::to_string(server.port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int gai = getaddrinfo(server.host.c_str(), std::to_string(server.port).c_str(), &hints, &res);
    if (gai != 0) {
        return net_error(label, std::string("cannot be resolved: ") + gai_strerror(gai));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, &freeaddrinfo);
    std::string last_error = "no address";
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        core::UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
        if (fd.get() < 0) {
            last_error = std::strerror(errno);
            continue;
        }
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last_error = std::strerror(errno);
            continue;
        }
        TRY(wait_fd(fd.get(), POLLOUT, deadline, label, "connecting"));
        int so_error = 0;
        socklen_t len = sizeof so_error;
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
        if (so_error != 0) {
            last_error = std::strerror(so_error);
            continue;
        }
        std::string out;
        out.push_back(static_cast<char>((request.size() >> 8) & 0xFF));
        out.push_back(static_cast<char>(request.size() & 0xFF));
        out += request;
        std::size_t sent = 0;
        while (sent < out.size()) {
            TRY(wait_fd(fd.get(), POLLOUT, deadline, label, "sending"));
            const ssize_t n = ::send(fd.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    continue;
                }
                return net_error(label, std::string("send failed: ") + std::strerror(errno));
            }
            sent += static_cast<std::size_t>(n);
        }
        std::string in;
        std::size_t want = 2;
        while (in.size() < want) {
            TRY(wait_fd(fd.get(), POLLIN, deadline, label, "waiting for the answer"));
            char buf[4096];
            const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) {
                    continue;
                }
                return net_error(label, std::string("receive failed: ") + std::strerror(errno));
            }
            if (n == 0) {
                return net_error(label, "closed the connection without an answer");
            }
            in.append(buf, static_cast<std::size_t>(n));
            if (want == 2 && in.size() >= 2) {
                want = 2 + ((static_cast<unsigned char>(in[0]) << 8) | static_cast<unsigned char>(in[1]));
            }
        }
        return in.substr(2, want - 2);
    }
    return net_error(label, "unreachable: " + last_error);
}

std::uint16_t random_id() {
    const std::string b = core::random_bytes(2);
    return static_cast<std::uint16_t>((static_cast<unsigned char>(b[0]) << 8) | static_cast<unsigned char>(b[1]));
}

class Rfc2136Provider final : public Provider {
public:
    Rfc2136Provider(Rfc2136Settings settings, HostPort server, std::optional<wire::TsigKey> key)
        : settings_(std::move(settings)), server_(std::move(server)), key_(std::move(key)) {}

    using Provider::present;
    core::Status present(const std::vector<TxtRecord>& records, PresentLog& log) override {
        const core::Deadline deadline = core::Deadline::after(settings_.timeout);
        TRY_ASSIGN(auto by_zone, group_by_zone(records, deadline));
        for (auto& [zone, all] : by_zone) {
            TRY(inherit_ttls(all, deadline));
            for (const auto& changes : split_update(all)) {
                std::vector<TxtRecord> sent;
                for (const auto& c : changes) {
                    sent.push_back({c.fqdn, c.value});
                }
                TRY(log.sending(sent));
                bool refused = false;
                auto status = send_update(zone, changes, wire::UpdateOp::add, deadline, refused);
                if (!status) {
                    if (refused) {
                        log.refused(sent);
                    }
                    return status;
                }
            }
        }
        return {};
    }
    core::Result<std::size_t> cleanup(const std::vector<TxtRecord>& records) override {
        const core::Deadline deadline = core::Deadline::after(settings_.timeout);
        TRY_ASSIGN(auto by_zone, group_by_zone(records, deadline));
        std::size_t removed = 0;
        for (const auto& [zone, all] : by_zone) {
            for (const auto& changes : split_update(all)) {
                // The server does not say what a delete removed: count what is there first.
                TRY_ASSIGN(std::size_t there, count_present(changes, deadline));
                bool refused = false;
                TRY(send_update(zone, changes, wire::UpdateOp::remove, deadline, refused));
                removed += there;
            }
        }
        return removed;
    }
    std::string name() const override { return "rfc2136"; }

private:
    // One UPDATE per zone while it fits a DNS message over TCP (RFC 1035
    // section 4.2.2: a 16-bit length, 65,535 bytes), else as few as fit: the
    // pipelined run presents every certificate's values at once
    // (docs/dns-providers.md#batches-and-clean-up). Each change is counted
    // uncompressed; the rest of the budget is the header, the zone and TSIG.
    static std::vector<std::vector<wire::TxtChange>> split_update(const std::vector<wire::TxtChange>& changes) {
        constexpr std::size_t k_budget = 60'000;
        std::vector<std::vector<wire::TxtChange>> out(1);
        std::size_t used = 0;
        for (const auto& c : changes) {
            // owner name (labels + root) + type, class, TTL, RDLENGTH + one length byte per 255 of text
            const std::size_t size = c.fqdn.size() + 2 + 10 + c.value.size() + c.value.size() / 255 + 1;
            if (used + size > k_budget && !out.back().empty()) {
                out.emplace_back();
                used = 0;
            }
            out.back().push_back(c);
            used += size;
        }
        return out;
    }

    struct CurrentSet {
        std::uint32_t ttl = 0;  // 0: no TXT set at the name
        std::vector<std::string> values;
    };

    // The TXT set at `fqdn` as the primary serves it (RD=0: its own data, TTL not decremented).
    core::Result<CurrentSet> current_set(const std::string& fqdn, const core::Deadline& deadline) {
        ResolverOptions ro;
        TRY_ASSIGN(std::vector<std::string> addresses, to_server_addresses(server_));
        ro.servers = addresses.front();
        ro.recursion = Recursion::off;
        TRY_ASSIGN(Resolver resolver, Resolver::create(ro));
        // Bounded apart from the update's own deadline: a primary that drops queries must leave it time.
        const auto query_deadline = deadline.min(core::Deadline::after(std::chrono::seconds(3)));
        TRY_ASSIGN(wire::Message m, resolver.query(fqdn, wire::RrType::txt, query_deadline));
        CurrentSet out;
        for (const auto& rr : m.answers) {
            if (rr.type == static_cast<std::uint16_t>(wire::RrType::txt) && wire::canonical_name(rr.name) == fqdn) {
                out.ttl = rr.ttl;
                TRY_ASSIGN(std::string value, wire::decode_txt_rdata(rr.rdata));
                out.values.push_back(std::move(value));
            }
        }
        return out;
    }

    // An RRset has one TTL (RFC 2181 section 5.2) and the server gives the
    // whole set the TTL of the last add: adding at an existing set uses its
    // TTL, so other people's values keep theirs.
    core::Status inherit_ttls(std::vector<wire::TxtChange>& changes, const core::Deadline& deadline) {
        std::map<std::string, std::uint32_t> ttl_of;
        for (auto& c : changes) {
            if (!ttl_of.contains(c.fqdn)) {
                auto current = current_set(c.fqdn, deadline);
                if (!current && current.error().kind == core::ErrorKind::cancelled) {
                    return current.error();
                }
                if (!current) {
                    // A primary that takes updates but no queries: add with our TTL, as before.
                    core::log::debug("rfc2136: cannot read the TXT set; adding with our TTL",
                                     {{"fqdn", c.fqdn}, {"error", current.error().message}});
                }
                ttl_of[c.fqdn] = current ? current->ttl : 0;
            }
            c.ttl = ttl_of[c.fqdn];
        }
        return {};
    }

    // How many of `changes` the primary serves now; a name it does not answer
    // for (updates allowed, queries not) counts every value.
    core::Result<std::size_t> count_present(const std::vector<wire::TxtChange>& changes,
                                            const core::Deadline& deadline) {
        std::map<std::string, std::optional<std::vector<std::string>>> values_at;
        std::size_t n = 0;
        for (const auto& c : changes) {
            if (!values_at.contains(c.fqdn)) {
                auto current = current_set(c.fqdn, deadline);
                if (!current && current.error().kind == core::ErrorKind::cancelled) {
                    return current.error();
                }
                if (!current) {
                    core::log::debug("rfc2136: cannot read the TXT set; counting every value",
                                     {{"fqdn", c.fqdn}, {"error", current.error().message}});
                }
                values_at[c.fqdn] = current ? std::optional(std::move(current->values)) : std::nullopt;
            }
            const auto& there = values_at[c.fqdn];
            n += !there || std::find(there->begin(), there->end(), c.value) != there->end() ? 1 : 0;
        }
        return n;
    }

    using ByZone = std::map<std::string, std::vector<wire::TxtChange>>;

    // One UPDATE per zone (RFC 2136 §2.3: a message updates one zone), applied atomically (§3.7).
    core::Result<ByZone> group_by_zone(const std::vector<TxtRecord>& records, const core::Deadline& deadline) {
        ByZone by_zone;
        for (const auto& r : records) {
            auto zone = zone_for(wire::canonical_name(r.fqdn), deadline);
            if (!zone) {
                return zone.error().wrap("rfc2136: " + wire::canonical_name(r.fqdn));
            }
            by_zone[*zone].push_back({wire::canonical_name(r.fqdn), r.value});
        }
        return by_zone;
    }

    // The zone of `fqdn`: the configured one, else the SOA the primary names (cached).
    core::Result<std::string> zone_for(const std::string& fqdn, const core::Deadline& deadline) {
        if (!settings_.zone.empty()) {
            return wire::canonical_name(settings_.zone);
        }
        {
            std::lock_guard lock(mutex_);
            if (auto it = zones_.find(fqdn); it != zones_.end()) {
                return it->second;
            }
        }
        ResolverOptions ro;
        TRY_ASSIGN(std::vector<std::string> addresses, to_server_addresses(server_));
        ro.servers = addresses.front();
        ro.recursion = Recursion::off;
        TRY_ASSIGN(Resolver resolver, Resolver::create(ro));
        TRY_ASSIGN(std::string zone, find_zone(resolver, fqdn, deadline));
        std::lock_guard lock(mutex_);
        zones_[fqdn] = zone;
        return zone;
    }

    // `refused`: the server answered with an error, so nothing of the update was applied (§3.7).
    core::Status send_update(const std::string& zone, const std::vector<wire::TxtChange>& changes, wire::UpdateOp op,
                             const core::Deadline& deadline, bool& refused) {
        refused = false;
        const std::string what = std::string("rfc2136: ") + (op == wire::UpdateOp::add ? "adding " : "removing ") +
                                 std::to_string(changes.size()) + " TXT value(s) in zone " + zone + " (" +
                                 changes.front().fqdn + ") at " + server_.host + ":" + std::to_string(server_.port);
        const std::uint16_t id = random_id();
        TRY_ASSIGN(std::string message, wire::build_txt_update(id, zone, op, changes, settings_.ttl));
        std::string request_mac;
        if (key_) {
            TRY_ASSIGN(wire::SignedMessage signed_message,
                       wire::tsig_sign(message, *key_, static_cast<std::uint64_t>(std::time(nullptr))));
            message = std::move(signed_message.wire);
            request_mac = std::move(signed_message.mac);
        }
        auto raw = exchange_tcp(server_, message, deadline);
        if (!raw) {
            return raw.error().wrap(what);
        }
        auto response = wire::parse(*raw);
        if (!response) {
            return response.error().wrap(what);
        }
        if (response->id != id) {
            return core::make_error(core::ErrorKind::protocol, what + ": the answer's ID does not match the request");
        }
        const int rcode = response->rcode();
        int tsig_error = 0;
        if (key_) {
            auto check = wire::tsig_verify_response(*response, *key_, request_mac,
                                                    static_cast<std::uint64_t>(std::time(nullptr)));
            if (!check) {
                if (rcode != 0) {
                    refused = true;
                    return core::make_error(
                        core::ErrorKind::auth,
                        what + ": server answered " + wire::rcode_name(rcode) + " (" + check.error().message + ")");
                }
                return check.error().wrap(what);
            }
            tsig_error = check->error;
        }
        if (rcode == 0 && tsig_error == 0) {
            core::log::debug("rfc2136: update applied", {{"zone", zone}, {"changes", std::to_string(changes.size())}});
            return {};
        }
        refused = true;
        std::string reason;
        core::ErrorKind kind = core::ErrorKind::protocol;
        if (tsig_error != 0) {
            kind = core::ErrorKind::auth;
            reason = "TSIG " + wire::rcode_name(tsig_error);
            if (tsig_error == static_cast<int>(wire::Rcode::badsig)) {
                reason +=
                    ": the server rejected the signature (wrong TSIG secret or algorithm for key '" + key_->name + "')";
            } else if (tsig_error == static_cast<int>(wire::Rcode::badkey)) {
                reason += ": the server does not know key '" + key_->name + "' with algorithm " +
                          wire::tsig_algorithm_name(key_->algorithm);
            } else if (tsig_error == static_cast<int>(wire::Rcode::badtime)) {
                reason += ": the clocks of this host and the server differ by more than the fudge";
            }
        } else {
            switch (static_cast<wire::Rcode>(rcode)) {
                case wire::Rcode::notauth:
                    kind = core::ErrorKind::auth;
                    reason = "NOTAUTH: the server is not authoritative for the zone or did not accept the key";
                    break;
                case wire::Rcode::refused:
                    kind = core::ErrorKind::auth;
                    reason = "REFUSED: the update policy does not allow this key/client to change these records";
                    break;
                case wire::Rcode::notzone:
                    kind = core::ErrorKind::invalid_input;
                    reason = "NOTZONE: a name is outside the zone";
                    break;
                default: reason = wire::rcode_name(rcode); break;
            }
        }
        auto error = core::make_error(kind, what + ": " + reason);
        error.code = wire::rcode_name(tsig_error != 0 ? tsig_error : rcode);
        error.retryable = rcode == static_cast<int>(wire::Rcode::servfail);
        return error;
    }

    Rfc2136Settings settings_;
    HostPort server_;
    std::optional<wire::TsigKey> key_;
    std::mutex mutex_;
    std::map<std::string, std::string> zones_;
};

}  // namespace

namespace {

using core::settings::Setting;
using core::settings::Type;

std::optional<std::string> algorithm_problem(std::string_view text) {
    if (auto alg = wire::parse_tsig_algorithm(text); !alg) {
        return alg.error().message;
    }
    return std::nullopt;
}

std::optional<std::string> env_name_problem(std::string_view name) {
    const bool valid =
        !(name.front() >= '0' && name.front() <= '9') && std::all_of(name.begin(), name.end(), [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        });
    if (!valid) {
        return "\"" + std::string(name) + "\" is not an environment variable name";
    }
    return std::nullopt;
}

const std::array<Setting, 9> k_rfc2136_settings{{
    {.key = "server",
     .flag = "rfc2136-server",
     .env = "RFC2136_NAMESERVER",
     .help = "primary DNS server host:port for RFC 2136 updates",
     .check = host_port_problem},
    {.key = "tsig_key", .flag = "rfc2136-tsig-key", .env = "RFC2136_TSIG_KEY", .help = "TSIG key name"},
    {.key = "tsig_algorithm",
     .flag = "rfc2136-tsig-algorithm",
     .env = "RFC2136_TSIG_ALGORITHM",
     .help = "hmac-sha256 (default) or hmac-sha512",
     .check = algorithm_problem},
    // The secret: never in the file or argv; the three sources are alternatives.
    {.key = "tsig_secret",
     .env = "RFC2136_TSIG_SECRET",
     .help = "the base64 TSIG secret",
     .group = "tsig_secret",
     .in_file = false},
    {.key = "tsig_secret_env",
     .help = "environment variable that holds the base64 TSIG secret",
     .group = "tsig_secret",
     .check = env_name_problem},
    {.key = "tsig_secret_file",
     .flag = "rfc2136-tsig-secret-file",
     .help = "file holding the base64 TSIG secret",
     .group = "tsig_secret"},
    {.key = "ttl",
     .flag = "rfc2136-ttl",
     .env = "RFC2136_TTL",
     .type = Type::integer,
     .min = 1,
     .max = 86400,
     .help = "TTL of the TXT records, seconds (default 60)"},
    {.key = "zone", .env = "RFC2136_ZONE", .help = "zone to update (default: the SOA the server names)"},
    {.key = "exchange_timeout",
     .env = "RFC2136_DNS_TIMEOUT",
     .type = Type::integer,
     .min = 1,
     .max = 3600,
     .help = "seconds one UPDATE exchange may take (default 10)",
     .in_file = false},
}};
const Setting& k_server_row = k_rfc2136_settings[0];
const Setting& k_key_row = k_rfc2136_settings[1];

// The secret from wherever the values say; empty when none is given.
core::Result<std::string> read_tsig_secret(const core::settings::Values& values) {
    TRY_ASSIGN(std::string secret,
               core::settings::read_secret(values, "tsig_secret", "tsig_secret_env", "tsig_secret_file"));
    if (!secret.empty()) {
        if (auto decoded = core::base64_decode(secret); !decoded || decoded->empty()) {
            std::string origin;
            for (const auto key : {"tsig_secret", "tsig_secret_env", "tsig_secret_file"}) {
                origin = values.contains(key) ? core::settings::origin(values, key) : origin;
            }
            return core::settings::settings_error(origin, "the TSIG secret is not valid base64");
        }
    }
    return secret;
}

// Names the secret's sources in the spelling the user writes (`origin`).
std::string secret_spellings(std::string_view origin) {
    switch (core::settings::source_of(origin)) {
        case core::settings::Source::file: return "tsig_secret_env or tsig_secret_file";
        case core::settings::Source::flag: return "--rfc2136-tsig-secret-file or RFC2136_TSIG_SECRET";
        case core::settings::Source::env: return "RFC2136_TSIG_SECRET";
    }
    return "a TSIG secret";
}

}  // namespace

std::span<const core::settings::Setting> Rfc2136Settings::schema() { return k_rfc2136_settings; }

core::Result<Rfc2136Settings> Rfc2136Settings::from_values(const core::settings::Values& values,
                                                           const std::string& block_origin) {
    namespace settings = core::settings;
    Rfc2136Settings s;
    s.nameserver = settings::text(values, "server");
    if (s.nameserver.empty()) {
        return settings::settings_error(settings::missing_origin(k_server_row, block_origin),
                                        "required by provider rfc2136 (host:port)");
    }
    s.tsig_key = settings::text(values, "tsig_key");
    s.tsig_algorithm = settings::text(values, "tsig_algorithm", s.tsig_algorithm);
    TRY_ASSIGN(s.tsig_secret, read_tsig_secret(values));
    if (!s.tsig_key.empty() && s.tsig_secret.empty()) {
        const std::string origin = settings::origin(values, "tsig_key");
        return settings::settings_error(origin, "needs " + secret_spellings(origin));
    }
    if (s.tsig_key.empty() && !s.tsig_secret.empty()) {
        return settings::settings_error(settings::missing_origin(k_key_row, block_origin),
                                        "required with a TSIG secret (the key name)");
    }
    s.ttl = static_cast<std::uint32_t>(settings::integer(values, "ttl", s.ttl));
    s.zone = settings::text(values, "zone");
    s.timeout = std::chrono::seconds(settings::integer(values, "exchange_timeout", 10));
    return s;
}

core::Result<Rfc2136Settings> Rfc2136Settings::from_env(const Env& env) {
    TRY_ASSIGN(const auto values, core::settings::read_env(core::settings::flat_block(schema()), env));
    return from_values(values, "");
}

core::Result<std::unique_ptr<Provider>> make_rfc2136(Rfc2136Settings settings) {
    if (settings.nameserver.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "rfc2136: RFC2136_NAMESERVER is not set");
    }
    auto server = parse_host_port(settings.nameserver, 53);
    if (!server) {
        return server.error().wrap("rfc2136: RFC2136_NAMESERVER");
    }
    std::optional<wire::TsigKey> key;
    if (!settings.tsig_key.empty() || !settings.tsig_secret.empty()) {
        if (settings.tsig_key.empty() || settings.tsig_secret.empty()) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    "rfc2136: RFC2136_TSIG_KEY and RFC2136_TSIG_SECRET must be set together");
        }
        auto alg = wire::parse_tsig_algorithm(settings.tsig_algorithm);
        if (!alg) {
            return alg.error().wrap("rfc2136: RFC2136_TSIG_ALGORITHM");
        }
        auto secret = core::base64_decode(settings.tsig_secret);
        if (!secret || secret->empty()) {
            return core::make_error(core::ErrorKind::invalid_input, "rfc2136: RFC2136_TSIG_SECRET is not valid base64");
        }
        core::log::register_secret(settings.tsig_secret);
        key = wire::TsigKey{wire::canonical_name(settings.tsig_key), *alg, *secret};
    }
    HostPort hp = *server;
    return std::unique_ptr<Provider>(
        std::make_unique<Rfc2136Provider>(std::move(settings), std::move(hp), std::move(key)));
}

}  // namespace dns
