// libFuzzer target: PEM and DER in (core::x509 chains, core::keys private
// keys in any PEM form) and the secret's JSON bundle (secrets::parse_bundle,
// then verify_bundle as certfetch does). Input is one text: it is tried as a
// PEM chain, a private key, DER, and a bundle.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/keys.hpp"
#include "core/x509.hpp"
#include "fuzz_common.hpp"
#include "secrets/bundle.hpp"

namespace {

void inspect(const core::Certificate& cert) {
    const core::CertInfo info = cert.info();
    fuzz::touch(info.subject_cn + info.issuer_cn + info.issuer + info.serial_hex + info.aki_key_id);
    for (const auto& name : info.dns_names) {
        fuzz::touch(name);
    }
    fuzz::touch(core::format_time(info.not_after));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto now = std::chrono::system_clock::now();

    if (auto chain = core::parse_pem_chain(text)) {
        for (const auto& cert : *chain) {
            inspect(cert);
        }
        // Self-verification: the last certificate as the only root.
        std::vector<core::Certificate> roots;
        if (auto root = core::Certificate::from_der(chain->back().to_der())) {
            roots.push_back(std::move(*root));
        }
        fuzz::touch(core::verify_chain(*chain, roots, now).ok() ? 1 : 0);
    }
    if (auto cert = core::Certificate::from_der(text)) {
        inspect(*cert);
    }
    if (auto key = core::PrivateKey::from_pem(text)) {
        fuzz::touch(key->public_key_pem());
        if (auto cert = core::Certificate::from_pem(text)) {
            fuzz::touch(cert->matches_key(*key) ? 1 : 0);
        }
    }
    if (auto intermediates = secrets::intermediates_pem(text)) {
        fuzz::touch(*intermediates);
    }

    if (auto bundle = secrets::parse_bundle(text)) {
        secrets::VerifyOptions options;
        options.now = now;
        options.expect_name = bundle->domains.empty() ? "example.test" : bundle->domains.front();
        fuzz::touch(secrets::verify_bundle(*bundle, options).ok() ? 1 : 0);
        // What we write must read back.
        if (!secrets::parse_bundle(secrets::to_json(*bundle))) {
            __builtin_trap();
        }
        for (const auto& name : bundle->domains) {
            fuzz::touch(secrets::name_matches(name, "www.example.test") ? 1 : 0);
        }
    }
    fuzz::touch(core::parse_time(text).ok() ? 1 : 0);
    return 0;
}
