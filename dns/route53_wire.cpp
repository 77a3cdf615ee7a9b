#include "dns/route53_wire.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <pugixml.hpp>

#include "dns/wire.hpp"

namespace dns::route53_wire {
namespace {

core::Result<pugi::xml_document> load(std::string_view xml, const char* what) {
    pugi::xml_document doc;
    const auto parsed = doc.load_buffer(xml.data(), xml.size());
    if (!parsed) {
        return core::make_error(core::ErrorKind::protocol,
                                std::string("route53: cannot parse the ") + what + " answer: " + parsed.description());
    }
    return doc;
}

std::string text_of(const pugi::xml_node& node, const char* child) { return node.child(child).text().as_string(); }

std::string strip_prefix(std::string value, std::string_view prefix) {
    if (value.starts_with(prefix)) {
        value.erase(0, prefix.size());
    }
    return value;
}

std::size_t weight(Action action) { return action == Action::upsert ? 2 : 1; }

std::size_t value_chars(const RecordSet& rrset) {
    std::size_t n = 0;
    for (const auto& v : rrset.values) {
        n += v.size();
    }
    return n;
}

}  // namespace

std::string xml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out.push_back(c); break;
        }
    }
    return out;
}

std::string decode_name(std::string_view name) {
    // Route53 returns some characters as "\ooo" octal escapes (its "DNS domain name format" doc).
    std::string out;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '\\' && i + 3 < name.size() && std::isdigit(static_cast<unsigned char>(name[i + 1])) &&
            std::isdigit(static_cast<unsigned char>(name[i + 2])) &&
            std::isdigit(static_cast<unsigned char>(name[i + 3]))) {
            const int code = (name[i + 1] - '0') * 64 + (name[i + 2] - '0') * 8 + (name[i + 3] - '0');
            out.push_back(static_cast<char>(code));
            i += 3;
        } else {
            out.push_back(name[i]);
        }
    }
    return wire::canonical_name(out);
}

core::Result<ZonePage> parse_hosted_zones(std::string_view xml) {
    TRY_ASSIGN(pugi::xml_document doc, load(xml, "ListHostedZonesByName"));
    const auto root = doc.child("ListHostedZonesByNameResponse");
    if (!root) {
        return core::make_error(core::ErrorKind::protocol,
                                "route53: ListHostedZonesByName answered an unexpected document");
    }
    ZonePage page;
    for (const auto& z : root.child("HostedZones").children("HostedZone")) {
        HostedZone zone;
        zone.id = strip_prefix(text_of(z, "Id"), "/hostedzone/");
        zone.name = decode_name(text_of(z, "Name"));
        zone.private_zone = z.child("Config").child("PrivateZone").text().as_bool();
        page.zones.push_back(std::move(zone));
    }
    page.truncated = root.child("IsTruncated").text().as_bool();
    page.next_dns_name = text_of(root, "NextDNSName");
    page.next_hosted_zone_id = text_of(root, "NextHostedZoneId");
    return page;
}

core::Result<HostedZone> pick_zone(std::string_view fqdn, const std::vector<HostedZone>& zones,
                                   ZoneVisibility visibility) {
    const std::string name = wire::canonical_name(fqdn);
    std::size_t best_len = 0;
    std::vector<const HostedZone*> best;
    for (const auto& z : zones) {
        if (!wire::is_subdomain(name, z.name) || z.name == ".") {
            continue;
        }
        if (z.name.size() > best_len) {
            best_len = z.name.size();
            best.clear();
        }
        if (z.name.size() == best_len) {
            best.push_back(&z);
        }
    }
    if (best.empty()) {
        return core::make_error(core::ErrorKind::not_found, "route53: no hosted zone for " + name);
    }
    const bool want_private = visibility == ZoneVisibility::prefer_private;
    std::vector<const HostedZone*> preferred;
    for (const auto* z : best) {
        if (z->private_zone == want_private) {
            preferred.push_back(z);
        }
    }
    if (preferred.empty()) {
        preferred = best;
    }
    if (preferred.size() > 1) {
        std::string ids;
        for (const auto* z : preferred) {
            ids += (ids.empty() ? "" : ", ") + z->id;
        }
        return core::make_error(core::ErrorKind::invalid_input, "route53: several hosted zones named " +
                                                                    preferred.front()->name + " (" + ids + ") match " +
                                                                    name + "; set AWS_HOSTED_ZONE_ID");
    }
    return *preferred.front();
}

