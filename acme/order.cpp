#include "acme/order.hpp"

#include <algorithm>
#include <utility>

#include "acme/problem.hpp"
#include "core/base64.hpp"
#include "core/log.hpp"
#include "core/x509.hpp"

namespace acme {
namespace {

using std::chrono::milliseconds;

std::string str(const Json& object, const char* name) {
    if (object.is_object()) {
        auto it = object.find(name);
        if (it != object.end() && it->is_string()) {
            return it->get<std::string>();
        }
    }
    return {};
}

milliseconds retry_after_of(const core::http::Response& response) {
    const std::string value = response.header("retry-after");
    if (value.empty()) {
        return milliseconds{0};
    }
    return core::parse_retry_after(value).value_or(milliseconds{0});
}

std::optional<core::Error> error_of(const Json& object) {
    if (object.is_object()) {
        auto it = object.find("error");
        if (it != object.end() && it->is_object()) {
            return problem_to_error(*it, 0);
        }
    }
    return std::nullopt;
}

// RFC 8555 §7.1.6: pending and processing are the states a poll waits out.
bool still_in_progress(ResourceStatus status) {
    return status == ResourceStatus::pending || status == ResourceStatus::processing;
}

core::Result<Json> parse_body(std::string_view body, std::string_view what) {
    Json doc = Json::parse(body, nullptr, false);
    if (!doc.is_object()) {
        return core::make_error(core::ErrorKind::protocol, std::string(what) + ": the answer is not a JSON object");
    }
    return doc;
}

core::Result<Order> order_from_json(const Json& doc, std::string url, milliseconds retry_after) {
    Order order;
    TRY_ASSIGN(order.status, parse_status(str(doc, "status"), "order " + url));
    order.url = std::move(url);
    order.finalize = str(doc, "finalize");
    order.certificate = str(doc, "certificate");
    order.profile = str(doc, "profile");
    order.replaces = str(doc, "replaces");
    order.error = error_of(doc);
    order.retry_after = retry_after;
    if (auto it = doc.find("identifiers"); it != doc.end() && it->is_array()) {
        for (const auto& ident : *it) {
            order.identifiers.push_back(Identifier{str(ident, "type"), str(ident, "value")});
        }
    }
    if (auto it = doc.find("authorizations"); it != doc.end() && it->is_array()) {
        for (const auto& authz : *it) {
            if (authz.is_string()) {
                order.authorizations.push_back(authz.get<std::string>());
            }
        }
    }
    return order;
}

core::Result<Order> new_order_once(Transport& transport, const Account& account, const NewOrderRequest& request,
                                   const core::Deadline& deadline) {
    Json identifiers = Json::array();
    for (const auto& name : request.names) {
        identifiers.push_back({{"type", "dns"}, {"value", name}});
    }
    Json payload = {{"identifiers", identifiers}};
    if (!request.replaces.empty()) {
        payload["replaces"] = request.replaces;  // RFC 9773 §5
    }
    if (!request.profile.empty()) {
        payload["profile"] = request.profile;  // draft-aaron-acme-profiles §4
    }
    TRY_ASSIGN(core::http::Response response,
               transport.post(account.signer(), transport.directory().new_order, payload.dump(), deadline));
    const std::string url = response.header("location");
    if (url.empty()) {
        return core::make_error(core::ErrorKind::protocol, "newOrder answered without a Location header");
    }
    TRY_ASSIGN(const Json doc, parse_body(response.body, "newOrder"));
    return order_from_json(doc, url, retry_after_of(response));
}

// Why a DNS name is not a valid hostname for a certificate (RFC 1123 §2.1
// LDH labels, RFC 8555 §7.1.3 wildcard as the whole leftmost label), or "".
// Only used to point at the culprit after the CA refused an order.
std::string name_problem(std::string_view name) {
    std::string_view rest = name;
    if (rest.starts_with("*.")) {
        rest.remove_prefix(2);
    }
    if (rest.empty() || rest.size() > 253) {
        return "invalid length";
    }
    if (rest.find('.') == std::string_view::npos) {
        return "a single label";
    }
    std::size_t start = 0;
    while (start <= rest.size()) {
        const std::size_t dot = rest.find('.', start);
        const std::string_view label =
            rest.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || label.size() > 63) {
            return "an empty or over-long label";
        }
        if (label.front() == '-' || label.back() == '-') {
            return "a label starting or ending with '-'";
        }
        for (char c : label) {
            const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
            if (!ok) {
                return std::string("the character '") + c + "'";
            }
        }
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    return {};
}

// Makes an identifier refusal name the identifier when the CA's detail does
// not (Pebble: "... containing an illegal character: '_'").
core::Error name_the_identifier(core::Error error, const std::vector<std::string>& names) {
    if (error.code != "malformed" && error.code != "rejectedIdentifier" && error.code != "unsupportedIdentifier" &&
        error.code != "caa") {
        return error;
    }
    for (const auto& name : names) {
        if (error.message.find(name) != std::string::npos) {
            return error;
        }
    }
    for (const auto& name : names) {
        const std::string why = name_problem(name);
        if (!why.empty()) {
            error.message += " [" + name + ": " + why + "]";
            return error;
        }
    }
    std::string all;
    for (const auto& name : names) {
        all += all.empty() ? name : ", " + name;
    }
    error.message += " [identifiers: " + all + "]";
    return error;
}

// RFC 9773 §5 lets a CA refuse `replaces` in many ways: alreadyReplaced,
// malformed, and Boulder's 403 unauthorized when the certificate was issued
// to another account (orderMatchesReplacement). Any 4xx may be about the
// field, so one plain order is tried; rateLimited and badNonce are not about
// it (a plain order meets the same limit; badNonce is retried in post()).
bool rejects_replaces(const core::Error& error) {
    const bool client_error = error.http_status >= 400 && error.http_status < 500;
    return client_error && error.code != "rateLimited" && error.code != "badNonce";
}

// One poll loop for authorizations and orders: fetch at once, then wait
// first, 2*first, ... cap; a larger Retry-After wins for that wait.
template <typename Fetch, typename Done>
auto poll(Fetch fetch, Done done, const core::Deadline& deadline, const PollSchedule& schedule, std::string_view what,
          milliseconds retry_after = milliseconds{0}) -> decltype(fetch()) {
    milliseconds delay = schedule.first;
    const auto started = core::Clock::now();
    // Every caller has just asked for the change (challenges answered, CSR
    // sent) and the answer said it is under way: the first look comes after
    // the first backoff step, not at once (an immediate look is a request
    // that almost never sees the result), or after the Retry-After of that
    // answer (RFC 8555 §7.4: a "processing" order may carry one).
    const milliseconds first = std::max(delay, std::min(retry_after, schedule.max_retry_after));
    if (auto slept = core::sleep_for(std::min(first, deadline.remaining()), deadline);
        !slept.ok() && slept.error().kind == core::ErrorKind::cancelled) {
        return slept.error().wrap(std::string(what));
    }
    for (;;) {
        if (core::cancelled()) {
            return core::make_error(core::ErrorKind::cancelled, std::string(what) + ": cancelled");
        }
        auto current = fetch();
        if (!current.ok() || done(*current)) {
            return current;
        }
        const milliseconds wait = std::max(delay, std::min(current->retry_after, schedule.max_retry_after));
        // A progress line on a terminal once a wait gets long (docs/configuration.md, logs and the report).
        const auto waited = std::chrono::duration_cast<std::chrono::seconds>(core::Clock::now() - started);
        if (waited.count() >= 2) {
            core::log::progress(std::string(what) + " still \"" + to_string(current->status) + "\" after " +
                                std::to_string(waited.count()) + " s");
        }
        const bool last = wait >= deadline.remaining();
        auto slept = core::sleep_for(std::min(wait, deadline.remaining()), deadline);
        if (!slept.ok() && slept.error().kind == core::ErrorKind::cancelled) {
            return slept.error().wrap(std::string(what));
        }
        if (last || deadline.expired()) {
            return core::make_error(core::ErrorKind::timeout, std::string(what) + ": still \"" +
                                                                  to_string(current->status) + "\" at the deadline");
        }
        delay = std::min(delay * 2, schedule.cap);
    }
}

}  // namespace

const Challenge* Authorization::challenge(std::string_view type) const {
    for (const auto& candidate : challenges) {
        if (candidate.type == type) {
            return &candidate;
        }
    }
    return nullptr;
}

std::optional<core::Error> Authorization::error() const {
    for (const auto& candidate : challenges) {
        if (candidate.error) {
            return candidate.error;
        }
    }
    return std::nullopt;
}

core::Status check_profile(const Directory& directory, std::string_view profile) {
    if (profile.empty() || directory.profiles.contains(std::string(profile))) {
        return {};
    }
    if (directory.profiles.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "profile \"" + std::string(profile) +
                                                                    "\" requested, but the CA at " + directory.url +
                                                                    " offers no profiles");
    }
    std::string offered;
    for (const auto& [name, description] : directory.profiles) {
        offered += offered.empty() ? name : ", " + name;
    }
    return core::make_error(core::ErrorKind::invalid_input, "profile \"" + std::string(profile) +
                                                                "\" is not offered by the CA at " + directory.url +
                                                                " (offered: " + offered + ")");
}

