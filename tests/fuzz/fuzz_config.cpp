// libFuzzer target: the configuration file (renewer::parse_config: JSON,
// unknown keys, types, stores, names) and the name rules on their own
// (IDN to punycode, host-name validation, allowlist entries). A name that
// normalizes once must normalize to itself again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "renewer/config.hpp"
#include "renewer/names.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto config = renewer::parse_config(text, "fuzz.json")) {
        for (const auto& cert : config->certificates) {
            fuzz::touch(cert.id);
            for (const auto& domain : cert.domains) {
                fuzz::touch(domain);
            }
        }
    } else {
        fuzz::touch(config.error().message);
    }
    fuzz::touch(renewer::parse_store_spec(text).ok() ? 1 : 0);

    // Names: the whole input, and each line of it as one certificate's names.
    if (auto name = renewer::normalize_name(text)) {
        auto again = renewer::normalize_name(*name);
        if (!again || *again != *name) {
            __builtin_trap();  // normalization must be idempotent
        }
    }
    std::vector<std::string> names;
    std::size_t start = 0;
    while (start <= text.size() && names.size() < 8) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        names.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    std::vector<std::string> allow;
    if (auto entry = renewer::normalize_allow_entry(names.back())) {
        allow.push_back(*entry);
    }
    if (auto normalized = renewer::normalize_certificate_names(names, allow)) {
        for (const auto& n : *normalized) {
            if (!renewer::name_allowed(n, allow)) {
                __builtin_trap();  // an accepted name must be permitted
            }
        }
    }
    return 0;
}
