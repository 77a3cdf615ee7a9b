#include "core/env.hpp"

#include <cstdlib>

namespace core {

std::optional<std::string> env(std::string_view name) {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) {
        return std::nullopt;
    }
    return std::string(value);
}

std::string env_or(std::string_view name, std::string_view fallback) {
    auto value = env(name);
    if (!value || value->empty()) {
        return std::string(fallback);
    }
    return std::move(*value);
}

}  // namespace core
