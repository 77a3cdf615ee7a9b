#include "core/log.hpp"

#include <unistd.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace core::log {

namespace {

constexpr std::string_view k_redacted = "[REDACTED]";
constexpr std::size_t k_min_secret_length = 8;
constexpr std::string_view k_clear_line = "\r\033[K";

struct State {
    std::mutex write_mutex;   // one line at a time on the fd
    std::mutex config_mutex;  // options and secrets
    Options options;
    bool text = true;                  // resolved format
    bool terminal = false;             // text on a tty
    bool progress_shown = false;       // a progress line is on screen (guarded by write_mutex)
    std::vector<std::string> secrets;  // longest first
    bool configured = false;
};

State& state() {
    static State s;
    return s;
}

// Resolves Format::automatic against the fd; caller holds config_mutex.
void resolve(State& s) {
    const bool tty = ::isatty(s.options.fd) == 1;
    switch (s.options.format) {
        case Format::text: s.text = true; break;
        case Format::json: s.text = false; break;
        case Format::automatic: s.text = tty; break;
    }
    s.terminal = s.text && tty;
    s.configured = true;
}

std::atomic<int> g_level{static_cast<int>(Level::info)};

void ensure_configured(State& s) {
    std::lock_guard lock(s.config_mutex);
    if (!s.configured) {
        resolve(s);
    }
}

// Upper case in text lines, lower case in JSON lines.
enum class LetterCase { upper, lower };

const char* level_name(Level level, LetterCase letters) {
    const bool upper = letters == LetterCase::upper;
    switch (level) {
        case Level::trace: return upper ? "TRACE" : "trace";
        case Level::debug: return upper ? "DEBUG" : "debug";
        case Level::info: return upper ? "INFO" : "info";
        case Level::warn: return upper ? "WARN" : "warn";
        case Level::error: return upper ? "ERROR" : "error";
        case Level::off: return upper ? "OFF" : "off";
    }
    return "?";
}

// ISO-8601 UTC with milliseconds: 2026-11-23T19:00:00.123Z
std::string timestamp() {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    const std::time_t seconds = system_clock::to_time_t(now);
    std::tm tm{};
    ::gmtime_r(&seconds, &tm);
    std::array<char, 40> buffer{};
    const auto n = std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    std::array<char, 8> fraction{};
    std::snprintf(fraction.data(), fraction.size(), ".%03dZ", static_cast<int>(ms));
    return std::string(buffer.data(), n) + fraction.data();
}

std::string json_string(std::string_view text) {
    // replace: invalid UTF-8 becomes U+FFFD instead of throwing.
    return nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Text values are quoted when they would otherwise be ambiguous.
std::string text_value(std::string_view value) {
    const bool plain = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
        return c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
    });
    if (plain) {
        return std::string(value);
    }
    std::string out = "\"";
    for (const char c : value) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default: out += c; break;
        }
    }
    out += '"';
    return out;
}

void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;  // nowhere left to report a logging failure
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

bool is_upper_or_space(char c) { return (c >= 'A' && c <= 'Z') || c == ' '; }

// At `pos` starts "-----<word> [A-Z ]*PRIVATE KEY-----"? Returns its end.
std::optional<std::size_t> match_marker(std::string_view text, std::size_t pos, std::string_view word) {
    constexpr std::string_view k_dashes = "-----";
    constexpr std::string_view k_label_tail = "PRIVATE KEY";
    std::size_t i = pos;
    if (text.substr(i, k_dashes.size()) != k_dashes) {
        return std::nullopt;
    }
    i += k_dashes.size();
    if (text.substr(i, word.size()) != word) {
        return std::nullopt;
    }
    i += word.size();
    const std::size_t label_start = i;
    while (i < text.size() && is_upper_or_space(text[i])) {
        ++i;
    }
    // The label must end in "PRIVATE KEY" followed by the dashes.
    const std::string_view label = text.substr(label_start, i - label_start);
    if (text.substr(i, k_dashes.size()) != k_dashes || !label.ends_with(k_label_tail)) {
        return std::nullopt;
    }
    return i + k_dashes.size();
}

