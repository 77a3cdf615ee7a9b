// X.509 over OpenSSL 3: CSR with SANs, certificate inspection, PEM chains,
// chain verification against given roots.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include "core/c_handle.hpp"
#include "core/keys.hpp"
#include "core/result.hpp"

namespace core {

using X509Ptr = CHandle<X509, X509_free>;

using SystemTime = std::chrono::system_clock::time_point;

// DER CSR (PKCS#10) for `names` (first is the subject CN when it fits in 64
// characters), signed with `key`; SANs carry every name.
Result<std::string> make_csr_der(const PrivateKey& key, const std::vector<std::string>& names);

struct CertInfo {
    std::vector<std::string> dns_names;  // subjectAltName dNSName entries, in order
    std::string subject_cn;
    std::string issuer_cn;
    std::string issuer;  // one-line RFC 2253 form
    // Clamped to what system_clock holds (about 1678..2261): RFC 9773's
    // example says year 1, RFC 5280 §4.1.2.5 uses 9999 for "no expiry".
    SystemTime not_before;
    SystemTime not_after;
    std::string serial_hex;  // lower-case hex, no leading zeros beyond one byte
    std::string serial_der;  // the serial's DER INTEGER content bytes (RFC 9773 §4.1)
    std::string aki_key_id;  // authorityKeyIdentifier keyIdentifier bytes, empty when absent
    std::string ski_key_id;  // subjectKeyIdentifier bytes, empty when absent
    bool is_ca = false;
};

class Certificate {
public:
    static Result<Certificate> from_pem(std::string_view pem);  // first certificate in the text
    static Result<Certificate> from_der(std::string_view der);

    CertInfo info() const;
    std::string to_pem() const;  // these two throw std::runtime_error only if OpenSSL fails internally
    std::string to_der() const;
    bool matches_key(const PrivateKey& key) const;
    X509* get() const { return cert_.get(); }

private:
    explicit Certificate(X509Ptr cert) : cert_(std::move(cert)) {}
    X509Ptr cert_;
};

// Every certificate in a PEM text, in order. An error when there is none or
// when any block does not parse.
Result<std::vector<Certificate>> parse_pem_chain(std::string_view pem);

// Verifies chain[0] (the leaf) up to one of `roots`, using chain[1..] as
// intermediates, at time `at`. An error names what failed (expired,
// unknown issuer, ...).
Status verify_chain(const std::vector<Certificate>& chain, const std::vector<Certificate>& roots, SystemTime at);

// RFC 3339 UTC ("2026-11-23T19:17:51Z").
std::string format_time(SystemTime t);
Result<SystemTime> parse_time(std::string_view rfc3339);

}  // namespace core
