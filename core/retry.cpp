#include "core/retry.hpp"
#include "core/text.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <random>
#include <string>

namespace core {

namespace {

// Self-pipe for cancellation: cancel() writes one byte (async-signal-safe),
// every sleeper polls the read end, so all of them wake at once. The byte is
// left in the pipe until reset_cancel(), which keeps later sleeps short too.
// Created during static initialisation, before any signal handler can run.
struct CancelPipe {
    int read_fd = -1;
    int write_fd = -1;

    CancelPipe() {
        std::array<int, 2> fds{-1, -1};
        if (::pipe2(fds.data(), O_CLOEXEC | O_NONBLOCK) == 0) {
            read_fd = fds[0];
            write_fd = fds[1];
        }
    }
    ~CancelPipe() {
        if (read_fd >= 0) {
            ::close(read_fd);
        }
        if (write_fd >= 0) {
            ::close(write_fd);
        }
    }
    CancelPipe(const CancelPipe&) = delete;
    CancelPipe& operator=(const CancelPipe&) = delete;
};

std::atomic<bool> g_cancelled{false};
CancelPipe g_cancel_pipe;
// Until when cancel() is ignored on this thread (CancelShield); min = never.
thread_local Clock::time_point t_shielded_until = Clock::time_point::min();

bool shielded() { return t_shielded_until != Clock::time_point::min() && Clock::now() < t_shielded_until; }

static_assert(std::atomic<bool>::is_always_lock_free, "cancel() must be async-signal-safe");

// Without a pipe (pipe2 failed) sleepers poll the flag this often.
constexpr milliseconds k_fallback_poll{50};
// Longest single sleep (a year); longer requests are clamped.
constexpr std::int64_t k_max_sleep = std::int64_t{365} * 24 * 3600 * 1000;

std::mt19937_64& rng() {
    thread_local std::mt19937_64 engine{[] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }()};
    return engine;
}

// --- HTTP-date parsing (RFC 9110 §5.6.7) ---

constexpr std::array<std::string_view, 12> k_months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> k_short_days = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> k_long_days = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                         "Friday", "Saturday", "Sunday"};

// A tiny cursor over the header value; every reader consumes on success only.
class Cursor {
public:
    explicit Cursor(std::string_view text) : text_(text) {}

    bool done() const { return pos_ == text_.size(); }

    bool literal(std::string_view expected) {
        if (text_.substr(pos_, expected.size()) != expected) {
            return false;
        }
        pos_ += expected.size();
        return true;
    }

    // Exactly `count` digits.
    bool digits(std::size_t count, int& out) {
        if (pos_ + count > text_.size()) {
            return false;
        }
        int value = 0;
        for (std::size_t i = 0; i < count; ++i) {
            const char c = text_[pos_ + i];
            if (c < '0' || c > '9') {
                return false;
            }
            value = value * 10 + (c - '0');
        }
        pos_ += count;
        out = value;
        return true;
    }

    // One of `names`, returning its index.
    template <std::size_t N>
    bool one_of(const std::array<std::string_view, N>& names, int& index) {
        for (std::size_t i = 0; i < N; ++i) {
            if (literal(names[i])) {
                index = static_cast<int>(i);
                return true;
            }
        }
        return false;
    }

    bool month(int& out) {
        int index = 0;
        if (!one_of(k_months, index)) {
            return false;
        }
        out = index + 1;
        return true;
    }

