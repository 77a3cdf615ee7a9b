#include "renewer/names.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <idn2.h>

#include "core/c_handle.hpp"
#include "core/text.hpp"

namespace renewer {
namespace {

using IdnString = core::CHandle<char, idn2_free>;

core::Error invalid(std::string_view input, std::string_view why) {
    return core::make_error(core::ErrorKind::invalid_input, fmt::format("invalid name \"{}\": {}", input, why));
}

bool is_ascii(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

using core::ascii_lower;

bool is_ldh(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

bool all_digits(std::string_view label) {
    return !label.empty() && std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string_view> split_labels(std::string_view name) {
    std::vector<std::string_view> labels;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = name.find('.', start);
        if (dot == std::string_view::npos) {
            labels.push_back(name.substr(start));
            break;
        }
        labels.push_back(name.substr(start, dot - start));
        start = dot + 1;
    }
    return labels;
}

// UTS #46 mapping and IDNA2008 conversion (RFC 5891 §4); non-transitional
// first (what browsers and Let's Encrypt use: "ß" stays distinct), then
// transitional for names only the older mapping accepts.
core::Result<std::string> to_a_labels(std::string_view input, const std::string& text) {
    char* out = nullptr;
    int rc = idn2_to_ascii_8z(text.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) {
        const int first = rc;
        out = nullptr;
        rc = idn2_to_ascii_8z(text.c_str(), &out, IDN2_TRANSITIONAL | IDN2_NFC_INPUT);
        if (rc != IDN2_OK) {
            if (first == IDN2_TOO_BIG_LABEL || first == IDN2_PUNYCODE_BIG_OUTPUT) {
                return invalid(input, fmt::format("a label is longer than {} characters once converted to punycode",
                                                  k_max_label_length));
            }
            if (first == IDN2_TOO_BIG_DOMAIN) {
                return invalid(input,
                               fmt::format("longer than {} characters once converted to punycode", k_max_name_length));
            }
            return invalid(input, fmt::format("not a valid internationalized name ({})", idn2_strerror(first)));
        }
    }
    IdnString owned(out);
    return ascii_lower(owned.get());
}

// An "xn--" label must decode to a valid U-label (RFC 5891 §5.4): converting
// it to Unicode and back must give the same label.
bool valid_a_label(std::string_view label) {
    const std::string text(label);
    char* unicode = nullptr;
    if (idn2_to_unicode_8z8z(text.c_str(), &unicode, 0) != IDN2_OK) {
        return false;
    }
    IdnString owned_unicode(unicode);
    char* back = nullptr;
    if (idn2_to_ascii_8z(owned_unicode.get(), &back, IDN2_NONTRANSITIONAL) != IDN2_OK) {
        return false;
    }
    IdnString owned_back(back);
    return ascii_lower(owned_back.get()) == text;
}

core::Status check_label(std::string_view input, std::string_view label) {
    if (label.empty()) {
        return invalid(input, "empty label (two dots in a row, or a leading dot)");
    }
    if (label.size() > k_max_label_length) {
        return invalid(input, fmt::format("label \"{}\" is {} characters long (at most {})", label, label.size(),
                                          k_max_label_length));
    }
    for (const char c : label) {
        if (c == '*') {
            return invalid(input, "a wildcard '*' is allowed only as the whole leftmost label (\"*.example.com\")");
        }
        if (!is_ldh(c)) {
            const auto byte = static_cast<unsigned char>(c);
            const std::string shown =
                (byte >= 0x21 && byte < 0x7f) ? fmt::format("'{}'", c) : fmt::format("byte 0x{:02x}", byte);
            return invalid(input, fmt::format("label \"{}\" contains {} (only letters, digits and '-')", label, shown));
        }
    }
    if (label.front() == '-' || label.back() == '-') {
        return invalid(input, fmt::format("label \"{}\" starts or ends with '-'", label));
    }
    // RFC 5891 §4.2.3.1: "--" in positions 3 and 4 is reserved for A-labels.
    if (label.size() >= 4 && label[2] == '-' && label[3] == '-') {
        if (label.substr(0, 4) != "xn--") {
            return invalid(
                input, fmt::format("label \"{}\" has \"--\" in positions 3-4, reserved for \"xn--\" labels", label));
        }
        if (!valid_a_label(label)) {
            return invalid(input, fmt::format("label \"{}\" is not a valid punycode A-label", label));
        }
    }
    return {};
}

// Checks a name without its wildcard label.
core::Status check_host_name(std::string_view input, std::string_view name, bool wildcard) {
    const auto labels = split_labels(name);
    for (const auto label : labels) {
        TRY(check_label(input, label));
    }
    if (labels.size() < 2) {
        return invalid(input, wildcard ? "a wildcard needs at least two labels after \"*.\" (\"*.example.com\")"
                                       : "needs at least two labels (\"example.com\")");
    }
    if (all_digits(labels.back())) {
        return invalid(input, "the top-level label is all digits (IP addresses are not allowed)");
    }
    return {};
}

}  // namespace

bool is_wildcard(std::string_view name) { return name.size() > 2 && name.substr(0, 2) == "*."; }

core::Result<std::string> normalize_name(std::string_view input) {
    std::string_view text = input;
    // Surrounding spaces are a typo, not part of a name; say so rather than
    // silently ordering something else.
    if (text.empty()) {
        return invalid(input, "empty");
    }
    if (text.find_first_of(" \t\r\n") != std::string_view::npos) {
        return invalid(input, "contains white space");
    }
    if (text.back() == '.') {
        text.remove_suffix(1);
    }
    if (text.empty()) {
        return invalid(input, "empty");
    }
    if (text.find(':') != std::string_view::npos) {
        in6_addr v6{};
        if (inet_pton(AF_INET6, std::string(text).c_str(), &v6) == 1) {
            return invalid(input, "is an IP address (only DNS names are allowed)");
        }
    }
    in_addr v4{};
    if (inet_pton(AF_INET, std::string(text).c_str(), &v4) == 1) {
        return invalid(input, "is an IP address (only DNS names are allowed)");
    }
    if (text == "*") {
        return invalid(input, "a bare '*' is not a name (\"*.example.com\" is)");
    }
    const bool wildcard = text.size() >= 2 && text.substr(0, 2) == "*.";
    std::string_view base = wildcard ? text.substr(2) : text;

    std::string ascii;
    if (is_ascii(base)) {
        ascii = ascii_lower(base);
    } else {
        if (base.find('*') != std::string_view::npos) {
            return invalid(input, "a wildcard '*' is allowed only as the whole leftmost label (\"*.example.com\")");
        }
        TRY_ASSIGN(ascii, to_a_labels(input, std::string(base)));
    }
    TRY(check_host_name(input, ascii, wildcard));
    std::string result = wildcard ? "*." + ascii : ascii;
    if (result.size() > k_max_name_length) {
        return invalid(input, fmt::format("is {} characters long (at most {})", result.size(), k_max_name_length));
    }
    return result;
}

core::Result<std::string> normalize_allow_entry(std::string_view entry) {
    std::string_view text = entry;
    bool suffix = false;
    if (!text.empty() && text.front() == '.') {
        text.remove_prefix(1);
        suffix = true;
    } else if (text.size() >= 2 && text.substr(0, 2) == "*.") {
        text.remove_prefix(2);
        suffix = true;
    }
    auto name = normalize_name(text);
    if (!name) {
        return core::make_error(core::ErrorKind::invalid_input,
                                fmt::format("allowlist entry \"{}\": {}", entry, name.error().message));
    }
    if (is_wildcard(*name)) {
        return core::make_error(core::ErrorKind::invalid_input,
                                fmt::format("allowlist entry \"{}\": a wildcard only as the leftmost label", entry));
    }
    return suffix ? "." + *name : *name;
}

bool name_allowed(std::string_view name, const std::vector<std::string>& allow) {
    if (allow.empty()) {
        return true;
    }
    const std::string lower = ascii_lower(name);
    // A wildcard "*.a.example.com" is a name below "a.example.com".
    const std::string_view checked = lower;
    for (const auto& raw : allow) {
        std::string entry = ascii_lower(raw);
        if (entry.size() >= 2 && entry.substr(0, 2) == "*.") {
            entry.erase(0, 1);  // "*.example.com" means ".example.com"
        }
        if (entry.empty()) {
            continue;
        }
        if (entry.front() == '.') {
            // Strictly below: "x.example.com" ends with ".example.com" and
            // has at least one character before it; the apex does not match.
            if (checked.size() > entry.size() && checked.substr(checked.size() - entry.size()) == entry) {
                return true;
            }
        } else if (checked == entry) {
            return true;
        }
    }
    return false;
}

core::Result<std::vector<std::string>> normalize_certificate_names(const std::vector<std::string>& names,
                                                                   const std::vector<std::string>& allow) {
    if (names.empty()) {
        return core::make_error(core::ErrorKind::invalid_input, "no names (a certificate needs at least one)");
    }
    if (names.size() > k_max_names_per_certificate) {
        return core::make_error(core::ErrorKind::invalid_input, fmt::format("{} names (at most {} per certificate)",
                                                                            names.size(), k_max_names_per_certificate));
    }
    std::vector<std::string> result;
    result.reserve(names.size());
    std::set<std::string> seen;
    for (const auto& input : names) {
        TRY_ASSIGN(std::string name, normalize_name(input));
        if (!seen.insert(name).second) {
            const auto first = std::find_if(names.begin(), names.end(), [&](const std::string& other) {
                auto normalized = normalize_name(other);
                return normalized && *normalized == name;
            });
            return core::make_error(
                core::ErrorKind::invalid_input,
                fmt::format("duplicate name \"{}\" (same as \"{}\" once normalized to \"{}\")", input, *first, name));
        }
        if (!name_allowed(name, allow)) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    fmt::format("name \"{}\" is not in the allowlist", name));
        }
        result.push_back(std::move(name));
    }
    return result;
}

core::Status validate_certificate_names(const std::vector<std::string>& names, const std::vector<std::string>& allow) {
    TRY(normalize_certificate_names(names, allow));
    return {};
}

}  // namespace renewer
