// Internal to core/ (keys.cpp, x509.cpp): memory BIOs in and out of
// OpenSSL, and errors that carry OpenSSL's error queue.
#pragma once

#include <string>
#include <string_view>

#include <openssl/bio.h>

#include "core/c_handle.hpp"
#include "core/result.hpp"

namespace core::openssl {

using BioPtr = CHandle<BIO, BIO_free>;

// ErrorKind::crypto: "<what>: <OpenSSL's error queue>" (the queue is cleared).
Error crypto_error(const std::string& what);

inline const unsigned char* ubytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
inline unsigned char* ubytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// Read-only memory BIO over `text`; nullptr when it is too large for OpenSSL's int length.
BioPtr read_bio(std::string_view text);

// Everything written to a memory BIO. Private key PEM goes through a secure
// memory BIO so OpenSSL's copy is wiped when freed.
std::string bio_contents(BIO* bio);

}  // namespace core::openssl
