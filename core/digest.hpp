// Digests and HMAC over OpenSSL 3 EVP. Inputs and outputs are raw bytes.
// These cannot fail on valid input; a failure inside OpenSSL (out of memory,
// broken provider) throws std::runtime_error.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace core {

enum class DigestAlg { sha256, sha384, sha512 };

// OpenSSL's name of the algorithm ("SHA256", "SHA384", "SHA512").
const char* to_string(DigestAlg alg);
std::size_t digest_size(DigestAlg alg);  // 32, 48 or 64 bytes

std::string digest(DigestAlg alg, std::string_view data);
std::string hmac(DigestAlg alg, std::string_view key, std::string_view data);
inline std::string sha256(std::string_view data) { return digest(DigestAlg::sha256, data); }
inline std::string sha384(std::string_view data) { return digest(DigestAlg::sha384, data); }

// Random bytes from OpenSSL's CSPRNG.
std::string random_bytes(std::size_t count);

// Drains this thread's OpenSSL error queue and returns its most recent entry
// as text ("error:...:reason"), or "no OpenSSL error detail" when empty. For
// error messages after a failed OpenSSL call.
std::string openssl_error();

}  // namespace core
