#include "core/x509.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "core/base64.hpp"
#include "core/c_handle.hpp"
#include "core/openssl_bio.hpp"

namespace core {

namespace {

using openssl::bio_contents;
using openssl::BioPtr;
using openssl::crypto_error;
using openssl::read_bio;
using openssl::ubytes;

using X509ReqPtr = CHandle<X509_REQ, X509_REQ_free>;
using X509NamePtr = CHandle<X509_NAME, X509_NAME_free>;
using GeneralNamesPtr = CHandle<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = CHandle<GENERAL_NAME, GENERAL_NAME_free>;
using Asn1StringPtr = CHandle<ASN1_STRING, ASN1_STRING_free>;

void free_extensions(STACK_OF(X509_EXTENSION) * exts) { sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free); }
using ExtensionsPtr = CHandle<STACK_OF(X509_EXTENSION), free_extensions>;

// Holds borrowed X509 pointers: frees the stack, not the certificates.
void free_stack(STACK_OF(X509) * certs) { sk_X509_free(certs); }
using X509StackPtr = CHandle<STACK_OF(X509), free_stack>;
using X509StorePtr = CHandle<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = CHandle<X509_STORE_CTX, X509_STORE_CTX_free>;
using BignumPtr = CHandle<BIGNUM, BN_free>;

// Memory OpenSSL allocated for us (OPENSSL_malloc family).
void openssl_free(void* p) { OPENSSL_free(p); }
template <typename T>
using OpensslPtr = CHandle<T, openssl_free>;

// RFC 5280 Appendix A: ub-common-name INTEGER ::= 64.
constexpr std::size_t k_max_common_name = 64;

std::string asn1_bytes(const ASN1_STRING* s) {
    if (s == nullptr) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<std::size_t>(ASN1_STRING_length(s)));
}

// The first CN of `name` as UTF-8, empty when there is none.
std::string common_name(const X509_NAME* name) {
    if (name == nullptr) {
        return {};
    }
    const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index < 0) {
        return {};
    }
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, value);
    if (len < 0) {
        ERR_clear_error();
        return {};
    }
    const OpensslPtr<unsigned char> owned(utf8);
    return std::string(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
}

// RFC 2253 one-line form ("CN=R3,O=Let's Encrypt,C=US"), UTF-8 kept as is
// rather than escaped as \XX.
std::string rfc2253(const X509_NAME* name) {
    const BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || name == nullptr ||
        X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        ERR_clear_error();
        return {};
    }
    return bio_contents(bio.get());
}

// Civil time -> seconds since the Unix epoch, valid for any proleptic
// Gregorian date (certificates may say year 1 or 9999).
std::int64_t to_unix_seconds(const std::tm& tm) {
    const std::chrono::year_month_day ymd{std::chrono::year{tm.tm_year + 1900},
                                          std::chrono::month{static_cast<unsigned>(tm.tm_mon + 1)},
                                          std::chrono::day{static_cast<unsigned>(tm.tm_mday)}};
    const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
    return days * 86400 + std::int64_t{tm.tm_hour} * 3600 + std::int64_t{tm.tm_min} * 60 + tm.tm_sec;
}

// Seconds since the epoch -> SystemTime, clamped to what system_clock can
// hold (about years 1678..2261 with nanosecond ticks): RFC 9773's example
// certificate is valid in year 1, and RFC 5280 §4.1.2.5 uses 9999-12-31 for
// "no expiry".
SystemTime from_unix_seconds(std::int64_t seconds) {
    using Rep = SystemTime::duration::rep;
    constexpr auto k_ticks_per_second =
        static_cast<std::int64_t>(SystemTime::duration::period::den / SystemTime::duration::period::num);
    constexpr std::int64_t k_max_seconds = std::numeric_limits<Rep>::max() / k_ticks_per_second;
    constexpr std::int64_t k_min_seconds = std::numeric_limits<Rep>::min() / k_ticks_per_second;
    if (seconds >= k_max_seconds) {
        return SystemTime::max();
    }
    if (seconds <= k_min_seconds) {
        return SystemTime::min();
    }
    return SystemTime{std::chrono::duration_cast<SystemTime::duration>(std::chrono::seconds{seconds})};
}

