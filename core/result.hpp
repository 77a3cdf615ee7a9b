// Result<T>: the return type of every operation that can fail in a way the
// caller may handle (docs/architecture.md#layers). Exceptions are kept for what ends the
// run; they are caught once in main().
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <variant>

namespace core {

// What kind of failure, so callers can decide (retry, report, exit code)
// without parsing messages.
enum class ErrorKind {
    invalid_input,  // bad configuration, flags, files or server answers
    network,        // connection refused/reset, DNS failure, TLS failure
    timeout,        // a bounded wait ran out
    http,           // an HTTP status the caller did not expect
    protocol,       // a peer answered something that breaks its protocol
    auth,           // missing/invalid credentials or permissions
    not_found,
    conflict,  // e.g. lock held, resource already exists
    crypto,
    io,         // local files
    cancelled,  // SIGTERM or deadline of the run
    internal,
};

const char* to_string(ErrorKind kind);

struct Error {
    ErrorKind kind = ErrorKind::internal;
    std::string message;
    // The peer's own error code when there is one: an AWS code ("Throttling",
    // "AccessDenied"), an ACME problem type without its URN prefix
    // ("badNonce", "rateLimited"). Empty otherwise.
    std::string code;
    int http_status = 0;
    // How long the peer asked us to wait before retrying (Retry-After), 0 = not given.
    std::chrono::milliseconds retry_after{0};
    // Transient failure worth retrying (throttling, 5xx, timeouts).
    bool retryable = false;

    // Returns a copy whose message is "prefix: message" (lego's wrapping habit).
    Error wrap(const std::string& prefix) const {
        Error copy = *this;
        copy.message = prefix + ": " + message;
        return copy;
    }
};

inline Error make_error(ErrorKind kind, std::string message) {
    Error e;
    e.kind = kind;
    e.message = std::move(message);
    return e;
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : data_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : data_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit by design

    bool ok() const { return data_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(data_); }
    const T& value() const& { return std::get<0>(data_); }
    T&& value() && { return std::get<0>(std::move(data_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(data_); }

private:
    std::variant<T, Error> data_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace core

#define CORE_CONCAT_INNER(a, b) a##b
#define CORE_CONCAT(a, b) CORE_CONCAT_INNER(a, b)

// TRY(expr): evaluates a Result; on error returns the error from the calling function.
#define TRY(expr)                                              \
    do {                                                       \
        auto&& CORE_CONCAT(try_result_, __LINE__) = (expr);    \
        if (!CORE_CONCAT(try_result_, __LINE__).ok()) {        \
            return CORE_CONCAT(try_result_, __LINE__).error(); \
        }                                                      \
    } while (false)

// TRY_ASSIGN(var, expr): declares `var` from a Result's value, or returns its error.
// `var` is a declaration (`auto name`), so it cannot be parenthesized.
#define TRY_ASSIGN(var, expr)                           \
    auto CORE_CONCAT(try_tmp_, __LINE__) = (expr);      \
    if (!CORE_CONCAT(try_tmp_, __LINE__).ok()) {        \
        return CORE_CONCAT(try_tmp_, __LINE__).error(); \
    }                                                   \
    var = std::move(CORE_CONCAT(try_tmp_, __LINE__)).value()  // NOLINT(bugprone-macro-parentheses)
