// JSON Web Signature for ACME (RFC 7515, RFC 8555 §6.2): JWK of the account
// key, its RFC 7638 thumbprint, the protected header (jwk before registration,
// kid after), flattened JSON serialization, and the External Account Binding
// inner JWS (RFC 8555 §7.3.4). String in, string out, so RFC vectors test it directly.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/digest.hpp"
#include "core/keys.hpp"
#include "core/result.hpp"

namespace acme {

using Json = nlohmann::json;

// The JWS "alg" for an account key: ES256 for P-256, ES384 for P-384, RS256
// for RSA (RFC 7518 §3.1; RFC 8555 §6.2 requires ES256 and allows the others).
struct JwsAlg {
    std::string name;        // "ES256", "ES384", "RS256"
    core::DigestAlg digest;  // the hash that goes with it
};
JwsAlg jws_alg(core::KeyType type);

// The public JWK (RFC 7517) with exactly the required members (RFC 7638 §3.2).
Json jwk(const core::PublicKeyParams& params);

// RFC 7638 §3: base64url(SHA-256(canonical JWK)), required members in
// lexicographic order, no whitespace.
std::string jwk_thumbprint(const core::PublicKeyParams& params);

// Who signs: the account key with its JWK (newAccount, revokeCert by key,
// the inner key-change JWS) or with the account URL as "kid" (RFC 8555 §6.2).
struct Signer {
    const core::PrivateKey* key = nullptr;
    std::string kid;  // empty: embed "jwk"
};

// Flattened JWS JSON serialization (RFC 7515 §7.2.2) of `payload` for `url`.
// `payload` is the JSON text, or "" for POST-as-GET (RFC 8555 §6.3). `nonce`
// may be empty only for the inner JWS of a key change (RFC 8555 §7.3.5).
core::Result<Json> sign_jws(const Signer& signer, std::string_view nonce, std::string_view url,
                            std::string_view payload);

// The External Account Binding JWS (RFC 8555 §7.3.4): HS256 over the account
// JWK, protected header {alg, kid: eab_kid, url: newAccount URL}, MAC key
// given base64url encoded as the CA hands it out.
core::Result<Json> eab_jws(const core::PublicKeyParams& account_key, std::string_view eab_kid,
                           std::string_view hmac_key_b64url, std::string_view new_account_url);

// RFC 8555 §8.1: token "." base64url(thumbprint of the account key).
std::string key_authorization(std::string_view token, std::string_view thumbprint);

}  // namespace acme
