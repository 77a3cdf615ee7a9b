#include "core/keys.hpp"

#include <climits>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "core/c_handle.hpp"
#include "core/openssl_bio.hpp"

namespace core {

namespace {

using openssl::bio_contents;
using openssl::BioPtr;
using openssl::crypto_error;
using openssl::read_bio;
using openssl::ubytes;

using BignumPtr = CHandle<BIGNUM, BN_free>;
using EcdsaSigPtr = CHandle<ECDSA_SIG, ECDSA_SIG_free>;
using EvpMdCtxPtr = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;

// Never prompt on a terminal for a passphrase: encrypted keys fail to load.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

// Field size in bytes of an EC key's curve: the width of r, s, x and y (RFC 7518 §3.4, §6.2.1.2).
std::size_t ec_field_bytes(const EVP_PKEY* key) { return static_cast<std::size_t>((EVP_PKEY_get_bits(key) + 7) / 8); }

bool is_ec(const EVP_PKEY* key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC; }

// Which KeyType a loaded key is, or an error for keys we do not support.
Result<KeyType> classify(const EVP_PKEY* key) {
    const int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_EC) {
        char group[64] = {};
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1) {
            ERR_clear_error();
            return make_error(ErrorKind::invalid_input,
                              "EC key with explicit curve parameters that name no curve (want P-256 or P-384)");
        }
        int nid = OBJ_txt2nid(group);  // "prime256v1", "secp384r1"
        if (nid == NID_undef) {
            nid = EC_curve_nist2nid(group);  // "P-256", "P-384"
        }
        if (nid == NID_X9_62_prime256v1) {
            return KeyType::ec256;
        }
        if (nid == NID_secp384r1) {
            return KeyType::ec384;
        }
        return make_error(ErrorKind::invalid_input,
                          std::string("unsupported EC curve ") + group + " (want P-256 or P-384)");
    }
    if (id == EVP_PKEY_RSA) {
        switch (EVP_PKEY_get_bits(key)) {
            case 2048: return KeyType::rsa2048;
            case 3072: return KeyType::rsa3072;
            case 4096: return KeyType::rsa4096;
            default: break;
        }
        return make_error(
            ErrorKind::invalid_input,
            "unsupported RSA key size " + std::to_string(EVP_PKEY_get_bits(key)) + " bits (want 2048, 3072 or 4096)");
    }
    const char* name = EVP_PKEY_get0_type_name(key);
    return make_error(ErrorKind::invalid_input, std::string("unsupported key algorithm ") +
                                                    (name != nullptr ? name : "(unknown)") +
                                                    " (want EC P-256/P-384 or RSA)");
}

// A public BIGNUM parameter of `key` (OSSL_PKEY_PARAM_*) as big-endian bytes,
// left-padded with zeros to `width` when width > 0, minimal otherwise.
std::string bn_param(const EVP_PKEY* key, const char* name, std::size_t width) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) {
        throw std::runtime_error(std::string("reading key parameter ") + name + ": " + openssl_error());
    }
    const BignumPtr bn(raw);
    const std::size_t minimal = static_cast<std::size_t>(BN_num_bytes(bn.get()));
    std::string out(width > 0 ? width : minimal, '\0');
    if (width > 0) {
        if (minimal > width || BN_bn2binpad(bn.get(), ubytes(out), static_cast<int>(width)) < 0) {
            throw std::runtime_error(std::string("key parameter ") + name + " wider than its field");
        }
    } else {
        BN_bn2bin(bn.get(), ubytes(out));
    }
    return out;
}

// DER ECDSA-Sig-Value -> r||s, each left-padded to the field size (RFC 7518 §3.4).
Result<std::string> ecdsa_der_to_raw(std::string_view der, std::size_t field) {
    const unsigned char* p = ubytes(der);
    const EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig) {
        return crypto_error("decoding ECDSA signature");
    }
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::string raw(2 * field, '\0');
    if (BN_bn2binpad(r, ubytes(raw), static_cast<int>(field)) < 0 ||
        BN_bn2binpad(s, ubytes(raw) + field, static_cast<int>(field)) < 0) {
        return make_error(ErrorKind::crypto, "ECDSA signature value wider than the curve field");
    }
    return raw;
}

// r||s -> DER ECDSA-Sig-Value, for OpenSSL's verifier.
Result<std::string> ecdsa_raw_to_der(std::string_view raw, std::size_t field) {
    if (raw.size() != 2 * field) {
        return make_error(ErrorKind::invalid_input, "ECDSA signature is " + std::to_string(raw.size()) +
                                                        " bytes, want " + std::to_string(2 * field));
    }
    BignumPtr r(BN_bin2bn(ubytes(raw), static_cast<int>(field), nullptr));
    BignumPtr s(BN_bin2bn(ubytes(raw) + field, static_cast<int>(field), nullptr));
    EcdsaSigPtr sig(ECDSA_SIG_new());
    if (!r || !s || !sig) {
        return crypto_error("building ECDSA signature");
    }
    if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
        return crypto_error("building ECDSA signature");
    }
    // ECDSA_SIG_set0 took ownership of r and s.
    static_cast<void>(r.release());
    static_cast<void>(s.release());
    const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (len <= 0) {
        return crypto_error("encoding ECDSA signature");
    }
    std::string der(static_cast<std::size_t>(len), '\0');
    unsigned char* p = ubytes(der);
    if (i2d_ECDSA_SIG(sig.get(), &p) != len) {
        return crypto_error("encoding ECDSA signature");
    }
    return der;
}

}  // namespace

