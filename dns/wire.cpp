#include "dns/wire.hpp"
#include "core/text.hpp"

#include <algorithm>
#include <cctype>

#include <openssl/crypto.h>

namespace dns::wire {
namespace {

void put_u16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
    out.push_back(static_cast<char>(v & 0xFF));
}

void put_u32(std::string& out, std::uint32_t v) {
    put_u16(out, static_cast<std::uint16_t>(v >> 16));
    put_u16(out, static_cast<std::uint16_t>(v & 0xFFFF));
}

void put_u48(std::string& out, std::uint64_t v) {
    put_u16(out, static_cast<std::uint16_t>((v >> 32) & 0xFFFF));
    put_u32(out, static_cast<std::uint32_t>(v & 0xFFFFFFFFU));
}

std::uint16_t get_u16(std::string_view in, std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(in[at]) << 8) |
                                      static_cast<unsigned char>(in[at + 1]));
}

std::uint32_t get_u32(std::string_view in, std::size_t at) {
    return (static_cast<std::uint32_t>(get_u16(in, at)) << 16) | get_u16(in, at + 2);
}

void set_u16(std::string& out, std::size_t at, std::uint16_t v) {
    out[at] = static_cast<char>((v >> 8) & 0xFF);
    out[at + 1] = static_cast<char>(v & 0xFF);
}

core::Error bad_message(const std::string& what) {
    return core::make_error(core::ErrorKind::protocol, "malformed DNS message: " + what);
}

// Reads a possibly compressed name at `offset`; advances `offset` past it in
// the original position (RFC 1035 §4.1.4).
core::Result<std::string> read_name(std::string_view msg, std::size_t& offset) {
    std::string name;
    std::size_t pos = offset;
    bool jumped = false;
    int jumps = 0;
    while (true) {
        if (pos >= msg.size()) {
            return bad_message("name runs past the end");
        }
        const auto len = static_cast<unsigned char>(msg[pos]);
        if ((len & 0xC0) == 0xC0) {
            if (pos + 1 >= msg.size()) {
                return bad_message("truncated compression pointer");
            }
            if (++jumps > 64) {
                return bad_message("compression loop");
            }
            const std::size_t target = get_u16(msg, pos) & 0x3FFF;
            if (!jumped) {
                offset = pos + 2;
                jumped = true;
            }
            pos = target;
            continue;
        }
        if ((len & 0xC0) != 0) {
            return bad_message("unknown label type");
        }
        if (len == 0) {
            if (!jumped) {
                offset = pos + 1;
            }
            break;
        }
        if (pos + 1 + len > msg.size()) {
            return bad_message("label runs past the end");
        }
        name.append(msg.substr(pos + 1, len));
        name.push_back('.');
        pos += 1 + len;
        if (name.size() > 255) {
            return bad_message("name too long");
        }
    }
    return name.empty() ? std::string(".") : name;
}

core::Result<std::vector<ResourceRecord>> read_records(std::string_view msg, std::size_t& offset, int count) {
    std::vector<ResourceRecord> records;
    for (int i = 0; i < count; ++i) {
        ResourceRecord rr;
        rr.offset = offset;
        TRY_ASSIGN(rr.name, read_name(msg, offset));
        if (offset + 10 > msg.size()) {
            return bad_message("truncated resource record");
        }
        rr.type = get_u16(msg, offset);
        rr.klass = get_u16(msg, offset + 2);
        rr.ttl = get_u32(msg, offset + 4);
        const std::size_t rdlength = get_u16(msg, offset + 8);
        offset += 10;
        if (offset + rdlength > msg.size()) {
            return bad_message("RDATA runs past the end");
        }
        rr.rdata_offset = offset;
        rr.rdata = std::string(msg.substr(offset, rdlength));
        offset += rdlength;
        records.push_back(std::move(rr));
    }
    return records;
}

core::DigestAlg digest_of(TsigAlgorithm alg) {
    return alg == TsigAlgorithm::hmac_sha512 ? core::DigestAlg::sha512 : core::DigestAlg::sha256;
}

