// libFuzzer target: what the AWS client reads from AWS answers: the error
// bodies of the Query, REST-XML and JSON 1.1 protocols (aws/errors) and the
// Route53 responses the DNS provider parses (ListHostedZonesByName,
// ListResourceRecordSets, ChangeResourceRecordSets/GetChange).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "aws/errors.hpp"
#include "dns/route53_wire.hpp"
#include "fuzz_common.hpp"

namespace wire = dns::route53_wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    fuzz::touch(aws::parse_xml_error(text).code);
    fuzz::touch(aws::parse_json_error(text, "").message);
    // The header form "Code:http://internal.amazon.com/..." from the first line.
    const std::string_view header = text.substr(0, text.find('\n'));
    fuzz::touch(aws::parse_json_error(text, header).code);

    for (auto protocol : {aws::Protocol::query, aws::Protocol::rest_xml, aws::Protocol::json}) {
        for (long status : {400L, 403L, 500L, 503L}) {
            core::http::Response response;
            response.status = status;
            response.headers = {{"x-amzn-requestid", "req-1"}, {"retry-after", "1"}};
            response.body = std::string(text);
            fuzz::touch(aws::parse_error(protocol, response, "route53", "ChangeResourceRecordSets").message);
        }
    }

    if (auto page = wire::parse_hosted_zones(text)) {
        for (const auto& zone : page->zones) {
            fuzz::touch(zone.id + zone.name);
        }
        for (auto visibility : {dns::ZoneVisibility::prefer_public, dns::ZoneVisibility::prefer_private}) {
            if (auto zone = wire::pick_zone("_acme-challenge.www.example.com.", page->zones, visibility)) {
                fuzz::touch(zone->id);
            }
        }
    }
    if (auto set = wire::parse_record_set(text, "_acme-challenge.example.com.", "TXT")) {
        if (*set) {
            for (const auto& value : (*set)->values) {
                fuzz::touch(value);
            }
            // What cleanup sends back must stay a well-formed request body.
            fuzz::touch(wire::change_batch_xml({wire::Change{wire::Action::upsert, **set}}, "fuzz"));
        }
    }
    if (auto change = wire::parse_change_info(text)) {
        fuzz::touch(change->id + change->status);
    }
    fuzz::touch(wire::decode_name(text));
    fuzz::touch(wire::quote_txt(text));
    return 0;
}