core::Result<Order> new_order(Transport& transport, const Account& account, const NewOrderRequest& request,
                              const core::Deadline& deadline) {
    TRY(check_profile(transport.directory(), request.profile));
    auto order = new_order_once(transport, account, request, deadline);
    if (!order.ok() && !request.replaces.empty() && rejects_replaces(order.error())) {
        // RFC 9773 §5: the CA may refuse `replaces` (already replaced, or an
        // identifier it does not know); ordering without it is always allowed.
        core::log::warn(
            "acme: newOrder with \"replaces\" refused; retrying once without it (this order is not an "
            "ARI renewal)",
            {{"replaces", request.replaces},
             {"http_status", std::to_string(order.error().http_status)},
             {"error", order.error().message}});
        NewOrderRequest plain = request;
        plain.replaces.clear();
        order = new_order_once(transport, account, plain, deadline);
    }
    if (!order.ok()) {
        return name_the_identifier(order.error(), request.names);
    }
    return order;
}

core::Result<Order> parse_order(std::string_view body, std::string url, milliseconds retry_after) {
    TRY_ASSIGN(const Json doc, parse_body(body, "order"));
    return order_from_json(doc, std::move(url), retry_after);
}

core::Result<Authorization> parse_authorization(std::string_view body, std::string url, milliseconds retry_after) {
    TRY_ASSIGN(const Json doc, parse_body(body, "authorization"));
    Authorization authz;
    TRY_ASSIGN(authz.status, parse_status(str(doc, "status"), "authorization " + url));
    authz.url = std::move(url);
    authz.retry_after = retry_after;
    if (auto it = doc.find("identifier"); it != doc.end()) {
        authz.identifier = Identifier{str(*it, "type"), str(*it, "value")};
    }
    if (auto it = doc.find("wildcard"); it != doc.end() && it->is_boolean()) {
        authz.wildcard = it->get<bool>();
    }
    if (auto it = doc.find("challenges"); it != doc.end() && it->is_array()) {
        for (const auto& ch : *it) {
            TRY_ASSIGN(const auto status, parse_status(str(ch, "status"), "challenge " + str(ch, "url")));
            authz.challenges.push_back(
                Challenge{str(ch, "type"), str(ch, "url"), str(ch, "token"), status, error_of(ch)});
        }
    }
    return authz;
}

