// Retry rules shared by every network caller: exponential backoff with full
// jitter, Retry-After (seconds or HTTP-date), bounded attempts and an overall
// deadline. Waits are interruptible by core::cancel() (SIGTERM).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "core/result.hpp"

namespace core {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A point in time after which a bounded wait gives up.
class Deadline {
public:
    static Deadline after(milliseconds budget) { return Deadline(Clock::now() + budget); }
    static Deadline never() { return Deadline(Clock::time_point::max()); }
    explicit Deadline(Clock::time_point at) : at_(at) {}

    Clock::time_point at() const { return at_; }
    bool expired() const { return Clock::now() >= at_; }
    milliseconds remaining() const;  // zero when expired
    // The earlier of the two.
    Deadline min(const Deadline& other) const { return Deadline(at_ < other.at_ ? at_ : other.at_); }

private:
    Clock::time_point at_;
};

struct RetryPolicy {
    int max_attempts = 5;                   // total tries, first included
    milliseconds base_delay{250};           // cap of the first backoff window
    milliseconds max_delay{20'000};         // cap of any one backoff window
    milliseconds max_retry_after{120'000};  // Retry-After longer than this is an error, not a wait
};

// Full jitter (AWS architecture blog): delay = random(0, min(max, base * 2^retry)).
// `retry` counts from 0 for the wait after the first failure.
milliseconds backoff_delay(const RetryPolicy& policy, int retry);

// Parses a Retry-After header value: delta-seconds or an HTTP-date (RFC 9110
// §10.2.3). Returns the wait from `now`, zero for dates in the past,
// nullopt when unparsable.
std::optional<milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Sleeps for `delay`, but no later than `deadline`, waking early on cancel().
// Returns ErrorKind::cancelled when cancelled, ErrorKind::timeout when the
// deadline cut the wait short, ok otherwise.
Status sleep_for(milliseconds delay, const Deadline& deadline = Deadline::never());

// Process-wide cancellation (set from the SIGTERM handler; async-signal-safe).
void cancel();
bool cancelled();
void reset_cancel();  // for tests

// Lets clean-up that must still reach the network after cancel() (removing
// the DNS records we added, releasing a lease) do so: while a shield lives,
// cancelled() stays false on this thread until `budget` has passed since the
// shield was made, so HTTP transfers and sleeps in that scope run normally.
// SIGTERM (ECS, systemd) then still ends the run within a bounded time.
class CancelShield {
public:
    explicit CancelShield(milliseconds budget);
    ~CancelShield();
    CancelShield(const CancelShield&) = delete;
    CancelShield& operator=(const CancelShield&) = delete;

private:
    Clock::time_point previous_;
};

}  // namespace core
