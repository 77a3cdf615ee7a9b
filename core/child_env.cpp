#include "core/child_env.hpp"

#include <algorithm>
#include <string_view>

#include "core/log.hpp"

extern char** environ;  // NOLINT: POSIX

namespace core {

const std::vector<std::string> k_secret_env_names = {
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "RFC2136_TSIG_SECRET",   "ACME_EAB_HMAC_KEY", "EAB_HMAC_KEY",
};

std::vector<std::string> child_environment(const std::vector<std::string>& hidden) {
    std::vector<std::string> block;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text = *entry;
        const std::size_t eq = text.find('=');
        const std::string_view name = text.substr(0, eq);
        const std::string_view value = eq == std::string_view::npos ? std::string_view{} : text.substr(eq + 1);
        const auto named = [&](const std::vector<std::string>& list) {
            return std::find(list.begin(), list.end(), name) != list.end();
        };
        if (named(k_secret_env_names) || named(hidden)) {
            continue;
        }
        if (!value.empty() && log::redact(value) != value) {
            continue;  // holds a registered secret or a private key
        }
        block.emplace_back(text);
    }
    return block;
}

std::vector<char*> env_pointers(std::vector<std::string>& block) {
    std::vector<char*> out;
    out.reserve(block.size() + 1);
    for (auto& entry : block) {
        out.push_back(entry.data());
    }
    out.push_back(nullptr);
    return out;
}

}  // namespace core
