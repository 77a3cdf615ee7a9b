// Route53 REST-XML shapes (API version 2013-04-01) as pure functions, so the
// request bodies, answer parsing, zone choice and batch splitting are tested
// without a server. Used only by route53.cpp and its tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "dns/route53.hpp"

namespace dns::route53_wire {

struct HostedZone {
    std::string id;    // "Z1D633PJN98FT9" (the "/hostedzone/" prefix removed)
    std::string name;  // canonical, "example.com."
    bool private_zone = false;
};

struct ZonePage {
    std::vector<HostedZone> zones;
    bool truncated = false;
    std::string next_dns_name;
    std::string next_hosted_zone_id;
};

// ListHostedZonesByNameResponse.
core::Result<ZonePage> parse_hosted_zones(std::string_view xml);

// The zone for `fqdn` among `zones`: the longest name that is `fqdn` or a
// suffix of it at a label boundary; among zones of that name a public one
// wins (or a private one with prefer_private). Errors: not_found naming the
// fqdn; invalid_input when two zones tie (set AWS_HOSTED_ZONE_ID).
core::Result<HostedZone> pick_zone(std::string_view fqdn, const std::vector<HostedZone>& zones,
                                   ZoneVisibility visibility);

// Route53 decodes names with octal escapes ("\052" for '*'); canonical, lower-case.
std::string decode_name(std::string_view name);

struct RecordSet {
    std::string name;  // canonical
    std::string type = "TXT";
    std::uint32_t ttl = 0;
    // Each <Value> exactly as Route53 returned it (quoted strings), so values
    // that are not ours go back unchanged.
    std::vector<std::string> values;
};

// The TXT set named `name` in a ListResourceRecordSetsResponse, if the first
// simple (no SetIdentifier) record set is exactly that name and type.
core::Result<std::optional<RecordSet>> parse_record_set(std::string_view xml, std::string_view name,
                                                        std::string_view type);

// A TXT value as Route53 wants it in <Value>: one or more quoted strings of at
// most 255 characters, '"' and '\' escaped with a backslash.
std::string quote_txt(std::string_view value);

enum class Action { create, upsert, remove };  // CREATE, UPSERT, DELETE
const char* action_name(Action action);

struct Change {
    Action action = Action::upsert;
    RecordSet rrset;
};

// Route53's limits for one ChangeResourceRecordSets request (UPSERT counts twice
// for records and characters).
struct BatchLimits {
    std::size_t max_changes = 100;
    std::size_t max_records = 1000;
    std::size_t max_value_chars = 32000;
};

// Splits `changes` into batches that each stay within `limits`, keeping the
// order; a DELETE followed by the CREATE of the same set (a compare-and-swap)
// stays in one batch. Errors when a single change (or pair) alone passes a limit.
core::Result<std::vector<std::vector<Change>>> split_batches(const std::vector<Change>& changes,
                                                             const BatchLimits& limits = {});

// The ChangeResourceRecordSetsRequest body.
std::string change_batch_xml(const std::vector<Change>& changes, std::string_view comment);

struct ChangeInfo {
    std::string id;      // "C2682N5HXP0BZ4" (the "/change/" prefix removed)
    std::string status;  // "PENDING" or "INSYNC"
};
// ChangeResourceRecordSetsResponse or GetChangeResponse.
core::Result<ChangeInfo> parse_change_info(std::string_view xml);

std::string xml_escape(std::string_view text);

}  // namespace dns::route53_wire
