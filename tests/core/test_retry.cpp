// Backoff with full jitter, Retry-After parsing, interruptible sleeps.
#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <set>
#include <thread>
#include <vector>

#include "core/retry.hpp"
#include "elapsed.hpp"

namespace {

using namespace std::chrono_literals;
using core::Deadline;
using core::ErrorKind;
using core::RetryPolicy;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;
using SystemTime = std::chrono::system_clock::time_point;

// 2026-11-23T19:00:00Z
SystemTime fixed_now() {
    using namespace std::chrono;
    return sys_days{year{2026} / November / 23} + hours{19};
}

class Retry : public ::testing::Test {
protected:
    void SetUp() override { core::reset_cancel(); }
    void TearDown() override { core::reset_cancel(); }
};

TEST_F(Retry, BackoffStaysWithinTheGrowingWindow) {
    RetryPolicy policy;
    policy.base_delay = 100ms;
    policy.max_delay = 1000ms;
    const std::vector<milliseconds> windows = {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms, 1000ms};
    for (std::size_t retry = 0; retry < windows.size(); ++retry) {
        milliseconds low{1'000'000};
        milliseconds high{0};
        for (int draw = 0; draw < 4000; ++draw) {
            const auto d = core::backoff_delay(policy, static_cast<int>(retry));
            ASSERT_GE(d.count(), 0);
            ASSERT_LE(d, windows[retry]) << "retry " << retry;
            low = std::min(low, d);
            high = std::max(high, d);
        }
        // Full jitter: draws spread over (nearly) the whole window.
        EXPECT_LT(low, windows[retry] / 10) << "retry " << retry;
        EXPECT_GT(high, windows[retry] * 9 / 10) << "retry " << retry;
    }
}

TEST_F(Retry, BackoffMeanGrowsThenIsCapped) {
    RetryPolicy policy;
    policy.base_delay = 250ms;
    policy.max_delay = 20'000ms;
    const auto mean = [&policy](int retry) {
        double sum = 0;
        constexpr int k_draws = 4000;
        for (int i = 0; i < k_draws; ++i) {
            sum += static_cast<double>(core::backoff_delay(policy, retry).count());
        }
        return sum / k_draws;
    };
    const double m0 = mean(0);
    const double m3 = mean(3);
    EXPECT_NEAR(m0, 125.0, 15.0);
    EXPECT_NEAR(m3, 1000.0, 80.0);
    EXPECT_NEAR(mean(10), 10'000.0, 600.0);
    EXPECT_NEAR(mean(50), 10'000.0, 600.0);
    // Huge retry counts must not overflow.
    for (int retry : {62, 63, 64, 1000, 1 << 30}) {
        const auto d = core::backoff_delay(policy, retry);
        EXPECT_GE(d.count(), 0);
        EXPECT_LE(d, policy.max_delay);
    }
}

TEST_F(Retry, BackoffIsSafeAcrossThreads) {
    RetryPolicy policy;
    std::atomic<bool> bad{false};
    std::vector<std::thread> threads;
    std::vector<std::set<long>> seen(4);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                const auto d = core::backoff_delay(policy, 4);
                if (d.count() < 0 || d > 4000ms) {
                    bad = true;
                }
                seen[static_cast<std::size_t>(t)].insert(static_cast<long>(d.count()));
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_FALSE(bad);
    // Each thread gets its own varied stream, not one constant.
    for (const auto& values : seen) {
        EXPECT_GT(values.size(), 500U);
    }
}

TEST_F(Retry, ZeroBaseMeansNoWait) {
    RetryPolicy policy;
    policy.base_delay = 0ms;
    EXPECT_EQ(core::backoff_delay(policy, 0), 0ms);
    EXPECT_EQ(core::backoff_delay(policy, 5), 0ms);
}

TEST_F(Retry, RetryAfterDeltaSeconds) {
    EXPECT_EQ(core::parse_retry_after("120", fixed_now()), milliseconds{120'000});
    EXPECT_EQ(core::parse_retry_after("0", fixed_now()), milliseconds{0});
    EXPECT_EQ(core::parse_retry_after(" 7 ", fixed_now()), milliseconds{7'000});
    // Absurdly long values saturate instead of overflowing.
    const auto huge = core::parse_retry_after("99999999999999999999999", fixed_now());
    ASSERT_TRUE(huge.has_value());
    EXPECT_GT(*huge, milliseconds{1'000'000'000});
}

// Found by fuzz_acme_json: a date past year 2262 overflowed the clock's
// nanoseconds (UBSan: signed integer overflow). Now computed in milliseconds
// and saturated like delta-seconds.
TEST_F(Retry, RetryAfterDateFarAheadSaturates) {
    const auto far = core::parse_retry_after("Wed, 21 Oct 6026 07:28:00 GMT", fixed_now());
    ASSERT_TRUE(far.has_value());
    EXPECT_GT(*far, milliseconds{std::int64_t{3999} * 365 * 24 * 3600 * 1000});
    EXPECT_LE(*far, *core::parse_retry_after("99999999999999999999999", fixed_now()));
    const auto ahead = core::parse_retry_after("Sat, 01 Jan 2300 00:00:00 GMT", fixed_now());
    ASSERT_TRUE(ahead.has_value());
    EXPECT_GT(*ahead, milliseconds{std::int64_t{273} * 365 * 24 * 3600 * 1000});
}

TEST_F(Retry, RetryAfterHttpDates) {
    // IMF-fixdate, 90 s after fixed_now().
    EXPECT_EQ(core::parse_retry_after("Mon, 23 Nov 2026 19:01:30 GMT", fixed_now()), milliseconds{90'000});
    // In the past: no wait.
    EXPECT_EQ(core::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", fixed_now()), milliseconds{0});
    EXPECT_EQ(core::parse_retry_after("Mon, 23 Nov 2026 19:00:00 GMT", fixed_now()), milliseconds{0});
    // Obsolete forms (RFC 9110 §5.6.7).
    EXPECT_EQ(core::parse_retry_after("Monday, 23-Nov-26 19:00:10 GMT", fixed_now()), milliseconds{10'000});
    EXPECT_EQ(core::parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", fixed_now()), milliseconds{0});
    EXPECT_EQ(core::parse_retry_after("Mon Nov 23 19:00:05 2026", fixed_now()), milliseconds{5'000});
    EXPECT_EQ(core::parse_retry_after("Tue Dec  1 19:00:00 2026", fixed_now()), milliseconds{8LL * 24 * 3600 * 1000});
    // Sub-second offsets of `now` round the wait up, never down to early.
    EXPECT_EQ(core::parse_retry_after("Mon, 23 Nov 2026 19:00:01 GMT", fixed_now() + 250ms), milliseconds{750});
}

TEST_F(Retry, RetryAfterGarbage) {
    for (const char* bad :
         {"", "   ", "-5", "1.5", "soon", "12abc", "Mon, 23 Nov 2026 19:01:30 UTC", "Mon, 32 Nov 2026 19:01:30 GMT",
          "Mon, 23 Foo 2026 19:01:30 GMT", "Mon, 23 Nov 2026 25:01:30 GMT", "Mon, 23 Nov 2026 19:01 GMT",
          "Mon, 30 Feb 2026 10:00:00 GMT", "Mon, 23 Nov 2026 19:01:30 GMT trailing"}) {
        EXPECT_FALSE(core::parse_retry_after(bad, fixed_now()).has_value()) << "'" << bad << "'";
    }
}

TEST_F(Retry, DeadlineRemaining) {
    const auto d = Deadline::after(500ms);
    EXPECT_FALSE(d.expired());
    EXPECT_LE(d.remaining(), 500ms);
    EXPECT_GT(d.remaining(), 400ms);
    const auto past = Deadline(Steady::now() - 1s);
    EXPECT_TRUE(past.expired());
    EXPECT_EQ(past.remaining(), 0ms);
    EXPECT_FALSE(Deadline::never().expired());
    EXPECT_GT(Deadline::never().remaining(), milliseconds{1'000'000'000});
    EXPECT_EQ(Deadline::never().min(d).at(), d.at());
}

TEST_F(Retry, SleepForSleeps) {
    const auto start = Steady::now();
    const auto status = core::sleep_for(120ms);
    EXPECT_TRUE(status.ok());
    EXPECT_GE(elapsed_ms(start), 119);
    EXPECT_LT(elapsed_ms(start), 1000);
    EXPECT_TRUE(core::sleep_for(0ms).ok());
}

TEST_F(Retry, DeadlineShortensASleep) {
    const auto start = Steady::now();
    const auto status = core::sleep_for(10s, Deadline::after(150ms));
    const long took = elapsed_ms(start);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, ErrorKind::timeout);
    EXPECT_GE(took, 140);
    EXPECT_LT(took, 1000);
    // An expired deadline ends a sleep at once.
    const auto at_once = Steady::now();
    const auto expired = core::sleep_for(10s, Deadline(Steady::now() - 1s));
    EXPECT_FALSE(expired.ok());
    EXPECT_LT(elapsed_ms(at_once), 50);
    // A deadline later than the delay does not matter.
    EXPECT_TRUE(core::sleep_for(20ms, Deadline::after(10s)).ok());
}

TEST_F(Retry, CancelFromAnotherThreadWakesASleepAtOnce) {
    std::atomic<bool> sleeping{false};
    Steady::time_point cancelled_at;
    std::thread canceller([&] {
        // Wait (bounded) until the sleeper is about to sleep, then cancel.
        for (int i = 0; i < 2000 && !sleeping; ++i) {
            std::this_thread::sleep_for(1ms);
        }
        std::this_thread::sleep_for(20ms);
        cancelled_at = Steady::now();
        core::cancel();
    });
    sleeping = true;
    const auto status = core::sleep_for(10s);
    const auto woke = Steady::now();
    canceller.join();
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, ErrorKind::cancelled);
    EXPECT_LT(std::chrono::duration_cast<milliseconds>(woke - cancelled_at).count(), 200);
    EXPECT_TRUE(core::cancelled());
}

TEST_F(Retry, CancelWakesEverySleeperAndLaterSleepsReturnAtOnce) {
    std::vector<std::thread> sleepers;
    std::atomic<int> cancelled_count{0};
    for (int i = 0; i < 3; ++i) {
        sleepers.emplace_back([&] {
            const auto status = core::sleep_for(10s);
            if (!status.ok() && status.error().kind == ErrorKind::cancelled) {
                ++cancelled_count;
            }
        });
    }
    const auto start = Steady::now();
    core::cancel();
    for (auto& thread : sleepers) {
        thread.join();
    }
    EXPECT_EQ(cancelled_count, 3);
    EXPECT_LT(elapsed_ms(start), 500);
    const auto again = core::sleep_for(10s);
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().kind, ErrorKind::cancelled);

    core::reset_cancel();
    EXPECT_FALSE(core::cancelled());
    EXPECT_TRUE(core::sleep_for(10ms).ok());
}

void on_signal(int) { core::cancel(); }

TEST_F(Retry, CancelFromASignalHandler) {
    struct sigaction action {};
    struct sigaction previous {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    ASSERT_EQ(::sigaction(SIGUSR1, &action, &previous), 0);
    std::thread raiser([] {
        std::this_thread::sleep_for(50ms);
        ::kill(::getpid(), SIGUSR1);
    });
    const auto start = Steady::now();
    const auto status = core::sleep_for(10s);
    raiser.join();
    ::sigaction(SIGUSR1, &previous, nullptr);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, ErrorKind::cancelled);
    EXPECT_LT(elapsed_ms(start), 1000);
}

// Clean-up after SIGTERM (docs/architecture.md#sigterm-and-cancellation): inside a CancelShield the thread sleeps
// and transfers as if not cancelled, until the shield's budget runs out; other
// threads and the code after the shield see the cancellation.
TEST_F(Retry, CancelShieldLetsCleanupRunForItsBudget) {
    core::cancel();
    ASSERT_TRUE(core::cancelled());
    {
        core::CancelShield shield(300ms);
        EXPECT_FALSE(core::cancelled());
        bool other_thread_sees_cancel = false;
        std::thread([&] { other_thread_sees_cancel = core::cancelled(); }).join();
        EXPECT_TRUE(other_thread_sees_cancel);
        const auto start = Steady::now();
        EXPECT_TRUE(core::sleep_for(50ms).ok());  // a real wait, not woken by the pipe
        EXPECT_GE(elapsed_ms(start), 45);
        // A wait longer than the budget ends with the shield, as cancelled.
        const auto long_wait = core::sleep_for(10s);
        ASSERT_FALSE(long_wait.ok());
        EXPECT_EQ(long_wait.error().kind, ErrorKind::cancelled);
        EXPECT_LT(elapsed_ms(start), 1000);
        EXPECT_TRUE(core::cancelled());
    }
    EXPECT_TRUE(core::cancelled());
    {
        core::CancelShield outer(5s);
        {
            core::CancelShield inner(0ms);  // never extends, may shorten
            EXPECT_TRUE(core::cancelled());
        }
        EXPECT_FALSE(core::cancelled());
    }
    core::reset_cancel();
}

}  // namespace