// The "TSIG variables" of RFC 8945 §4.3.3: key name and algorithm name in
// canonical (lower-case, uncompressed) form, class ANY, TTL 0, time, fudge,
// error, other data.
core::Result<std::string> tsig_variables(std::string_view key_name, std::string_view algorithm_name,
                                         std::uint64_t time_signed, std::uint16_t fudge, std::uint16_t error,
                                         std::string_view other) {
    std::string out;
    TRY_ASSIGN(std::string key_wire, encode_name(canonical_name(key_name)));
    TRY_ASSIGN(std::string alg_wire, encode_name(canonical_name(algorithm_name)));
    out += key_wire;
    put_u16(out, k_class_any);
    put_u32(out, 0);
    out += alg_wire;
    put_u48(out, time_signed);
    put_u16(out, fudge);
    put_u16(out, error);
    put_u16(out, static_cast<std::uint16_t>(other.size()));
    out.append(other);
    return out;
}

}  // namespace

std::string rcode_name(int rcode) {
    switch (static_cast<Rcode>(rcode)) {
        case Rcode::noerror: return "NOERROR";
        case Rcode::formerr: return "FORMERR";
        case Rcode::servfail: return "SERVFAIL";
        case Rcode::nxdomain: return "NXDOMAIN";
        case Rcode::notimp: return "NOTIMP";
        case Rcode::refused: return "REFUSED";
        case Rcode::yxdomain: return "YXDOMAIN";
        case Rcode::yxrrset: return "YXRRSET";
        case Rcode::nxrrset: return "NXRRSET";
        case Rcode::notauth: return "NOTAUTH";
        case Rcode::notzone: return "NOTZONE";
        case Rcode::badsig: return "BADSIG";
        case Rcode::badkey: return "BADKEY";
        case Rcode::badtime: return "BADTIME";
        case Rcode::badtrunc: return "BADTRUNC";
    }
    return "RCODE" + std::to_string(rcode);
}

std::string canonical_name(std::string_view name) {
    std::string out = core::ascii_lower(name);
    while (!out.empty() && out.back() == '.') {
        out.pop_back();
    }
    out.push_back('.');
    return out;
}

bool is_subdomain(std::string_view name, std::string_view zone) {
    const std::string n = canonical_name(name);
    const std::string z = canonical_name(zone);
    if (z == ".") {
        return true;
    }
    if (n == z) {
        return true;
    }
    return n.size() > z.size() && n.ends_with(z) && n[n.size() - z.size() - 1] == '.';
}

core::Result<std::string> encode_name(std::string_view name) {
    std::string out;
    std::string_view rest = name;
    while (!rest.empty() && rest.back() == '.') {
        rest.remove_suffix(1);
    }
    while (!rest.empty()) {
        const auto dot = rest.find('.');
        const std::string_view label = rest.substr(0, dot);
        if (label.empty()) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    "empty label in DNS name '" + std::string(name) + "'");
        }
        if (label.size() > 63) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    "label longer than 63 octets in DNS name '" + std::string(name) + "'");
        }
        out.push_back(static_cast<char>(label.size()));
        out.append(label);
        rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
    }
    out.push_back('\0');
    if (out.size() > 255) {
        return core::make_error(core::ErrorKind::invalid_input,
                                "DNS name longer than 255 octets: '" + std::string(name) + "'");
    }
    return out;
}

std::string encode_txt_rdata(std::string_view value) {
    std::string out;
    do {
        const std::string_view chunk = value.substr(0, 255);
        out.push_back(static_cast<char>(chunk.size()));
        out.append(chunk);
        value.remove_prefix(chunk.size());
    } while (!value.empty());
    return out;
}

core::Result<std::string> decode_txt_rdata(std::string_view rdata) {
    std::string out;
    std::size_t pos = 0;
    while (pos < rdata.size()) {
        const std::size_t len = static_cast<unsigned char>(rdata[pos]);
        if (pos + 1 + len > rdata.size()) {
            return bad_message("TXT character-string runs past its RDATA");
        }
        out.append(rdata.substr(pos + 1, len));
        pos += 1 + len;
    }
    return out;
}

core::Result<std::string> Message::name_at(std::size_t offset) const {
    std::size_t pos = offset;
    return read_name(wire, pos);
}

core::Result<Message> parse(std::string_view wire) {
    if (wire.size() < 12) {
        return bad_message("shorter than its header");
    }
    Message m;
    m.wire = std::string(wire);
    m.id = get_u16(wire, 0);
    m.flags = get_u16(wire, 2);
    const int qd = get_u16(wire, 4);
    const int an = get_u16(wire, 6);
    const int ns = get_u16(wire, 8);
    const int ar = get_u16(wire, 10);
    std::size_t offset = 12;
    for (int i = 0; i < qd; ++i) {
        Question q;
        TRY_ASSIGN(q.name, read_name(wire, offset));
        if (offset + 4 > wire.size()) {
            return bad_message("truncated question");
        }
        q.type = get_u16(wire, offset);
        q.klass = get_u16(wire, offset + 2);
        offset += 4;
        m.questions.push_back(std::move(q));
    }
    TRY_ASSIGN(m.answers, read_records(wire, offset, an));
    TRY_ASSIGN(m.authority, read_records(wire, offset, ns));
    TRY_ASSIGN(m.additional, read_records(wire, offset, ar));
    return m;
}

