#include "acme/status.hpp"

#include <array>
#include <string>
#include <utility>

namespace acme {
namespace {

constexpr std::array<std::pair<ResourceStatus, std::string_view>, 8> k_names = {{
    {ResourceStatus::pending, "pending"},
    {ResourceStatus::ready, "ready"},
    {ResourceStatus::processing, "processing"},
    {ResourceStatus::valid, "valid"},
    {ResourceStatus::invalid, "invalid"},
    {ResourceStatus::deactivated, "deactivated"},
    {ResourceStatus::expired, "expired"},
    {ResourceStatus::revoked, "revoked"},
}};

}  // namespace

const char* to_string(ResourceStatus status) {
    for (const auto& [value, name] : k_names) {
        if (value == status) {
            return name.data();
        }
    }
    return "unknown";
}

core::Result<ResourceStatus> parse_status(std::string_view text, std::string_view what) {
    for (const auto& [value, name] : k_names) {
        if (name == text) {
            return value;
        }
    }
    if (text.empty()) {
        return core::make_error(core::ErrorKind::protocol, std::string(what) + ": the answer has no status");
    }
    return core::make_error(core::ErrorKind::protocol,
                            std::string(what) + ": unknown status \"" + std::string(text) + "\" (RFC 8555 §7.1.6)");
}

}  // namespace acme
