#include "core/openssl_bio.hpp"

#include <climits>

#include "core/digest.hpp"

namespace core::openssl {

Error crypto_error(const std::string& what) { return make_error(ErrorKind::crypto, what + ": " + openssl_error()); }

BioPtr read_bio(std::string_view text) {
    if (text.size() > static_cast<std::size_t>(INT_MAX)) {
        return nullptr;
    }
    return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_contents(BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == nullptr) {
        return {};
    }
    return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace core::openssl
