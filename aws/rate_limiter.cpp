// Token bucket shared by the clients of one rate-limited API (Route53 allows
// five requests per second per account).
#include <algorithm>
#include <mutex>

#include "aws/client.hpp"

namespace aws {

struct RateLimiter::Impl {
    std::mutex mutex;
    double rate = 1.0;      // tokens per second
    double capacity = 1.0;  // burst
    double tokens = 1.0;
    core::Clock::time_point last = core::Clock::now();
};

RateLimiter::RateLimiter(double requests_per_second) : impl_(std::make_unique<Impl>()) {
    impl_->rate = requests_per_second > 0 ? requests_per_second : 1.0;
    impl_->capacity = std::max(1.0, impl_->rate);
    impl_->tokens = impl_->capacity;
}

RateLimiter::~RateLimiter() = default;

core::Status RateLimiter::acquire(const core::Deadline& deadline) {
    for (;;) {
        core::milliseconds wait{0};
        {
            std::lock_guard lock(impl_->mutex);
            const auto now = core::Clock::now();
            const double elapsed = std::chrono::duration<double>(now - impl_->last).count();
            impl_->tokens = std::min(impl_->capacity, impl_->tokens + elapsed * impl_->rate);
            impl_->last = now;
            if (impl_->tokens >= 1.0) {
                impl_->tokens -= 1.0;
                return {};
            }
            const double missing = 1.0 - impl_->tokens;
            wait = core::milliseconds(static_cast<long long>(missing / impl_->rate * 1000.0) + 1);
        }
        if (deadline.remaining() < wait) {
            return core::make_error(core::ErrorKind::timeout, "rate limiter: deadline before the next request slot");
        }
        TRY(core::sleep_for(wait, deadline));
    }
}

}  // namespace aws