SystemTime asn1_time_to_system(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return SystemTime{};
    }
    return from_unix_seconds(to_unix_seconds(tm));
}

// The DER INTEGER's content octets, leading 0x00 kept (RFC 9773 §4.1).
std::string serial_content_bytes(const ASN1_INTEGER* serial) {
    const int der_len = i2d_ASN1_INTEGER(serial, nullptr);
    if (der_len <= 0) {
        ERR_clear_error();
        return {};
    }
    std::string der(static_cast<std::size_t>(der_len), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_ASN1_INTEGER(serial, &out) != der_len) {
        ERR_clear_error();
        return {};
    }
    const unsigned char* p = ubytes(der);
    long content_len = 0;
    int tag = 0;
    int xclass = 0;
    if ((ASN1_get_object(&p, &content_len, &tag, &xclass, der_len) & 0x80) != 0 || tag != V_ASN1_INTEGER) {
        ERR_clear_error();
        return {};
    }
    const auto header = static_cast<std::size_t>(p - ubytes(der));
    return der.substr(header, static_cast<std::size_t>(content_len));
}

std::string serial_hex(const ASN1_INTEGER* serial) {
    const BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
    if (!bn) {
        ERR_clear_error();
        return {};
    }
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
    BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
    if (bytes.empty()) {
        bytes.assign(1, '\0');
    }
    return hex_encode(bytes);
}

std::string subject_of(X509* cert) {
    const std::string name = cert != nullptr ? rfc2253(X509_get_subject_name(cert)) : std::string();
    return name.empty() ? std::string("(no subject)") : name;
}

// Parses "dd" at text[pos], requiring digits.
bool read_digits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
    if (pos + count > text.size()) {
        return false;
    }
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (std::isdigit(static_cast<unsigned char>(text[i])) == 0) {
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    out = value;
    return true;
}

}  // namespace

Result<std::string> make_csr_der(const PrivateKey& key, const std::vector<std::string>& names) {
    if (names.empty()) {
        return make_error(ErrorKind::invalid_input, "CSR needs at least one name");
    }
    const X509ReqPtr req(X509_REQ_new());
    if (!req || X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) != 1) {
        return crypto_error("creating CSR");
    }

    // RFC 8555 §7.4: the CA reads the names from the SANs; a CN is optional
    // and must fit ub-common-name, so long first names go without one.
    X509_NAME* subject = X509_REQ_get_subject_name(req.get());
    if (names.front().size() <= k_max_common_name &&
        X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8, ubytes(names.front()),
                                   static_cast<int>(names.front().size()), -1, 0) != 1) {
        return crypto_error("setting CSR common name");
    }

    GeneralNamesPtr sans(GENERAL_NAMES_new());
    if (!sans) {
        return crypto_error("creating CSR subjectAltName");
    }
    for (const std::string& name : names) {
        // dNSName is an IA5String of A-labels (RFC 5280 §4.2.1.6); IDNs
        // must arrive already converted to punycode.
        const bool printable_ascii = std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 0x7f; });
        if (name.empty() || name.size() > 253 || !printable_ascii) {
            return make_error(ErrorKind::invalid_input,
                              "CSR name '" + name + "' is empty, longer than 253 characters or not ASCII");
        }
        Asn1StringPtr ia5(ASN1_IA5STRING_new());
        GeneralNamePtr entry(GENERAL_NAME_new());
        if (!ia5 || !entry || ASN1_STRING_set(ia5.get(), name.data(), static_cast<int>(name.size())) != 1) {
            return crypto_error("creating CSR subjectAltName");
        }
        GENERAL_NAME_set0_value(entry.get(), GEN_DNS, ia5.release());
        if (sk_GENERAL_NAME_push(sans.get(), entry.get()) == 0) {
            return crypto_error("creating CSR subjectAltName");
        }
        static_cast<void>(entry.release());  // the stack owns it now
    }

    // RFC 2986 §4.1 extensionRequest attribute carrying subjectAltName.
    STACK_OF(X509_EXTENSION)* raw_exts = nullptr;
    if (X509V3_add1_i2d(&raw_exts, NID_subject_alt_name, sans.get(), 0, X509V3_ADD_DEFAULT) != 1) {
        ExtensionsPtr cleanup(raw_exts);
        return crypto_error("encoding CSR subjectAltName");
    }
    const ExtensionsPtr exts(raw_exts);
    if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
        return crypto_error("adding CSR extensions");
    }

    if (X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
        return crypto_error("setting CSR public key");
    }
    // ecdsa-with-SHA256 or sha256WithRSAEncryption, both accepted by every ACME CA.
    if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) <= 0) {
        return crypto_error("signing CSR");
    }
    const int len = i2d_X509_REQ(req.get(), nullptr);
    if (len <= 0) {
        return crypto_error("encoding CSR");
    }
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_X509_REQ(req.get(), &out) != len) {
        return crypto_error("encoding CSR");
    }
    return der;
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
    const BioPtr bio = read_bio(pem);
    if (!bio) {
        return make_error(ErrorKind::invalid_input, "certificate PEM too large or out of memory");
    }
    ERR_clear_error();
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        return make_error(ErrorKind::invalid_input, "no readable certificate in PEM: " + openssl_error());
    }
    return Certificate(std::move(cert));
}

