// Private keys (EC P-256/P-384, RSA 2048/3072/4096) over OpenSSL 3: generate,
// PEM/PKCS#8 in and out, sign, and the public parameters a JWK needs.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/evp.h>

#include "core/c_handle.hpp"
#include "core/digest.hpp"
#include "core/result.hpp"

namespace core {

enum class KeyType { ec256, ec384, rsa2048, rsa3072, rsa4096 };

std::optional<KeyType> parse_key_type(std::string_view name);  // "ec256", "rsa2048", ...
const char* to_string(KeyType type);

using EvpPkeyPtr = CHandle<EVP_PKEY, EVP_PKEY_free>;

// Public parameters, raw big-endian bytes (JWK, RFC 7518 §6.2 and §6.3).
struct PublicKeyParams {
    std::string kty;   // "EC" or "RSA"
    std::string crv;   // "P-256" / "P-384" for EC
    std::string x, y;  // EC coordinates, each padded to the field size
    std::string n, e;  // RSA modulus and exponent, no leading zeros
};

class PrivateKey {
public:
    static Result<PrivateKey> generate(KeyType type);
    // PKCS#8 or traditional PEM ("BEGIN PRIVATE KEY", "BEGIN EC PRIVATE KEY", "BEGIN RSA PRIVATE KEY").
    static Result<PrivateKey> from_pem(std::string_view pem);

    KeyType type() const { return type_; }
    // These three throw std::runtime_error only if OpenSSL fails internally
    // (out of memory); a loaded key always has what they read.
    std::string to_pem() const;          // PKCS#8 "BEGIN PRIVATE KEY"
    std::string public_key_pem() const;  // SubjectPublicKeyInfo
    PublicKeyParams public_params() const;

    // Signs `data` with `alg`. EC signatures are returned as raw r||s, each
    // padded to the field size (what JWS wants, RFC 7518 §3.4); RSA as PKCS#1 v1.5.
    Result<std::string> sign(DigestAlg alg, std::string_view data) const;

    EVP_PKEY* get() const { return key_.get(); }

private:
    PrivateKey(EvpPkeyPtr key, KeyType type) : key_(std::move(key)), type_(type) {}
    EvpPkeyPtr key_;
    KeyType type_;
};

// Verifies a signature made by PrivateKey::sign with the same key's public half
// (tests and self-checks).
bool verify_signature(EVP_PKEY* key, DigestAlg alg, std::string_view data, std::string_view signature);

}  // namespace core
