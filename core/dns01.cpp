#include "core/dns01.hpp"

#include "core/base64.hpp"
#include "core/digest.hpp"

namespace core {

std::string dns01_txt_value(std::string_view key_authorization) { return base64url_encode(sha256(key_authorization)); }

}  // namespace core
