// Shared bits of the fuzz targets: keep results observable so the optimizer
// cannot drop the work.
#pragma once

#include <string>
#include <string_view>

namespace fuzz {

inline void touch(std::string_view s) {
    volatile std::size_t sink = s.size();
    (void)sink;
}
inline void touch(long long v) {
    volatile long long sink = v;
    (void)sink;
}

}  // namespace fuzz
