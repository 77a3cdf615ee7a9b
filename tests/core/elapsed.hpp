// Milliseconds since a steady-clock instant, for tests that check that a wait
// was bounded (or honoured).
#pragma once

#include <chrono>

inline long elapsed_ms(std::chrono::steady_clock::time_point start) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
}