core::Result<Order> fetch_order(Transport& transport, const Account& account, const std::string& url,
                                const core::Deadline& deadline) {
    TRY_ASSIGN(core::http::Response response, transport.post(account.signer(), url, "", deadline));
    return parse_order(response.body, url, retry_after_of(response));
}

core::Result<Authorization> fetch_authorization(Transport& transport, const Account& account, const std::string& url,
                                                const core::Deadline& deadline) {
    TRY_ASSIGN(core::http::Response response, transport.post(account.signer(), url, "", deadline));
    return parse_authorization(response.body, url, retry_after_of(response));
}

core::Status respond_to_challenge(Transport& transport, const Account& account, const Challenge& challenge,
                                  const core::Deadline& deadline) {
    TRY(transport.post(account.signer(), challenge.url, "{}", deadline));
    return {};
}

core::Result<Authorization> poll_authorization(Transport& transport, const Account& account, const std::string& url,
                                               const core::Deadline& deadline, const PollSchedule& schedule) {
    return poll([&] { return fetch_authorization(transport, account, url, deadline); },
                [](const Authorization& a) { return !still_in_progress(a.status); }, deadline, schedule,
                "authorization");
}

core::Result<Order> poll_order(Transport& transport, const Account& account, const std::string& url,
                               const core::Deadline& deadline, const PollSchedule& schedule) {
    return poll([&] { return fetch_order(transport, account, url, deadline); },
                [](const Order& o) { return !still_in_progress(o.status); }, deadline, schedule, "order");
}