std::string redact_pem_keys(std::string_view text) {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t begin = text.find("-----BEGIN ", pos);
        if (begin == std::string_view::npos) {
            break;
        }
        const auto header_end = match_marker(text, begin, "BEGIN ");
        if (!header_end) {
            out.append(text.substr(pos, begin + 1 - pos));
            pos = begin + 1;
            continue;
        }
        out.append(text.substr(pos, begin - pos));
        out.append(k_redacted);
        // Find the matching END; a truncated block is redacted to the end of text.
        std::size_t search = *header_end;
        std::size_t block_end = text.size();
        while (true) {
            const std::size_t end = text.find("-----END ", search);
            if (end == std::string_view::npos) {
                break;
            }
            if (const auto footer_end = match_marker(text, end, "END ")) {
                block_end = *footer_end;
                break;
            }
            search = end + 1;
        }
        pos = block_end;
    }
    if (pos < text.size()) {
        out.append(text.substr(pos));
    }
    return out;
}

void replace_all(std::string& text, std::string_view needle) {
    if (needle.empty()) {
        return;
    }
    std::size_t pos = 0;
    while ((pos = text.find(needle, pos)) != std::string::npos) {
        text.replace(pos, needle.size(), k_redacted);
        pos += k_redacted.size();
    }
}

}  // namespace

void configure(const Options& options) {
    State& s = state();
    std::lock_guard lock(s.config_mutex);
    s.options = options;
    resolve(s);
    g_level.store(static_cast<int>(options.level));
}

Level level() { return static_cast<Level>(g_level.load()); }

bool enabled(Level at) { return at != Level::off && static_cast<int>(at) >= g_level.load(); }

bool is_terminal() {
    State& s = state();
    ensure_configured(s);
    std::lock_guard lock(s.config_mutex);
    return s.terminal;
}

void write(Level at, std::string_view message, const Fields& fields) {
    if (!enabled(at)) {
        return;
    }
    State& s = state();
    ensure_configured(s);
    int fd = 2;
    bool text = true;
    {
        std::lock_guard lock(s.config_mutex);
        fd = s.options.fd;
        text = s.text;
    }

    std::string line;
    if (text) {
        line = timestamp();
        line += ' ';
        line += level_name(at, LetterCase::upper);
        line += ' ';
        line += redact(message);
        for (const auto& [key, value] : fields) {
            line += ' ';
            line += key;
            line += '=';
            line += text_value(redact(value));
        }
    } else {
        // Built by hand so the order is time, level, msg, then fields as given.
        line = "{\"time\":" + json_string(timestamp()) +
               ",\"level\":" + json_string(level_name(at, LetterCase::lower)) +
               ",\"msg\":" + json_string(redact(message));
        for (const auto& [key, value] : fields) {
            // A field may not shadow the fixed keys.
            const bool reserved = key == "time" || key == "level" || key == "msg";
            line += ',';
            line += json_string(reserved ? "field_" + key : key);
            line += ':';
            line += json_string(redact(value));
        }
        line += '}';
    }
    line += '\n';

    std::lock_guard lock(s.write_mutex);
    if (s.progress_shown) {
        write_all(fd, k_clear_line);
        s.progress_shown = false;
    }
    write_all(fd, line);
}

void progress(std::string_view message) {
    if (!enabled(Level::info) || !is_terminal()) {
        return;
    }
    State& s = state();
    int fd = 2;
    {
        std::lock_guard lock(s.config_mutex);
        fd = s.options.fd;
    }
    std::string line(k_clear_line);
    line += redact(message);
    // A progress line is one line: newlines would break the in-place rewrite.
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::lock_guard lock(s.write_mutex);
    write_all(fd, line);
    s.progress_shown = true;
}

void register_secret(std::string value) {
    if (value.size() < k_min_secret_length) {
        return;
    }
    State& s = state();
    std::lock_guard lock(s.config_mutex);
    // The JSON-escaped forms (without quotes) too, for secrets inside JSON
    // text such as a request body; some encoders also escape '/'.
    std::string escaped = json_string(value);
    escaped = escaped.substr(1, escaped.size() - 2);
    std::string escaped_slash;
    for (const char c : escaped) {
        escaped_slash += c == '/' ? std::string("\\/") : std::string(1, c);
    }
    for (auto* form : {&value, &escaped, &escaped_slash}) {
        if (std::find(s.secrets.begin(), s.secrets.end(), *form) == s.secrets.end()) {
            s.secrets.push_back(*form);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    std::stable_sort(s.secrets.begin(), s.secrets.end(),
                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string redact(std::string_view text) {
    std::string out = redact_pem_keys(text);
    State& s = state();
    std::lock_guard lock(s.config_mutex);
    for (const auto& secret : s.secrets) {
        replace_all(out, secret);
    }
    return out;
}

}  // namespace core::log
