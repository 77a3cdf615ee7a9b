// A tiny certificate authority for tests, built with the OpenSSL API:
// root -> intermediate -> leaf with SANs, SKI/AKI and basicConstraints, as a
// public ACME CA would issue them. Header-only; failures throw
// std::runtime_error, which GoogleTest reports as a test failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/c_handle.hpp"
#include "core/keys.hpp"
#include "core/x509.hpp"

namespace test_ca {

// One issued certificate and its private key.
struct Issued {
    core::PrivateKey key;
    core::Certificate cert;
};

struct CertSpec {
    std::string cn;                      // subject CN; empty for none
    std::string org = "renewer tests";   // subject O; empty for none
    std::vector<std::string> dns_names;  // subjectAltName dNSName entries
    bool is_ca = false;
    core::KeyType key_type = core::KeyType::ec256;
    std::uint64_t serial = 1;
    core::SystemTime not_before = std::chrono::system_clock::now() - std::chrono::hours(1);
    core::SystemTime not_after = std::chrono::system_clock::now() + std::chrono::hours(24 * 90);
};

namespace detail {

[[noreturn]] inline void fail(const std::string& what) {
    throw std::runtime_error("test CA: " + what + ": " + core::openssl_error());
}

inline void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
    core::CHandle<X509_EXTENSION, X509_EXTENSION_free> ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
        fail("adding extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
    }
}

inline void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
    if (value.empty()) {
        return;
    }
    if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
        fail(std::string("setting name field ") + field);
    }
}

}  // namespace detail

// Issues a certificate for `spec` with a fresh key, signed by `issuer`, or
// self-signed when `issuer` is null.
inline Issued issue(const CertSpec& spec, const Issued* issuer) {
    auto key = core::PrivateKey::generate(spec.key_type);
    if (!key) {
        throw std::runtime_error("test CA: " + key.error().message);
    }
    core::X509Ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
        ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), spec.serial) != 1 ||
        X509_set_pubkey(cert.get(), key->get()) != 1 ||
        ASN1_TIME_set(X509_getm_notBefore(cert.get()), std::chrono::system_clock::to_time_t(spec.not_before)) ==
            nullptr ||
        ASN1_TIME_set(X509_getm_notAfter(cert.get()), std::chrono::system_clock::to_time_t(spec.not_after)) ==
            nullptr) {
        detail::fail("filling certificate");
    }
    X509_NAME* subject = X509_get_subject_name(cert.get());
    detail::add_name_entry(subject, "O", spec.org);
    detail::add_name_entry(subject, "CN", spec.cn);
    const X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer->cert.get()) : subject;
    if (X509_set_issuer_name(cert.get(), issuer_name) != 1) {
        detail::fail("setting issuer");
    }

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->cert.get() : cert.get(), cert.get(), nullptr, nullptr, 0);
    if (spec.is_ca) {
        detail::add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
        detail::add_ext(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
    } else {
        detail::add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
        detail::add_ext(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
        detail::add_ext(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
    }
    // SKI before AKI: a self-signed AKI copies the certificate's own SKI.
    detail::add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    detail::add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    if (!spec.dns_names.empty()) {
        std::string sans;
        for (const std::string& name : spec.dns_names) {
            sans += (sans.empty() ? "DNS:" : ",DNS:") + name;
        }
        detail::add_ext(cert.get(), &ctx, NID_subject_alt_name, sans);
    }

    const core::PrivateKey& signer = issuer != nullptr ? issuer->key : *key;
    if (X509_sign(cert.get(), signer.get(), EVP_sha256()) <= 0) {
        detail::fail("signing certificate");
    }
    int len = i2d_X509(cert.get(), nullptr);
    std::string der(static_cast<std::size_t>(len > 0 ? len : 0), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (len <= 0 || i2d_X509(cert.get(), &out) != len) {
        detail::fail("encoding certificate");
    }
    auto parsed = core::Certificate::from_der(der);
    if (!parsed) {
        throw std::runtime_error("test CA: " + parsed.error().message);
    }
    return Issued{std::move(key).value(), std::move(parsed).value()};
}

// root (self-signed CA) -> intermediate (CA) -> leaf for `names`.
struct Chain {
    Issued root;
    Issued intermediate;
    Issued leaf;

    // What an ACME CA serves: leaf then intermediate.
    std::string fullchain_pem() const { return leaf.cert.to_pem() + intermediate.cert.to_pem(); }
};

// The leaf has serial 0x87654321 (high bit set, so its DER has a leading 00
// as in RFC 9773 §4.1) and is valid from `now - 1h` to `now + 90d`; the CAs
// from `now - 1d` to `now + 10y`. Keys: root P-384, leaf P-256, intermediate
// `intermediate_key` (P-256 by default because RSA generation is slow; pass
// an RSA type to get an RSA-signed leaf).
inline Chain make_chain(const std::vector<std::string>& names, core::SystemTime now = std::chrono::system_clock::now(),
                        const std::string& root_cn = "renewer Test Root",
                        core::KeyType intermediate_key = core::KeyType::ec256) {
    const auto day = std::chrono::hours(24);
    CertSpec root_spec;
    root_spec.cn = root_cn;
    root_spec.is_ca = true;
    root_spec.serial = 100;
    root_spec.key_type = core::KeyType::ec384;
    root_spec.not_before = now - day;
    root_spec.not_after = now + 3650 * day;
    Issued root = issue(root_spec, nullptr);

    CertSpec inter_spec = root_spec;
    inter_spec.cn = "renewer Test Intermediate";
    inter_spec.serial = 200;
    inter_spec.key_type = intermediate_key;
    Issued intermediate = issue(inter_spec, &root);

    CertSpec leaf_spec;
    leaf_spec.cn = names.empty() ? std::string() : names.front();
    leaf_spec.org.clear();
    leaf_spec.dns_names = names;
    leaf_spec.serial = 0x87654321;
    leaf_spec.not_before = now - std::chrono::hours(1);
    leaf_spec.not_after = now + 90 * day;
    Issued leaf = issue(leaf_spec, &intermediate);

    return Chain{std::move(root), std::move(intermediate), std::move(leaf)};
}

}  // namespace test_ca
