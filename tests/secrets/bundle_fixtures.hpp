// Bundles for the secrets/ and certfetch tests, issued by tests/core/test_ca.hpp.
// One CA (root + RSA intermediate) per test process, since RSA key generation
// is slow; every bundle gets a fresh EC leaf with its own serial, as a real CA
// would give it.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "core/x509.hpp"
#include "secrets/bundle.hpp"
#include "tests/core/test_ca.hpp"

namespace test_bundles {

inline const test_ca::Chain& shared_ca() {
    static const test_ca::Chain chain = test_ca::make_chain({"ca.invalid"});
    return chain;
}

inline std::uint64_t next_serial() {
    static std::atomic<std::uint64_t> serial{0x1000};
    return ++serial;
}

inline secrets::Bundle from_pem(const std::string& fullchain, const core::PrivateKey& key) {
    auto bundle = secrets::build_bundle(fullchain, key.to_pem(), "", std::chrono::system_clock::now());
    if (!bundle) {
        throw std::runtime_error("build_bundle: " + bundle.error().message);
    }
    return std::move(bundle).value();
}

inline secrets::Bundle from_chain(const test_ca::Chain& chain) {
    return from_pem(chain.fullchain_pem(), chain.leaf.key);
}

// A bundle whose leaf (issued by the shared intermediate) is valid over [not_before, not_after].
inline secrets::Bundle make_valid_between(core::SystemTime not_before, core::SystemTime not_after,
                                          const std::vector<std::string>& names = {"example.com"}) {
    const auto& ca = shared_ca();
    test_ca::CertSpec spec;
    spec.cn = names.front();
    spec.org.clear();
    spec.dns_names = names;
    spec.serial = next_serial();
    spec.not_before = not_before;
    spec.not_after = not_after;
    auto leaf = test_ca::issue(spec, &ca.intermediate);
    return from_pem(leaf.cert.to_pem() + ca.intermediate.cert.to_pem(), leaf.key);
}

// A valid bundle for `names`: notBefore an hour ago, notAfter in 90 days.
inline secrets::Bundle make(const std::vector<std::string>& names = {"example.com", "*.example.com"}) {
    const auto now = std::chrono::system_clock::now();
    return make_valid_between(now - std::chrono::hours(1), now + std::chrono::hours(24 * 90), names);
}

}  // namespace test_bundles
