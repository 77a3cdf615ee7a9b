// The ACME transport (RFC 8555 §6, §7.1.1, §7.2): the directory, a thread-safe pool
// of anti-replay nonces fed by every Replay-Nonce header, and ONE signed-POST
// function that owns nonces, JWS signing, badNonce retries, Retry-After and
// the parsing of problem documents into errors.
//
// A Transport is shared by every order of a run: all of its members are
// thread-safe. Each request borrows a core::http::Client from a small pool
// (one connection per concurrent request, kept alive between requests).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/jws.hpp"
#include "core/http.hpp"
#include "core/result.hpp"
#include "core/retry.hpp"

namespace acme {

// RFC 8555 §7.1.1 directory, plus RFC 9773 §3 renewalInfo and the profiles
// extension (draft-aaron-acme-profiles: meta.profiles name -> description).
struct Directory {
    std::string url;
    std::string new_nonce;
    std::string new_account;
    std::string new_order;
    std::string new_authz;
    std::string revoke_cert;
    std::string key_change;
    std::string renewal_info;  // empty when the CA does not offer ARI
    // meta
    std::string terms_of_service;
    std::string website;
    bool external_account_required = false;
    std::map<std::string, std::string> profiles;

    static core::Result<Directory> parse(std::string_view json_text, std::string url);
};

// Anti-replay nonces (RFC 8555 §6.5), thread-safe. Oldest nonces are dropped
// beyond `capacity`: servers forget old nonces anyway.
class NoncePool {
public:
    explicit NoncePool(std::size_t capacity = 32) : capacity_(capacity) {}
    void put(std::string nonce);        // empty strings are ignored
    std::optional<std::string> take();  // most recent first
    std::size_t size() const;

private:
    mutable std::mutex mutex_;
    std::deque<std::string> nonces_;
    std::size_t capacity_;
};

struct TransportOptions {
    std::string directory_url;
    core::http::ClientOptions http;
    int max_bad_nonce_retries = 10;                     // RFC 8555 §6.5: badNonce is retried with a fresh nonce
    int max_transient_retries = 3;                      // network errors, 5xx, 429/rateLimited with Retry-After
    std::chrono::milliseconds max_retry_after{60'000};  // longer Retry-After: fail with the error instead
    // The run's limits (docs/configuration.md#time-limits), named in errors so
    // the operator knows which setting was hit: one call (get, post, nonce;
    // its retries and waits included) ends within call_limit of its start,
    // and every call ends by run_deadline.
    std::chrono::milliseconds call_limit{0};  // 0: none
    std::string call_limit_name;              // e.g. "--timeout 5 s"
    core::Deadline run_deadline = core::Deadline::never();
    std::string run_deadline_name;  // e.g. "--deadline 40 s"
};

class Transport {
public:
    // Fetches the directory (RFC 8555 §7.1.1).
    static core::Result<std::unique_ptr<Transport>> connect(TransportOptions options, const core::Deadline& deadline);

    const Directory& directory() const { return directory_; }
    const TransportOptions& options() const { return options_; }
    NoncePool& nonces() { return nonces_; }

    // Unsigned GET (directory, renewalInfo, Pebble's management API). Retries
    // network errors and 5xx within the deadline. Non-2xx answers become
    // errors (problem documents parsed).
    core::Result<core::http::Response> get(std::string_view url, const core::Deadline& deadline);

    // THE signed POST (RFC 8555 §6.2). `payload` is JSON text, or "" for
    // POST-as-GET (§6.3). Signs with the signer's jwk or kid, retries badNonce
    // (§6.5) with the nonce from the error response, retries network errors
    // and every 5xx (503 included, with or without Retry-After) and a 429 or
    // rateLimited that carries Retry-After: the wait is the Retry-After when
    // given (RFC 9110 §10.2.3; Boulder sends one with its 500s), else a jittered
    // backoff. A Retry-After beyond max_retry_after or the deadline fails at
    // once, the error saying how long the CA asked for
    // (docs/architecture.md#retries). Problem documents become errors (§6.7).
    // `extra` headers are added (e.g. Accept for certificates).
    core::Result<core::http::Response> post(const Signer& signer, std::string_view url, std::string_view payload,
                                            const core::Deadline& deadline, const core::http::Headers& extra = {});

    // A nonce from the pool, or a fresh one from newNonce (§7.2): then the
    // Replay-Nonce of that very response, never one another thread may take
    // from the pool first.
    core::Result<std::string> nonce(const core::Deadline& deadline);

    ~Transport();
    Transport(const Transport&) = delete;
    Transport& operator=(const Transport&) = delete;

private:
    explicit Transport(TransportOptions options);
    enum class PoolNonce { yes, no };
    // When a call must end: the earliest of the caller's deadline, the call
    // limit from now and the run deadline, with the setting it comes from
    // (empty for the caller's own deadline).
    struct Bound {
        core::Deadline at;
        std::string name;
    };
    Bound bound(const core::Deadline& deadline) const;
    core::Result<core::http::Response> get_within(std::string_view url, const Bound& bound);
    core::Result<std::string> nonce_within(const Bound& bound);
    // Sends with a pooled client, bounded by `bound`, feeding Replay-Nonce
    // into the pool unless told not to.
    core::Result<core::http::Response> send(core::http::Request request, const Bound& bound,
                                            PoolNonce pool = PoolNonce::yes);
    // After transient failure number `attempts` (incremented here): sleeps
    // the answer's Retry-After or a backoff and returns ok to try again, or
    // returns `error` (saying what the CA asked for) when the attempts, the
    // cap or the bound do not allow another try.
    core::Status wait_to_retry(const core::Error& error, int& attempts, const Bound& bound,
                               std::string_view what) const;

    TransportOptions options_;
    Directory directory_;
    NoncePool nonces_;
    std::mutex clients_mutex_;
    std::vector<std::unique_ptr<core::http::Client>> idle_clients_;
};

}  // namespace acme