namespace {

// The finalize POST (RFC 8555 §7.4) and what its answer says about the order.
// When the answer to an earlier finalize was lost, post() sends the request
// again and the CA answers orderNotReady: the order is already "processing"
// (or "valid"), which the order itself tells.
core::Result<Order> send_finalize(Transport& transport, const Account& account, const Order& order,
                                  std::string_view csr_der, const core::Deadline& deadline) {
    const Json payload = {{"csr", core::base64url_encode(csr_der)}};
    auto response = transport.post(account.signer(), order.finalize, payload.dump(), deadline);
    if (!response.ok()) {
        if (response.error().code != "orderNotReady") {
            return response.error();
        }
        auto now = fetch_order(transport, account, order.url, deadline);
        if (!now.ok() || (now->status != ResourceStatus::processing && now->status != ResourceStatus::valid)) {
            return response.error();
        }
        core::log::info("acme: finalize answered orderNotReady for an order already under way; polling it",
                        {{"order", order.url}, {"status", std::string(to_string(now->status))}});
        return now;
    }
    TRY_ASSIGN(const Json doc, parse_body(response->body, "finalize"));
    // An answer without a status is taken as still processing: the poll reads it.
    Order current = order;
    current.status = ResourceStatus::processing;
    current.retry_after = retry_after_of(*response);
    if (!str(doc, "status").empty()) {
        TRY_ASSIGN(current, order_from_json(doc, order.url, retry_after_of(*response)));
    }
    return current;
}

}  // namespace

core::Result<Order> finalize_order(Transport& transport, const Account& account, const Order& order,
                                   std::string_view csr_der, const core::Deadline& deadline,
                                   const PollSchedule& schedule) {
    TRY_ASSIGN(Order current, send_finalize(transport, account, order, csr_der, deadline));
    if (still_in_progress(current.status)) {
        TRY_ASSIGN(current, poll([&] { return fetch_order(transport, account, order.url, deadline); },
                                 [](const Order& o) { return !still_in_progress(o.status); }, deadline, schedule,
                                 "order", current.retry_after));
    }
    if (current.status != ResourceStatus::valid) {
        const std::string status = to_string(current.status);
        if (current.error) {
            return current.error->wrap("order " + status);
        }
        return core::make_error(core::ErrorKind::protocol, "order ended \"" + status + "\" after finalize");
    }
    if (current.certificate.empty()) {
        return core::make_error(core::ErrorKind::protocol, "valid order without a certificate URL");
    }
    return current;
}