core::Result<std::string> build_txt_update(std::uint16_t id, std::string_view zone, UpdateOp op,
                                           const std::vector<TxtChange>& changes, std::uint32_t ttl) {
    std::string out;
    put_u16(out, id);
    put_u16(out, static_cast<std::uint16_t>(k_opcode_update << 11));  // QR=0, opcode UPDATE (RFC 2136 §2.2)
    put_u16(out, 1);                                                  // ZOCOUNT
    put_u16(out, 0);                                                  // PRCOUNT
    put_u16(out, static_cast<std::uint16_t>(changes.size()));         // UPCOUNT
    put_u16(out, 0);                                                  // ADCOUNT
    // Zone section (RFC 2136 §2.3): ZNAME, ZTYPE = SOA, ZCLASS = IN.
    TRY_ASSIGN(std::string zone_wire, encode_name(zone));
    out += zone_wire;
    put_u16(out, static_cast<std::uint16_t>(RrType::soa));
    put_u16(out, k_class_in);
    // Update section (RFC 2136 §2.5).
    for (const auto& change : changes) {
        if (!is_subdomain(change.fqdn, zone)) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    "'" + change.fqdn + "' is not in zone '" + std::string(zone) + "'");
        }
        TRY_ASSIGN(std::string name_wire, encode_name(change.fqdn));
        out += name_wire;
        put_u16(out, static_cast<std::uint16_t>(RrType::txt));
        if (op == UpdateOp::add) {
            put_u16(out, k_class_in);  // §2.5.1 Add To An RRset
            put_u32(out, change.ttl != 0 ? change.ttl : ttl);
        } else {
            put_u16(out, k_class_none);  // §2.5.4 Delete An RR From An RRset
            put_u32(out, 0);
        }
        const std::string rdata = encode_txt_rdata(change.value);
        if (rdata.size() > 0xFFFF) {
            return core::make_error(core::ErrorKind::invalid_input, "TXT value too long for one record");
        }
        put_u16(out, static_cast<std::uint16_t>(rdata.size()));
        out += rdata;
    }
    return out;
}

const char* tsig_algorithm_name(TsigAlgorithm alg) {
    return alg == TsigAlgorithm::hmac_sha512 ? "hmac-sha512." : "hmac-sha256.";
}

core::Result<TsigAlgorithm> parse_tsig_algorithm(std::string_view name) {
    const std::string n = canonical_name(name);
    if (n == "hmac-sha256.") {
        return TsigAlgorithm::hmac_sha256;
    }
    if (n == "hmac-sha512.") {
        return TsigAlgorithm::hmac_sha512;
    }
    return core::make_error(core::ErrorKind::invalid_input,
                            "unsupported TSIG algorithm '" + std::string(name) + "' (use hmac-sha256 or hmac-sha512)");
}

core::Result<SignedMessage> tsig_sign(std::string_view message, const TsigKey& key, std::uint64_t time_signed,
                                      std::uint16_t fudge) {
    if (message.size() < 12) {
        return core::make_error(core::ErrorKind::internal, "TSIG: message shorter than its header");
    }
    const char* alg_name = tsig_algorithm_name(key.algorithm);
    // Request digest (RFC 8945 §4.3.3): the message as it is, then the TSIG variables.
    TRY_ASSIGN(std::string variables, tsig_variables(key.name, alg_name, time_signed, fudge, 0, {}));
    std::string digest_input(message);
    digest_input += variables;
    SignedMessage signed_message;
    signed_message.mac = core::hmac(digest_of(key.algorithm), key.secret, digest_input);

    // The TSIG RR (RFC 8945 §4.2): NAME key, TYPE TSIG, CLASS ANY, TTL 0, RDATA.
    std::string rdata;
    TRY_ASSIGN(std::string alg_wire, encode_name(alg_name));
    rdata += alg_wire;
    put_u48(rdata, time_signed);
    put_u16(rdata, fudge);
    put_u16(rdata, static_cast<std::uint16_t>(signed_message.mac.size()));
    rdata += signed_message.mac;
    put_u16(rdata, get_u16(message, 0));  // Original ID
    put_u16(rdata, 0);                    // Error
    put_u16(rdata, 0);                    // Other Len

    std::string out(message);
    TRY_ASSIGN(std::string key_wire, encode_name(canonical_name(key.name)));
    out += key_wire;
    put_u16(out, static_cast<std::uint16_t>(RrType::tsig));
    put_u16(out, k_class_any);
    put_u32(out, 0);
    put_u16(out, static_cast<std::uint16_t>(rdata.size()));
    out += rdata;
    set_u16(out, 10, static_cast<std::uint16_t>(get_u16(out, 10) + 1));  // ARCOUNT
    signed_message.wire = std::move(out);
    return signed_message;
}

