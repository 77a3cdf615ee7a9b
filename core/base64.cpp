#include "core/base64.hpp"

#include <array>
#include <cstdint>

namespace core {

namespace {

constexpr std::string_view k_std_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view k_url_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::uint8_t k_invalid = 0xff;

enum class Padding { with, without };

std::string encode(std::string_view bytes, std::string_view alphabet, Padding padding) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                                std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
        out += alphabet[(v >> 18) & 0x3f];
        out += alphabet[(v >> 12) & 0x3f];
        out += alphabet[(v >> 6) & 0x3f];
        out += alphabet[v & 0x3f];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 0) {
        return out;
    }
    std::uint32_t v = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) {
        v |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    }
    out += alphabet[(v >> 18) & 0x3f];
    out += alphabet[(v >> 12) & 0x3f];
    if (rest == 2) {
        out += alphabet[(v >> 6) & 0x3f];
    }
    if (padding == Padding::with) {
        out.append(3 - rest, '=');
    }
    return out;
}

std::array<std::uint8_t, 256> make_table(std::string_view alphabet) {
    std::array<std::uint8_t, 256> table{};
    table.fill(k_invalid);
    for (std::size_t i = 0; i < alphabet.size(); ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
    }
    return table;
}

// Strict decoder: one alphabet, no whitespace, padding optional but correct
// when present, and zero pad bits (RFC 4648 §3.5), so every byte string has
// exactly one accepted encoding (JWS relies on that, RFC 7515 §2).
Result<std::string> decode(std::string_view text, const std::array<std::uint8_t, 256>& table, const char* what) {
    std::size_t data_len = text.size();
    while (data_len > 0 && text[data_len - 1] == '=') {
        --data_len;
    }
    const std::size_t pad_len = text.size() - data_len;
    if (data_len % 4 == 1) {
        return make_error(ErrorKind::invalid_input,
                          std::string(what) + ": invalid length " + std::to_string(text.size()));
    }
    if (pad_len > 0 && (text.size() % 4 != 0 || pad_len > 2)) {
        return make_error(ErrorKind::invalid_input, std::string(what) + ": wrong padding");
    }

    std::string out;
    out.reserve(data_len * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (std::size_t i = 0; i < data_len; ++i) {
        const std::uint8_t v = table[static_cast<unsigned char>(text[i])];
        if (v == k_invalid) {
            return make_error(ErrorKind::invalid_input,
                              std::string(what) + ": invalid character at offset " + std::to_string(i));
        }
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    if ((acc & ((1U << bits) - 1)) != 0) {
        return make_error(ErrorKind::invalid_input, std::string(what) + ": non-zero trailing bits");
    }
    return out;
}

}  // namespace

std::string base64_encode(std::string_view bytes) { return encode(bytes, k_std_alphabet, Padding::with); }

Result<std::string> base64_decode(std::string_view text) {
    static const auto table = make_table(k_std_alphabet);
    return decode(text, table, "base64");
}

std::string base64url_encode(std::string_view bytes) { return encode(bytes, k_url_alphabet, Padding::without); }

Result<std::string> base64url_decode(std::string_view text) {
    static const auto table = make_table(k_url_alphabet);
    return decode(text, table, "base64url");
}

std::string hex_encode(std::string_view bytes) {
    static constexpr std::string_view k_digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += k_digits[b >> 4];
        out += k_digits[b & 0x0f];
    }
    return out;
}

}  // namespace core