std::vector<std::string> parse_links(const std::vector<std::string>& link_headers, std::string_view rel) {
    // RFC 8288 §3: Link: <uri>; rel="x"; other=..., <uri2>; rel=y
    std::vector<std::string> out;
    for (const std::string& header : link_headers) {
        std::size_t pos = 0;
        while (pos < header.size()) {
            const std::size_t open = header.find('<', pos);
            if (open == std::string::npos) {
                break;
            }
            const std::size_t close = header.find('>', open);
            if (close == std::string::npos) {
                break;
            }
            const std::string target = header.substr(open + 1, close - open - 1);
            // Parameters run until the next ',' outside quotes.
            std::size_t end = close + 1;
            bool quoted = false;
            while (end < header.size() && (quoted || header[end] != ',')) {
                if (header[end] == '"') {
                    quoted = !quoted;
                }
                ++end;
            }
            std::string params = header.substr(close + 1, end - close - 1);
            // Find rel=<value> or rel="<v1 v2>".
            std::size_t rel_pos = 0;
            while ((rel_pos = params.find("rel", rel_pos)) != std::string::npos) {
                std::size_t i = rel_pos + 3;
                while (i < params.size() && params[i] == ' ') {
                    ++i;
                }
                if (i >= params.size() || params[i] != '=') {
                    rel_pos = i;
                    continue;
                }
                ++i;
                while (i < params.size() && params[i] == ' ') {
                    ++i;
                }
                std::string value;
                if (i < params.size() && params[i] == '"') {
                    const std::size_t q = params.find('"', i + 1);
                    value = params.substr(i + 1, q == std::string::npos ? std::string::npos : q - i - 1);
                } else {
                    const std::size_t stop = params.find_first_of("; ", i);
                    value = params.substr(i, stop == std::string::npos ? std::string::npos : stop - i);
                }
                // rel may hold several space-separated relation types.
                std::size_t start = 0;
                while (start <= value.size()) {
                    const std::size_t space = value.find(' ', start);
                    const std::string one =
                        value.substr(start, space == std::string::npos ? std::string::npos : space - start);
                    if (one == rel) {
                        out.push_back(target);
                        break;
                    }
                    if (space == std::string::npos) {
                        break;
                    }
                    start = space + 1;
                }
                break;
            }
            pos = end + 1;
        }
    }
    return out;
}

core::Result<std::vector<CertificateChain>> download_certificate(Transport& transport, const Account& account,
                                                                 const std::string& url, const core::Deadline& deadline,
                                                                 Alternates alternates) {
    const core::http::Headers accept = {{"Accept", "application/pem-certificate-chain"}};
    TRY_ASSIGN(core::http::Response response, transport.post(account.signer(), url, "", deadline, accept));
    std::vector<CertificateChain> chains{CertificateChain{url, response.body}};
    if (alternates == Alternates::include) {
        // RFC 8555 §7.4.2: alternate chains via Link rel="alternate". The
        // certificate is issued already: a chain that cannot be fetched is
        // skipped (the default chain stays), never a reason to drop it.
        for (const std::string& alternate : parse_links(response.headers_named("link"), "alternate")) {
            auto alt = transport.post(account.signer(), alternate, "", deadline, accept);
            if (!alt.ok()) {
                core::log::warn("acme: alternate chain download failed; it is not considered for the preferred chain",
                                {{"url", alternate}, {"error", alt.error().message}});
                continue;
            }
            chains.push_back(CertificateChain{alternate, alt->body});
        }
    }
    return chains;
}

std::size_t select_chain(const std::vector<CertificateChain>& chains, std::string_view issuer_cn) {
    if (issuer_cn.empty()) {
        return 0;
    }
    for (std::size_t i = 0; i < chains.size(); ++i) {
        auto certs = core::parse_pem_chain(chains[i].pem);
        if (!certs.ok() || certs->empty()) {
            continue;
        }
        if (certs->back().info().issuer_cn == issuer_cn) {
            return i;
        }
    }
    return 0;
}

core::Status revoke_certificate(Transport& transport, const Account& account, std::string_view certificate_der,
                                RevocationReason reason, const core::Deadline& deadline) {
    const Json payload = {{"certificate", core::base64url_encode(certificate_der)},
                          {"reason", static_cast<int>(reason)}};
    auto response = transport.post(account.signer(), transport.directory().revoke_cert, payload.dump(), deadline);
    if (!response.ok()) {
        return response.error().wrap("revocation");
    }
    return {};
}

}  // namespace acme