    // "HH:MM:SS"
    bool time_of_day(int& hour, int& minute, int& second) {
        return digits(2, hour) && literal(":") && digits(2, minute) && literal(":") && digits(2, second);
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

struct DateParts {
    int year = 0;
    int month = 0;
    int day = 0;
    int hour = 0;
    int minute = 0;
    int second = 0;
};

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
bool parse_imf_fixdate(std::string_view text, DateParts& d) {
    Cursor c(text);
    int weekday = 0;
    return c.one_of(k_short_days, weekday) && c.literal(", ") && c.digits(2, d.day) && c.literal(" ") &&
           c.month(d.month) && c.literal(" ") && c.digits(4, d.year) && c.literal(" ") &&
           c.time_of_day(d.hour, d.minute, d.second) && c.literal(" GMT") && c.done();
}

// Obsolete RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit year is read
// per RFC 9110 §5.6.7 (more than 50 years ahead means the previous century).
bool parse_rfc850(std::string_view text, int current_year, DateParts& d) {
    Cursor c(text);
    int weekday = 0;
    int year2 = 0;
    if (!(c.one_of(k_long_days, weekday) && c.literal(", ") && c.digits(2, d.day) && c.literal("-") &&
          c.month(d.month) && c.literal("-") && c.digits(2, year2) && c.literal(" ") &&
          c.time_of_day(d.hour, d.minute, d.second) && c.literal(" GMT") && c.done())) {
        return false;
    }
    const int century = current_year - current_year % 100;
    d.year = century + year2;
    if (d.year > current_year + 50) {
        d.year -= 100;
    }
    return true;
}

// Obsolete asctime: "Sun Nov  6 08:49:37 1994" (day padded with a space).
bool parse_asctime(std::string_view text, DateParts& d) {
    Cursor c(text);
    int weekday = 0;
    if (!(c.one_of(k_short_days, weekday) && c.literal(" ") && c.month(d.month) && c.literal(" "))) {
        return false;
    }
    if (c.literal(" ")) {
        if (!c.digits(1, d.day)) {
            return false;
        }
    } else if (!c.digits(2, d.day)) {
        return false;
    }
    return c.literal(" ") && c.time_of_day(d.hour, d.minute, d.second) && c.literal(" ") && c.digits(4, d.year) &&
           c.done();
}

// In seconds: a date years ahead (a fuzzer sent year 6026) overflows the
// system clock's nanoseconds, not these.
std::optional<std::chrono::sys_seconds> to_time_point(const DateParts& d) {
    using namespace std::chrono;
    const year_month_day ymd{year{d.year}, month{static_cast<unsigned>(d.month)}, day{static_cast<unsigned>(d.day)}};
    // Leap second 60 is allowed by the grammar; treat it as 59.
    if (!ymd.ok() || d.hour > 23 || d.minute > 59 || d.second > 60) {
        return std::nullopt;
    }
    return sys_days{ymd} + hours{d.hour} + minutes{d.minute} + seconds{std::min(d.second, 59)};
}

}  // namespace

milliseconds Deadline::remaining() const {
    const auto now = Clock::now();
    if (now >= at_) {
        return milliseconds{0};
    }
    return std::chrono::duration_cast<milliseconds>(at_ - now);
}

milliseconds backoff_delay(const RetryPolicy& policy, int retry) {
    const std::int64_t base = std::max<std::int64_t>(policy.base_delay.count(), 0);
    const std::int64_t cap = std::max<std::int64_t>(policy.max_delay.count(), 0);
    // base * 2^retry, saturating at the cap without overflowing.
    std::int64_t window = base;
    for (int i = 0; i < retry && window > 0 && window < cap; ++i) {
        window *= 2;
    }
    window = std::min(window, cap);
    if (window <= 0) {
        return milliseconds{0};
    }
    std::uniform_int_distribution<std::int64_t> pick(0, window);
    return milliseconds{pick(rng())};
}

// Saturates absurd values (callers compare with max_retry_after anyway).
constexpr std::int64_t k_max_retry_after_seconds = std::int64_t{1} << 40;

std::optional<milliseconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
    value = trim(value);
    if (value.empty()) {
        return std::nullopt;
    }
    // delta-seconds = 1*DIGIT
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        std::int64_t seconds = 0;
        for (const char c : value) {
            seconds = std::min(seconds * 10 + (c - '0'), k_max_retry_after_seconds);
        }
        return milliseconds{seconds * 1000};
    }

    using namespace std::chrono;
    const int current_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
    DateParts parts;
    if (!parse_imf_fixdate(value, parts) && !parse_rfc850(value, current_year, parts) && !parse_asctime(value, parts)) {
        return std::nullopt;
    }
    const auto at = to_time_point(parts);
    if (!at) {
        return std::nullopt;
    }
    // Milliseconds hold any year a date can carry; the clock's nanoseconds do not.
    const auto delta = time_point_cast<milliseconds>(*at) - floor<milliseconds>(now);
    if (delta <= milliseconds{0}) {
        return milliseconds{0};
    }
    return std::min(delta, milliseconds{k_max_retry_after_seconds * 1000});
}

