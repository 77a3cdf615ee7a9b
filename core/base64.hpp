// base64 (RFC 4648 §4) and base64url without padding (§5, as JOSE uses it).
#pragma once

#include <string>
#include <string_view>

#include "core/result.hpp"

namespace core {

std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);     // accepts padding or none
std::string base64url_encode(std::string_view bytes);         // no padding
Result<std::string> base64url_decode(std::string_view text);  // accepts padding or none
std::string hex_encode(std::string_view bytes);               // lower-case

}  // namespace core
