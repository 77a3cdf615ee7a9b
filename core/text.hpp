// ASCII text helpers every layer needs: protocol keywords, header and
// configuration values are ASCII and compared without case (RFC 9110 §5.1,
// RFC 4343 for DNS names).
#pragma once

#include <string>
#include <string_view>

namespace core {

// A-Z to a-z; every other byte as it is (no locale, UTF-8 untouched).
std::string ascii_lower(std::string_view text);

// Without leading and trailing spaces, tabs, CR and LF.
std::string_view trim(std::string_view text);

}  // namespace core
