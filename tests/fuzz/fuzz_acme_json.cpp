// libFuzzer target: everything the ACME client reads from a CA's answers
// (RFC 8555): the directory (§7.1.1), problem documents (§6.7, RFC 7807),
// orders (§7.1.3), authorizations (§7.1.4), renewalInfo (RFC 9773 §4.2),
// Link and Retry-After headers. Each must turn any bytes into a value or one
// error, never crash, throw or hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "acme/ari.hpp"
#include "acme/order.hpp"
#include "acme/problem.hpp"
#include "acme/transport.hpp"
#include "core/retry.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto dir = acme::Directory::parse(text, "https://ca.test/dir")) {
        fuzz::touch(dir->new_order);
        fuzz::touch(dir->renewal_info);
        for (const auto& [name, description] : dir->profiles) {
            fuzz::touch(name + description);
        }
    }

    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    fuzz::touch(acme::problem_to_error(doc, 400).message);
    fuzz::touch(acme::problem_code(text));

    for (long status : {400L, 403L, 404L, 429L, 503L}) {
        core::http::Response response;
        response.status = status;
        response.headers = {{"content-type", "application/problem+json"}, {"retry-after", "3"}};
        response.body = std::string(text);
        fuzz::touch(acme::response_to_error(response).message);
    }

    if (auto order = acme::parse_order(text, "https://ca.test/order/1")) {
        fuzz::touch(acme::to_string(order->status));
        if (order->error) {
            fuzz::touch(order->error->message);
        }
    }
    if (auto authz = acme::parse_authorization(text, "https://ca.test/authz/1")) {
        fuzz::touch(authz->name());
        if (auto error = authz->error()) {
            fuzz::touch(error->message);
        }
        fuzz::touch(authz->challenge("dns-01") != nullptr ? "dns-01" : "");
    }

    if (auto info = acme::parse_renewal_info(text, text.substr(0, 32))) {
        fuzz::touch(info->explanation_url);
    }

    for (const auto& link : acme::parse_links({std::string(text)}, "alternate")) {
        fuzz::touch(link);
    }
    fuzz::touch(core::parse_retry_after(text).value_or(std::chrono::milliseconds{0}).count());
    return 0;
}
