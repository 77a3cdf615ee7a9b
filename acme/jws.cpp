#include "acme/jws.hpp"

#include "core/base64.hpp"

namespace acme {

JwsAlg jws_alg(core::KeyType type) {
    switch (type) {
        case core::KeyType::ec256: return {"ES256", core::DigestAlg::sha256};
        case core::KeyType::ec384: return {"ES384", core::DigestAlg::sha384};
        case core::KeyType::rsa2048:
        case core::KeyType::rsa3072:
        case core::KeyType::rsa4096: return {"RS256", core::DigestAlg::sha256};
    }
    return {"ES256", core::DigestAlg::sha256};
}

Json jwk(const core::PublicKeyParams& params) {
    // nlohmann::json's default object keeps keys sorted, which is exactly
    // RFC 7638 §3.3's lexicographic order; dump() emits no whitespace.
    Json out = Json::object();
    if (params.kty == "EC") {
        out["crv"] = params.crv;
        out["kty"] = "EC";
        out["x"] = core::base64url_encode(params.x);
        out["y"] = core::base64url_encode(params.y);
    } else {
        out["e"] = core::base64url_encode(params.e);
        out["kty"] = "RSA";
        out["n"] = core::base64url_encode(params.n);
    }
    return out;
}

std::string jwk_thumbprint(const core::PublicKeyParams& params) {
    return core::base64url_encode(core::sha256(jwk(params).dump()));
}

core::Result<Json> sign_jws(const Signer& signer, std::string_view nonce, std::string_view url,
                            std::string_view payload) {
    if (signer.key == nullptr) {
        return core::make_error(core::ErrorKind::internal, "JWS without a signing key");
    }
    const JwsAlg alg = jws_alg(signer.key->type());
    // RFC 8555 §6.2: alg, nonce, url, and exactly one of jwk / kid.
    Json header = Json::object();
    header["alg"] = alg.name;
    if (signer.kid.empty()) {
        header["jwk"] = jwk(signer.key->public_params());
    } else {
        header["kid"] = signer.kid;
    }
    if (!nonce.empty()) {
        header["nonce"] = std::string(nonce);
    }
    header["url"] = std::string(url);
    const std::string protected_b64 = core::base64url_encode(header.dump());
    // RFC 8555 §6.3: POST-as-GET carries an empty payload, not "{}" and not "null".
    const std::string payload_b64 = core::base64url_encode(payload);
    TRY_ASSIGN(const std::string signature, signer.key->sign(alg.digest, protected_b64 + "." + payload_b64));
    return Json{
        {"protected", protected_b64}, {"payload", payload_b64}, {"signature", core::base64url_encode(signature)}};
}

core::Result<Json> eab_jws(const core::PublicKeyParams& account_key, std::string_view eab_kid,
                           std::string_view hmac_key_b64url, std::string_view new_account_url) {
    auto key = core::base64url_decode(hmac_key_b64url);
    if (!key.ok() || key->empty()) {
        return core::make_error(core::ErrorKind::invalid_input,
                                "the EAB HMAC key is not valid base64url (pass it as the CA gave it)");
    }
    // RFC 8555 §7.3.4: MAC algorithm HS256, kid = the CA's key identifier,
    // url = newAccount URL, no nonce; payload = the account's JWK.
    const Json header = {{"alg", "HS256"}, {"kid", std::string(eab_kid)}, {"url", std::string(new_account_url)}};
    const std::string protected_b64 = core::base64url_encode(header.dump());
    const std::string payload_b64 = core::base64url_encode(jwk(account_key).dump());
    const std::string mac = core::hmac(core::DigestAlg::sha256, *key, protected_b64 + "." + payload_b64);
    return Json{{"protected", protected_b64}, {"payload", payload_b64}, {"signature", core::base64url_encode(mac)}};
}

std::string key_authorization(std::string_view token, std::string_view thumbprint) {
    std::string out(token);
    out += '.';
    out += thumbprint;
    return out;
}

}  // namespace acme
