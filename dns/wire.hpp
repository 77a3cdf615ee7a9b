// DNS wire format (RFC 1035 §4): the small encoder and parser that the RFC 2136
// provider (UPDATE and TSIG, which c-ares cannot send) and the propagation
// checker (reading the answers c-ares fetches) share. Names are handled in
// text form "a.example.com." (labels without dots or escapes: the names we
// touch are host names and `_acme-challenge` labels).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/digest.hpp"
#include "core/result.hpp"

namespace dns::wire {

// RR types (RFC 1035 §3.2.2, RFC 3596, RFC 8945 §4.2).
enum class RrType : std::uint16_t {
    a = 1,
    ns = 2,
    cname = 5,
    soa = 6,
    txt = 16,
    aaaa = 28,
    tsig = 250,
};

// Classes (RFC 1035 §3.2.4, RFC 2136 §1.3).
constexpr std::uint16_t k_class_in = 1;
constexpr std::uint16_t k_class_none = 254;
constexpr std::uint16_t k_class_any = 255;

// Opcodes and response codes (RFC 1035 §4.1.1, RFC 2136 §1.3, RFC 8945 §3).
constexpr int k_opcode_query = 0;
constexpr int k_opcode_update = 5;
enum class Rcode : int {
    noerror = 0,
    formerr = 1,
    servfail = 2,
    nxdomain = 3,
    notimp = 4,
    refused = 5,
    yxdomain = 6,
    yxrrset = 7,
    nxrrset = 8,
    notauth = 9,
    notzone = 10,
    badsig = 16,  // TSIG error field only (RFC 8945 §3)
    badkey = 17,
    badtime = 18,
    badtrunc = 22,
};
// "NOTAUTH", "REFUSED", "BADSIG", ... or "RCODE<n>".
std::string rcode_name(int rcode);

// "Example.COM" -> "example.com." (lower-case, one trailing dot).
std::string canonical_name(std::string_view name);
// True when `name` equals `zone` or lies below it (both in any case, dot or not).
bool is_subdomain(std::string_view name, std::string_view zone);

// Uncompressed wire form of a name (RFC 1035 §3.1). Errors on empty labels
// inside the name, labels over 63 octets or names over 255 octets.
core::Result<std::string> encode_name(std::string_view name);

// TXT RDATA (RFC 1035 §3.3.14): the value as <character-string>s of at most
// 255 octets each; an empty value is one empty string.
std::string encode_txt_rdata(std::string_view value);
// The concatenation of the RDATA's character-strings (RFC 7208 §3.3 style).
core::Result<std::string> decode_txt_rdata(std::string_view rdata);

struct Question {
    std::string name;
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
};

struct ResourceRecord {
    std::string name;
    std::uint16_t type = 0;
    std::uint16_t klass = 0;
    std::uint32_t ttl = 0;
    std::string rdata;
    std::size_t offset = 0;        // where the RR starts in the message
    std::size_t rdata_offset = 0;  // where its RDATA starts in the message
};

struct Message {
    std::string wire;  // the whole message as received
    std::uint16_t id = 0;
    std::uint16_t flags = 0;
    std::vector<Question> questions;
    std::vector<ResourceRecord> answers;
    std::vector<ResourceRecord> authority;
    std::vector<ResourceRecord> additional;

    int opcode() const { return (flags >> 11) & 0xF; }
    int rcode() const { return flags & 0xF; }
    bool authoritative() const { return (flags & 0x0400) != 0; }
    bool truncated() const { return (flags & 0x0200) != 0; }
    // A name inside an RR's RDATA (CNAME/NS target, SOA MNAME), compression followed.
    core::Result<std::string> name_at(std::size_t offset) const;
};

// Parses a whole message, following compression pointers (RFC 1035 §4.1.4).
core::Result<Message> parse(std::string_view wire);

// --- RFC 2136 UPDATE --------------------------------------------------------

enum class UpdateOp {
    add,     // RFC 2136 §2.5.1 "Add To An RRset": CLASS = IN, TTL given
    remove,  // RFC 2136 §2.5.4 "Delete An RR From An RRset": CLASS = NONE, TTL 0
};

struct TxtChange {
    std::string fqdn;
    std::string value;
    // 0: the message's TTL. An RRset has one TTL (RFC 2181 section 5.2): an
    // add to an existing set carries that set's TTL, so the server does not
    // rewrite the TTL of the values already there.
    std::uint32_t ttl = 0;
};

// An UPDATE message (RFC 2136 §2): header with opcode UPDATE, the zone section
// (ZNAME, type SOA, class IN, §2.3), no prerequisites, one update RR per change
// (an add with the change's TTL, else `ttl`).
core::Result<std::string> build_txt_update(std::uint16_t id, std::string_view zone, UpdateOp op,
                                           const std::vector<TxtChange>& changes, std::uint32_t ttl);

// --- RFC 8945 TSIG -----------------------------------------------------------

enum class TsigAlgorithm { hmac_sha256, hmac_sha512 };
// "hmac-sha256." / "hmac-sha512." (RFC 8945 §6).
const char* tsig_algorithm_name(TsigAlgorithm alg);
// Accepts "hmac-sha256", "hmac-sha256.", "HMAC-SHA512" (and the lego/BIND spellings).
core::Result<TsigAlgorithm> parse_tsig_algorithm(std::string_view name);

struct TsigKey {
    std::string name;  // key name, e.g. "renewer-key."
    TsigAlgorithm algorithm = TsigAlgorithm::hmac_sha256;
    std::string secret;  // raw bytes (decoded from base64)
};

constexpr std::uint16_t k_tsig_fudge = 300;  // seconds, RFC 8945 §10 recommends 300

struct SignedMessage {
    std::string wire;  // message with the TSIG RR appended and ARCOUNT incremented
    std::string mac;   // the request MAC, needed to verify the response (§5.3)
};

// Signs a request (RFC 8945 §4.3.3 digest components) at `time_signed` (seconds since the epoch).
core::Result<SignedMessage> tsig_sign(std::string_view message, const TsigKey& key, std::uint64_t time_signed,
                                      std::uint16_t fudge = k_tsig_fudge);

// What the TSIG of a response said.
struct TsigCheck {
    bool present = false;  // the response carried a TSIG RR
    int error = 0;         // its Error field (BADSIG, BADKEY, BADTIME, ...)
};

// Verifies a response's TSIG (RFC 8945 §5.3, response digest = request MAC +
// response + variables), including the time window (§5.4). Returns what the
// TSIG RR said; an error when it is missing, for another key, or its MAC is wrong.
// An unsigned response carrying a TSIG error (the server could not verify
// us: BADSIG/BADKEY/BADTIME) returns ok with `error` set so the caller can name it.
core::Result<TsigCheck> tsig_verify_response(const Message& response, const TsigKey& key, std::string_view request_mac,
                                             std::uint64_t now);

}  // namespace dns::wire