Status sleep_for(milliseconds delay, const Deadline& deadline) {
    if (cancelled()) {
        return make_error(ErrorKind::cancelled, "cancelled");
    }
    // Clamp absurd delays so the time arithmetic below cannot overflow.
    delay = std::clamp(delay, milliseconds{0}, milliseconds{k_max_sleep});
    const auto start = Clock::now();
    // Compare in the clock's own units; time_point::max() must not overflow.
    const bool cut_short = deadline.at() - start < delay;
    const Clock::time_point wake = cut_short ? deadline.at() : start + delay;

    while (true) {
        if (cancelled()) {
            return make_error(ErrorKind::cancelled, "cancelled while waiting");
        }
        const auto now = Clock::now();
        if (now >= wake) {
            break;
        }
        const auto left = std::chrono::ceil<milliseconds>(wake - now);
        auto wait_ms = static_cast<int>(std::min<std::int64_t>(left.count(), INT_MAX));
        if (g_cancelled.load() && shielded()) {
            // The pipe stays readable after cancel(): sleep on the clock until
            // the wake time or the end of the shield, whichever comes first.
            const auto shield_left = std::chrono::ceil<milliseconds>(t_shielded_until - now);
            wait_ms = static_cast<int>(std::clamp<std::int64_t>(shield_left.count(), 1, wait_ms));
            (void)::poll(nullptr, 0, wait_ms);
        } else if (g_cancel_pipe.read_fd >= 0) {
            pollfd pfd{};
            pfd.fd = g_cancel_pipe.read_fd;
            pfd.events = POLLIN;
            // EINTR and spurious wakeups just go round the loop again.
            (void)::poll(&pfd, 1, wait_ms);
        } else {
            wait_ms = std::min(wait_ms, static_cast<int>(k_fallback_poll.count()));
            (void)::poll(nullptr, 0, wait_ms);
        }
    }
    if (cut_short) {
        return make_error(ErrorKind::timeout, "deadline reached while waiting");
    }
    return {};
}

void cancel() {
    // Only async-signal-safe calls here: atomic exchange, write(2), errno save.
    if (g_cancelled.exchange(true)) {
        return;
    }
    if (g_cancel_pipe.write_fd >= 0) {
        const int saved_errno = errno;
        const char byte = 1;
        (void)!::write(g_cancel_pipe.write_fd, &byte, 1);
        errno = saved_errno;
    }
}

bool cancelled() { return g_cancelled.load() && !shielded(); }

CancelShield::CancelShield(milliseconds budget) : previous_(t_shielded_until) {
    const auto until = Clock::now() + budget;
    // Nested shields never extend an outer one's budget.
    t_shielded_until = previous_ == Clock::time_point::min() ? until : std::min(previous_, until);
}

CancelShield::~CancelShield() { t_shielded_until = previous_; }

void reset_cancel() {
    g_cancelled.store(false);
    if (g_cancel_pipe.read_fd >= 0) {
        std::array<char, 64> buffer{};
        while (::read(g_cancel_pipe.read_fd, buffer.data(), buffer.size()) > 0) {
        }
    }
}

}  // namespace core