std::optional<KeyType> parse_key_type(std::string_view name) {
    for (const KeyType type : {KeyType::ec256, KeyType::ec384, KeyType::rsa2048, KeyType::rsa3072, KeyType::rsa4096}) {
        if (name == to_string(type)) {
            return type;
        }
    }
    return std::nullopt;
}

const char* to_string(KeyType type) {
    switch (type) {
        case KeyType::ec256: return "ec256";
        case KeyType::ec384: return "ec384";
        case KeyType::rsa2048: return "rsa2048";
        case KeyType::rsa3072: return "rsa3072";
        case KeyType::rsa4096: return "rsa4096";
    }
    return "unknown";
}

Result<PrivateKey> PrivateKey::generate(KeyType type) {
    EVP_PKEY* raw = nullptr;
    switch (type) {
        case KeyType::ec256: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); break;
        case KeyType::ec384: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"); break;
        // The variadic RSA form reads a size_t.
        case KeyType::rsa2048: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048}); break;
        case KeyType::rsa3072: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{3072}); break;
        case KeyType::rsa4096: raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{4096}); break;
    }
    EvpPkeyPtr key(raw);
    if (!key) {
        return crypto_error(std::string("generating ") + to_string(type) + " key");
    }
    return PrivateKey(std::move(key), type);
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
    if (pem.find("ENCRYPTED") != std::string_view::npos) {
        return make_error(ErrorKind::invalid_input, "encrypted private key PEM is not supported");
    }
    const BioPtr bio = read_bio(pem);
    if (!bio) {
        return make_error(ErrorKind::invalid_input, "private key PEM too large or out of memory");
    }
    ERR_clear_error();
    // Reads PKCS#8 ("PRIVATE KEY") and the traditional "EC PRIVATE KEY" /
    // "RSA PRIVATE KEY" forms alike.
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!key) {
        return make_error(ErrorKind::invalid_input, "no readable private key in PEM: " + openssl_error());
    }
    TRY_ASSIGN(const KeyType type, classify(key.get()));
    if (is_ec(key.get())) {
        // A P-256/P-384 key written with explicit curve parameters is the same
        // key, but CAs refuse explicit parameters in a CSR (RFC 5480 §2.1.1
        // requires namedCurve): switch its encoding to the curve's name.
        char encoding[32] = {};
        if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_ENCODING, encoding, sizeof encoding,
                                           nullptr) == 1 &&
            std::string_view(encoding) != OSSL_PKEY_EC_ENCODING_GROUP &&
            EVP_PKEY_set_utf8_string_param(key.get(), OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_EC_ENCODING_GROUP) != 1) {
            return crypto_error("converting EC key to a named curve");
        }
        ERR_clear_error();
    }
    return PrivateKey(std::move(key), type);
}

std::string PrivateKey::to_pem() const {
    const BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        throw std::runtime_error("writing private key PEM: " + openssl_error());
    }
    return bio_contents(bio.get());
}

std::string PrivateKey::public_key_pem() const {
    const BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
        throw std::runtime_error("writing public key PEM: " + openssl_error());
    }
    return bio_contents(bio.get());
}

PublicKeyParams PrivateKey::public_params() const {
    PublicKeyParams params;
    if (is_ec(key_.get())) {
        // RFC 7518 §6.2.1.2/3: x and y are the full field width, leading zeros kept.
        const std::size_t field = ec_field_bytes(key_.get());
        params.kty = "EC";
        params.crv = type_ == KeyType::ec256 ? "P-256" : "P-384";
        params.x = bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, field);
        params.y = bn_param(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, field);
    } else {
        // RFC 7518 §6.3.1: n and e are unsigned big-endian without leading zeros.
        params.kty = "RSA";
        params.n = bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_N, 0);
        params.e = bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_E, 0);
    }
    return params;
}

Result<std::string> PrivateKey::sign(DigestAlg alg, std::string_view data) const {
    const EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) {
        return crypto_error("EVP_MD_CTX_new");
    }
    // RSA keys default to PKCS#1 v1.5 padding (RS256/RS384, RFC 7518 §3.3).
    std::size_t len = 0;
    if (EVP_DigestSignInit_ex(ctx.get(), nullptr, to_string(alg), nullptr, nullptr, key_.get(), nullptr) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, ubytes(data), data.size()) != 1) {
        return crypto_error(std::string("signing with ") + to_string(type_) + " key");
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), ubytes(sig), &len, ubytes(data), data.size()) != 1) {
        return crypto_error(std::string("signing with ") + to_string(type_) + " key");
    }
    sig.resize(len);
    if (is_ec(key_.get())) {
        // OpenSSL gives DER; JWS wants fixed-width r||s (RFC 7518 §3.4).
        return ecdsa_der_to_raw(sig, ec_field_bytes(key_.get()));
    }
    return sig;
}

bool verify_signature(EVP_PKEY* key, DigestAlg alg, std::string_view data, std::string_view signature) {
    if (key == nullptr) {
        return false;
    }
    std::string der;
    if (is_ec(key)) {
        auto converted = ecdsa_raw_to_der(signature, ec_field_bytes(key));
        if (!converted) {
            ERR_clear_error();
            return false;
        }
        der = std::move(converted).value();
        signature = der;
    }
    const EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    const bool ok = ctx &&
                    EVP_DigestVerifyInit_ex(ctx.get(), nullptr, to_string(alg), nullptr, nullptr, key, nullptr) == 1 &&
                    EVP_DigestVerify(ctx.get(), ubytes(signature), signature.size(), ubytes(data), data.size()) == 1;
    // A bad signature leaves entries on the queue; do not let them leak into
    // the next caller's error message.
    ERR_clear_error();
    return ok;
}

}  // namespace core
