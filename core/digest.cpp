#include "core/digest.hpp"

#include <algorithm>
#include <climits>
#include <memory>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/c_handle.hpp"

namespace core {

namespace {

using EvpMdCtxPtr = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;

const EVP_MD* evp_md(DigestAlg alg) {
    switch (alg) {
        case DigestAlg::sha256: return EVP_sha256();
        case DigestAlg::sha384: return EVP_sha384();
        case DigestAlg::sha512: return EVP_sha512();
    }
    throw std::invalid_argument("unknown DigestAlg");
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + openssl_error()); }

const unsigned char* bytes_of(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

const char* to_string(DigestAlg alg) {
    switch (alg) {
        case DigestAlg::sha256: return "SHA256";
        case DigestAlg::sha384: return "SHA384";
        case DigestAlg::sha512: return "SHA512";
    }
    return "unknown";
}

std::size_t digest_size(DigestAlg alg) {
    switch (alg) {
        case DigestAlg::sha256: return 32;
        case DigestAlg::sha384: return 48;
        case DigestAlg::sha512: return 64;
    }
    return 0;
}

std::string digest(DigestAlg alg, std::string_view data) {
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx) {
        fail("EVP_MD_CTX_new");
    }
    if (EVP_DigestInit_ex2(ctx.get(), evp_md(alg), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1) {
        fail(std::string(to_string(alg)) + " digest");
    }
    std::string out(EVP_MAX_MD_SIZE, '\0');
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) != 1) {
        fail(std::string(to_string(alg)) + " digest");
    }
    out.resize(len);
    return out;
}

std::string hmac(DigestAlg alg, std::string_view key, std::string_view data) {
    std::string out(EVP_MAX_MD_SIZE, '\0');
    std::size_t len = 0;
    // RFC 2104 HMAC through the EVP_MAC API. A zero-length key is legal HMAC;
    // pass a valid pointer so OpenSSL does not treat it as "no key".
    static constexpr unsigned char k_empty = 0;
    const unsigned char* key_ptr = key.empty() ? &k_empty : bytes_of(key);
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, to_string(alg), nullptr, key_ptr, key.size(), bytes_of(data), data.size(),
                  reinterpret_cast<unsigned char*>(out.data()), out.size(), &len) == nullptr) {
        fail(std::string("HMAC-") + to_string(alg));
    }
    out.resize(len);
    return out;
}

std::string random_bytes(std::size_t count) {
    std::string out(count, '\0');
    std::size_t done = 0;
    while (done < count) {
        // RAND_bytes takes an int count.
        const int chunk = static_cast<int>(std::min<std::size_t>(count - done, INT_MAX));
        if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data() + done), chunk) != 1) {
            fail("RAND_bytes");
        }
        done += static_cast<std::size_t>(chunk);
    }
    return out;
}

std::string openssl_error() {
    // The queue runs from the root cause (first) to the outermost caller
    // (last); keep up to three distinct entries so both ends show.
    std::string out;
    int kept = 0;
    unsigned long previous = 0;
    while (const unsigned long code = ERR_get_error()) {
        if (kept >= 3 || code == previous) {
            continue;
        }
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        out += (kept == 0 ? "" : "; ");
        out += buf;
        previous = code;
        ++kept;
    }
    return out.empty() ? std::string("no OpenSSL error detail") : out;
}

}  // namespace core