core::Result<std::optional<RecordSet>> parse_record_set(std::string_view xml, std::string_view name,
                                                        std::string_view type) {
    TRY_ASSIGN(pugi::xml_document doc, load(xml, "ListResourceRecordSets"));
    const auto root = doc.child("ListResourceRecordSetsResponse");
    if (!root) {
        return core::make_error(core::ErrorKind::protocol,
                                "route53: ListResourceRecordSets answered an unexpected document");
    }
    const std::string wanted = wire::canonical_name(name);
    for (const auto& rs : root.child("ResourceRecordSets").children("ResourceRecordSet")) {
        if (decode_name(text_of(rs, "Name")) != wanted || text_of(rs, "Type") != type) {
            break;  // sorted by name then type: the set would come first
        }
        if (rs.child("SetIdentifier")) {
            continue;  // weighted/latency/... sets are not ours to merge into
        }
        RecordSet out;
        out.name = wanted;
        out.type = std::string(type);
        out.ttl = static_cast<std::uint32_t>(rs.child("TTL").text().as_ullong());
        for (const auto& rr : rs.child("ResourceRecords").children("ResourceRecord")) {
            out.values.emplace_back(rr.child("Value").text().as_string());
        }
        return std::optional<RecordSet>(std::move(out));
    }
    return std::optional<RecordSet>();
}

std::string quote_txt(std::string_view value) {
    // Route53 "TXT record type": each string at most 255 characters, in double
    // quotes; '"' and '\' are escaped with a backslash. Longer values become
    // several strings, which resolvers concatenate (RFC 7208 §3.3 style).
    std::string out;
    do {
        const std::string_view chunk = value.substr(0, 255);
        if (!out.empty()) {
            out.push_back(' ');
        }
        out.push_back('"');
        for (char c : chunk) {
            if (c == '"' || c == '\\') {
                out.push_back('\\');
            }
            out.push_back(c);
        }
        out.push_back('"');
        value.remove_prefix(chunk.size());
    } while (!value.empty());
    return out;
}

const char* action_name(Action action) {
    switch (action) {
        case Action::create: return "CREATE";
        case Action::upsert: return "UPSERT";
        case Action::remove: return "DELETE";
    }
    return "UPSERT";
}

core::Result<std::vector<std::vector<Change>>> split_batches(const std::vector<Change>& changes,
                                                             const BatchLimits& limits) {
    std::vector<std::vector<Change>> batches;
    std::size_t records = 0;
    std::size_t chars = 0;
    for (std::size_t i = 0; i < changes.size();) {
        // A DELETE followed by the CREATE of the same set is one compare-and-swap: never split.
        const bool pair =
            changes[i].action == Action::remove && i + 1 < changes.size() && changes[i + 1].action == Action::create &&
            changes[i + 1].rrset.name == changes[i].rrset.name && changes[i + 1].rrset.type == changes[i].rrset.type;
        const std::size_t n = pair ? 2 : 1;
        std::size_t r = 0;
        std::size_t c = 0;
        for (std::size_t k = i; k < i + n; ++k) {
            r += changes[k].rrset.values.size() * weight(changes[k].action);
            c += value_chars(changes[k].rrset) * weight(changes[k].action);
        }
        if (r > limits.max_records || c > limits.max_value_chars || n > limits.max_changes) {
            return core::make_error(core::ErrorKind::invalid_input,
                                    "route53: the TXT set " + changes[i].rrset.name +
                                        " alone exceeds Route53's limits for one change batch");
        }
        if (batches.empty() || batches.back().size() + n > limits.max_changes || records + r > limits.max_records ||
            chars + c > limits.max_value_chars) {
            batches.emplace_back();
            records = 0;
            chars = 0;
        }
        batches.back().insert(batches.back().end(), changes.begin() + static_cast<long>(i),
                              changes.begin() + static_cast<long>(i + n));
        records += r;
        chars += c;
        i += n;
    }
    return batches;
}

std::string change_batch_xml(const std::vector<Change>& changes, std::string_view comment) {
    std::string out =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">"
        "<ChangeBatch>";
    if (!comment.empty()) {
        out += "<Comment>" + xml_escape(comment) + "</Comment>";
    }
    out += "<Changes>";
    for (const auto& change : changes) {
        out += "<Change><Action>";
        out += action_name(change.action);
        out += "</Action><ResourceRecordSet><Name>" + xml_escape(change.rrset.name) + "</Name><Type>" +
               xml_escape(change.rrset.type) + "</Type><TTL>" + std::to_string(change.rrset.ttl) +
               "</TTL><ResourceRecords>";
        for (const auto& v : change.rrset.values) {
            out += "<ResourceRecord><Value>" + xml_escape(v) + "</Value></ResourceRecord>";
        }
        out += "</ResourceRecords></ResourceRecordSet></Change>";
    }
    out += "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>";
    return out;
}

core::Result<ChangeInfo> parse_change_info(std::string_view xml) {
    TRY_ASSIGN(pugi::xml_document doc, load(xml, "change"));
    const auto root = doc.first_child();
    const auto info = root.child("ChangeInfo");
    if (!info) {
        return core::make_error(core::ErrorKind::protocol, "route53: the answer has no ChangeInfo");
    }
    ChangeInfo out;
    out.id = strip_prefix(text_of(info, "Id"), "/change/");
    out.status = text_of(info, "Status");
    if (out.id.empty() || out.status.empty()) {
        return core::make_error(core::ErrorKind::protocol, "route53: ChangeInfo without Id or Status");
    }
    return out;
}

}  // namespace dns::route53_wire