Result<Certificate> Certificate::from_der(std::string_view der) {
    if (der.size() > static_cast<std::size_t>(LONG_MAX)) {
        return make_error(ErrorKind::invalid_input, "certificate DER too large");
    }
    ERR_clear_error();
    const unsigned char* p = ubytes(der);
    X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    if (!cert) {
        return make_error(ErrorKind::invalid_input, "certificate DER does not parse: " + openssl_error());
    }
    if (p != ubytes(der) + der.size()) {
        return make_error(ErrorKind::invalid_input,
                          "certificate DER has " + std::to_string(ubytes(der) + der.size() - p) + " trailing bytes");
    }
    return Certificate(std::move(cert));
}

CertInfo Certificate::info() const {
    X509* cert = cert_.get();
    CertInfo info;

    const GeneralNamesPtr sans(
        static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
            const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans.get(), i);
            int type = 0;
            const auto* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
            if (type == GEN_DNS) {
                info.dns_names.push_back(asn1_bytes(value));
            }
        }
    }

    info.subject_cn = common_name(X509_get_subject_name(cert));
    info.issuer_cn = common_name(X509_get_issuer_name(cert));
    info.issuer = rfc2253(X509_get_issuer_name(cert));
    info.not_before = asn1_time_to_system(X509_get0_notBefore(cert));
    info.not_after = asn1_time_to_system(X509_get0_notAfter(cert));
    info.serial_hex = serial_hex(X509_get0_serialNumber(cert));
    info.serial_der = serial_content_bytes(X509_get0_serialNumber(cert));
    info.aki_key_id = asn1_bytes(X509_get0_authority_key_id(cert));
    info.ski_key_id = asn1_bytes(X509_get0_subject_key_id(cert));
    // basicConstraints cA (RFC 5280 §4.2.1.9); the flags are computed on first use.
    info.is_ca = (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
    ERR_clear_error();
    return info;
}

std::string Certificate::to_pem() const {
    const BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert_.get()) != 1) {
        throw std::runtime_error("writing certificate PEM: " + openssl_error());
    }
    return bio_contents(bio.get());
}

std::string Certificate::to_der() const {
    const int len = i2d_X509(cert_.get(), nullptr);
    if (len <= 0) {
        throw std::runtime_error("encoding certificate DER: " + openssl_error());
    }
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_X509(cert_.get(), &out) != len) {
        throw std::runtime_error("encoding certificate DER: " + openssl_error());
    }
    return der;
}

