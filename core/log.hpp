// Logging: human text on a terminal, JSON lines otherwise (CloudWatch).
// Every line passes through redact(), so PEM private keys and registered
// secret values never reach a log (CONTRIBUTING.md#security-checks).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace core::log {

enum class Level { trace = 0, debug = 1, info = 2, warn = 3, error = 4, off = 5 };
enum class Format { automatic, text, json };  // automatic: text when stderr is a tty

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Options {
    Level level = Level::info;
    Format format = Format::automatic;
    int fd = 2;  // where lines go
};
void configure(const Options& options);
Level level();
bool enabled(Level level);
bool is_terminal();  // the resolved format is text on a tty

// One line: text "2026-11-23T19:00:00Z INFO message key=value ..." or
// JSON {"time":..., "level":..., "msg":..., key: value...}. Thread-safe.
void write(Level level, std::string_view message, const Fields& fields = {});

inline void trace(std::string_view m, const Fields& f = {}) { write(Level::trace, m, f); }
inline void debug(std::string_view m, const Fields& f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, const Fields& f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, const Fields& f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, const Fields& f = {}) { write(Level::error, m, f); }

// A transient progress line (terminal only; rewritten in place). No-op otherwise.
void progress(std::string_view message);

// Adds a value that must never appear in any log line (secret keys, tokens,
// EAB HMAC keys). Values shorter than 8 characters are ignored.
void register_secret(std::string value);

// Replaces every PEM PRIVATE KEY block and every registered secret with
// "[REDACTED]". Applied to every message and field value.
std::string redact(std::string_view text);

}  // namespace core::log
