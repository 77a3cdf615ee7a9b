// libFuzzer target: DNS messages as the propagation checker reads the answers
// c-ares fetched (dns::wire::parse, names in RDATA with compression, TXT
// character-strings) and as the RFC 2136 provider reads an UPDATE response
// (TSIG RR parsing and verification, RFC 8945 §5.3).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dns/resolver.hpp"
#include "dns/wire.hpp"
#include "fuzz_common.hpp"

namespace wire = dns::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);

    if (auto m = wire::parse(bytes)) {
        fuzz::touch(m->opcode() + m->rcode() + (m->authoritative() ? 1 : 0) + (m->truncated() ? 1 : 0));
        for (const auto* section : {&m->answers, &m->authority, &m->additional}) {
            for (const auto& rr : *section) {
                fuzz::touch(wire::canonical_name(rr.name));
                fuzz::touch(wire::is_subdomain(rr.name, "example.test") ? 1 : 0);
                switch (static_cast<wire::RrType>(rr.type)) {
                    case wire::RrType::ns:
                    case wire::RrType::cname:
                    case wire::RrType::soa:
                        if (auto target = m->name_at(rr.rdata_offset)) {
                            fuzz::touch(*target);
                        }
                        break;
                    case wire::RrType::txt:
                        if (auto value = wire::decode_txt_rdata(rr.rdata)) {
                            fuzz::touch(*value);
                        }
                        break;
                    default: break;
                }
            }
        }
        fuzz::touch(wire::rcode_name(m->rcode()));
        // As an UPDATE response signed (or not) with our key.
        const wire::TsigKey key{"renewer-key.", wire::TsigAlgorithm::hmac_sha256, std::string(32, 'k')};
        const std::string request_mac(32, 'm');
        if (auto check = wire::tsig_verify_response(*m, key, request_mac, 1'795'392'000)) {
            fuzz::touch(check->error);
        }
    }
    fuzz::touch(dns::parse_host_port(bytes).ok() ? 1 : 0);
    fuzz::touch(dns::parse_host_port_list(bytes).ok() ? 1 : 0);
    fuzz::touch(wire::parse_tsig_algorithm(bytes).ok() ? 1 : 0);
    if (auto encoded = wire::encode_name(bytes)) {
        fuzz::touch(*encoded);
    }
    return 0;
}