bool Certificate::matches_key(const PrivateKey& key) const {
    const EVP_PKEY* cert_key = X509_get0_pubkey(cert_.get());
    const bool match = cert_key != nullptr && key.get() != nullptr && EVP_PKEY_eq(cert_key, key.get()) == 1;
    ERR_clear_error();
    return match;
}

Result<std::vector<Certificate>> parse_pem_chain(std::string_view pem) {
    const BioPtr bio = read_bio(pem);
    if (!bio) {
        return make_error(ErrorKind::invalid_input, "certificate chain PEM too large or out of memory");
    }
    ERR_clear_error();
    std::vector<Certificate> chain;
    for (int block = 1;; ++block) {
        char* raw_name = nullptr;
        char* raw_header = nullptr;
        unsigned char* raw_data = nullptr;
        long len = 0;
        const int ok = PEM_read_bio(bio.get(), &raw_name, &raw_header, &raw_data, &len);
        const OpensslPtr<char> name(raw_name);
        const OpensslPtr<char> header(raw_header);
        const OpensslPtr<unsigned char> data(raw_data);
        if (ok != 1) {
            const unsigned long err = ERR_peek_last_error();
            if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
                ERR_clear_error();
                break;  // no more blocks
            }
            return make_error(ErrorKind::invalid_input,
                              "PEM block " + std::to_string(block) + " is malformed: " + openssl_error());
        }
        const std::string_view label(name.get());
        if (label != PEM_STRING_X509 && label != PEM_STRING_X509_OLD) {
            // Name the label only: the block may be a private key.
            OPENSSL_cleanse(data.get(), static_cast<std::size_t>(len));
            return make_error(ErrorKind::invalid_input,
                              "PEM block " + std::to_string(block) + " is '" + name.get() + "', expected CERTIFICATE");
        }
        auto cert = Certificate::from_der(
            std::string_view(reinterpret_cast<const char*>(data.get()), static_cast<std::size_t>(len)));
        if (!cert) {
            return cert.error().wrap("PEM block " + std::to_string(block));
        }
        chain.push_back(std::move(cert).value());
    }
    if (chain.empty()) {
        return make_error(ErrorKind::invalid_input, "no certificate in PEM text");
    }
    return chain;
}

Status verify_chain(const std::vector<Certificate>& chain, const std::vector<Certificate>& roots, SystemTime at) {
    if (chain.empty()) {
        return make_error(ErrorKind::invalid_input, "verify chain: no certificate given");
    }
    if (roots.empty()) {
        return make_error(ErrorKind::invalid_input, "verify chain: no trusted root given");
    }
    // Only the given roots are trusted: no default paths, no system store.
    const X509StorePtr store(X509_STORE_new());
    if (!store) {
        return crypto_error("verify chain: X509_STORE_new");
    }
    for (const Certificate& root : roots) {
        if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
            // Adding the same root twice is harmless.
            const unsigned long err = ERR_peek_last_error();
            if (ERR_GET_REASON(err) != X509_R_CERT_ALREADY_IN_HASH_TABLE) {
                return crypto_error("verify chain: adding root " + subject_of(root.get()));
            }
            ERR_clear_error();
        }
    }
    const X509StackPtr untrusted(sk_X509_new_null());
    if (!untrusted) {
        return crypto_error("verify chain: sk_X509_new_null");
    }
    for (std::size_t i = 1; i < chain.size(); ++i) {
        if (sk_X509_push(untrusted.get(), chain[i].get()) == 0) {
            return crypto_error("verify chain: collecting intermediates");
        }
    }
    const X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(), untrusted.get()) != 1) {
        return crypto_error("verify chain: X509_STORE_CTX_init");
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), std::chrono::system_clock::to_time_t(at));

    const int rc = X509_verify_cert(ctx.get());
    if (rc == 1) {
        ERR_clear_error();
        return {};
    }
    const int code = X509_STORE_CTX_get_error(ctx.get());
    if (rc < 0 || code == X509_V_OK) {
        return crypto_error("verify chain: X509_verify_cert");
    }
    ERR_clear_error();
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* at_fault = X509_STORE_CTX_get_current_cert(ctx.get());
    std::string detail;
    if (at_fault != nullptr && code == X509_V_ERR_CERT_HAS_EXPIRED) {
        detail = ", notAfter " + format_time(asn1_time_to_system(X509_get0_notAfter(at_fault)));
    } else if (at_fault != nullptr && code == X509_V_ERR_CERT_NOT_YET_VALID) {
        detail = ", notBefore " + format_time(asn1_time_to_system(X509_get0_notBefore(at_fault)));
    } else if (code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
        detail = "; its issuer is in neither the chain nor the trusted roots";
    }
    return make_error(
        ErrorKind::crypto,
        fmt::format("certificate chain does not verify at {}: {} (depth {}, subject {}{})", format_time(at),
                    X509_verify_cert_error_string(code), depth, subject_of(at_fault), detail));
}