core::Result<TsigCheck> tsig_verify_response(const Message& response, const TsigKey& key, std::string_view request_mac,
                                             std::uint64_t now) {
    TsigCheck check;
    if (response.additional.empty() || response.additional.back().type != static_cast<std::uint16_t>(RrType::tsig)) {
        return core::make_error(core::ErrorKind::auth, "TSIG: the response is not signed");
    }
    check.present = true;
    const ResourceRecord& tsig = response.additional.back();
    // Parse the RDATA (RFC 8945 §4.2).
    std::size_t pos = tsig.rdata_offset;
    TRY_ASSIGN(std::string alg_name, read_name(response.wire, pos));
    const std::size_t end = tsig.rdata_offset + tsig.rdata.size();
    if (pos + 10 > end) {
        return bad_message("truncated TSIG RDATA");
    }
    const std::string_view w = response.wire;
    const std::uint64_t time_signed = (static_cast<std::uint64_t>(get_u16(w, pos)) << 32) | get_u32(w, pos + 2);
    const std::uint16_t fudge = get_u16(w, pos + 6);
    const std::size_t mac_size = get_u16(w, pos + 8);
    pos += 10;
    if (pos + mac_size + 6 > end) {
        return bad_message("truncated TSIG MAC");
    }
    const std::string_view mac = w.substr(pos, mac_size);
    pos += mac_size;
    const std::uint16_t original_id = get_u16(w, pos);
    const std::uint16_t error = get_u16(w, pos + 2);
    const std::size_t other_len = get_u16(w, pos + 4);
    pos += 6;
    if (pos + other_len > end) {
        return bad_message("truncated TSIG other data");
    }
    const std::string_view other = w.substr(pos, other_len);
    check.error = error;

    if (canonical_name(tsig.name) != canonical_name(key.name)) {
        return core::make_error(core::ErrorKind::auth, "TSIG: the response is signed with key '" + tsig.name +
                                                           "', expected '" + canonical_name(key.name) + "'");
    }
    if (error != 0 && mac_size == 0) {
        // The server could not verify our request (RFC 8945 §5.2): it answers unsigned.
        return check;
    }
    if (canonical_name(alg_name) != tsig_algorithm_name(key.algorithm)) {
        return core::make_error(core::ErrorKind::auth, "TSIG: the response uses algorithm '" + alg_name + "'");
    }
    // Response digest (RFC 8945 §4.3.1/§5.3): request MAC, the response without
    // its TSIG RR (ARCOUNT decremented, original ID), then the TSIG variables.
    std::string digest_input;
    put_u16(digest_input, static_cast<std::uint16_t>(request_mac.size()));
    digest_input.append(request_mac);
    std::string stripped(w.substr(0, tsig.offset));
    set_u16(stripped, 0, original_id);
    set_u16(stripped, 10, static_cast<std::uint16_t>(get_u16(stripped, 10) - 1));
    digest_input += stripped;
    TRY_ASSIGN(std::string variables, tsig_variables(tsig.name, alg_name, time_signed, fudge, error, other));
    digest_input += variables;
    const std::string expected = core::hmac(digest_of(key.algorithm), key.secret, digest_input);
    if (expected.size() != mac.size() || CRYPTO_memcmp(expected.data(), mac.data(), mac.size()) != 0) {
        return core::make_error(core::ErrorKind::auth, "TSIG: the response MAC does not verify (BADSIG)");
    }
    // Time check (RFC 8945 §5.4.3).
    const std::uint64_t skew = now > time_signed ? now - time_signed : time_signed - now;
    if (skew > fudge) {
        return core::make_error(core::ErrorKind::auth, "TSIG: the response time is outside the fudge window (BADTIME)");
    }
    return check;
}

}  // namespace dns::wire
