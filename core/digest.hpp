// Digests and HMAC over OpenSSL 3 EVP. Inputs and outputs are raw bytes.
#pragma once

#include <string>
#include <string_view>

namespace core {

enum class DigestAlg { sha256, sha384, sha512 };

std::string digest(DigestAlg alg, std::string_view data);
std::string hmac(DigestAlg alg, std::string_view key, std::string_view data);
inline std::string sha256(std::string_view data) { return digest(DigestAlg::sha256, data); }
inline std::string sha384(std::string_view data) { return digest(DigestAlg::sha384, data); }

// Random bytes from OpenSSL's CSPRNG.
std::string random_bytes(std::size_t count);

}  // namespace core