std::string format_time(SystemTime t) {
    using namespace std::chrono;
    const auto secs = floor<seconds>(t);
    const auto days = floor<std::chrono::days>(secs);
    const year_month_day ymd{days};
    const hh_mm_ss hms{secs - days};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                       static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), hms.hours().count(),
                       hms.minutes().count(), hms.seconds().count());
}

// RFC 3339 §5.6 date-time: "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)";
// "T" and "Z" may be lower case (§5.6 NOTE). A leap second (":60") is read
// as :59 since system_clock has none.
Result<SystemTime> parse_time(std::string_view text) {
    const auto bad = [&](const char* why) -> Error {
        return make_error(ErrorKind::invalid_input,
                          fmt::format("invalid RFC 3339 time '{}': {}", text.substr(0, 64), why));
    };
    int year = 0;
    int month = 0;
    int day = 0;
    int hour = 0;
    int minute = 0;
    int second = 0;
    if (!read_digits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' || !read_digits(text, 5, 2, month) ||
        text[7] != '-' || !read_digits(text, 8, 2, day) || (text[10] != 'T' && text[10] != 't') ||
        !read_digits(text, 11, 2, hour) || text[13] != ':' || !read_digits(text, 14, 2, minute) || text[16] != ':' ||
        !read_digits(text, 17, 2, second)) {
        return bad("want YYYY-MM-DDTHH:MM:SS");
    }
    const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                          std::chrono::day{static_cast<unsigned>(day)}};
    if (!ymd.ok()) {
        return bad("no such date");
    }
    if (hour > 23 || minute > 59 || second > 60) {
        return bad("time of day out of range");
    }
    second = std::min(second, 59);

    std::size_t pos = 19;
    std::chrono::nanoseconds fraction{0};
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        const std::size_t start = pos;
        std::int64_t nanos = 0;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])) != 0) {
            if (pos - start < 9) {  // finer digits than nanoseconds are dropped
                nanos = nanos * 10 + (text[pos] - '0');
            }
            ++pos;
        }
        if (pos == start) {
            return bad("empty fraction");
        }
        for (std::size_t digits = pos - start; digits < 9; ++digits) {
            nanos *= 10;
        }
        fraction = std::chrono::nanoseconds{nanos};
    }

    int offset_minutes = 0;
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
        ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        int off_h = 0;
        int off_m = 0;
        if (!read_digits(text, pos + 1, 2, off_h) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
            !read_digits(text, pos + 4, 2, off_m) || off_h > 23 || off_m > 59) {
            return bad("invalid UTC offset");
        }
        offset_minutes = (off_h * 60 + off_m) * (text[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return bad("missing time zone (Z or +HH:MM)");
    }
    if (pos != text.size()) {
        return bad("trailing characters");
    }

    // Local time minus its offset is UTC.
    const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
    const std::int64_t seconds = days * 86400 + std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + second -
                                 std::int64_t{offset_minutes} * 60;
    const SystemTime whole = from_unix_seconds(seconds);
    if (whole == SystemTime::min() || whole == SystemTime::max()) {
        return bad("outside the range of system_clock");
    }
    return whole + std::chrono::duration_cast<SystemTime::duration>(fraction);
}

}  // namespace core
