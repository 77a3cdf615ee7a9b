// The one way this code reads the process environment.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace core {

// The value of environment variable `name`; nullopt when it is not set.
std::optional<std::string> env(std::string_view name);

// The value of `name`, or `fallback` when it is unset or empty (an empty
// variable means "not configured" to every caller that uses this form).
std::string env_or(std::string_view name, std::string_view fallback = {});

}  // namespace core
