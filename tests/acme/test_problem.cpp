// Problem documents (RFC 7807, RFC 8555 §6.7) -> core::Error.
#include <string>

#include <gtest/gtest.h>

#include "acme/problem.hpp"

namespace {

using nlohmann::json;

core::http::Response problem_response(long status, const json& body, const std::string& retry_after = "") {
    core::http::Response r;
    r.status = status;
    r.headers = {{"content-type", "application/problem+json"}};
    if (!retry_after.empty()) {
        r.headers.emplace_back("retry-after", retry_after);
    }
    r.body = body.dump();
    return r;
}

struct Case {
    const char* type;
    core::ErrorKind kind;
    bool retryable;
};

class ProblemTypes : public ::testing::TestWithParam<Case> {};

TEST_P(ProblemTypes, CodeKindAndMessage) {
    const Case c = GetParam();
    const json body = {{"type", std::string("urn:ietf:params:acme:error:") + c.type}, {"detail", "something"}};
    const core::Error e = acme::response_to_error(problem_response(400, body));
    EXPECT_EQ(e.code, c.type);
    EXPECT_EQ(e.kind, c.kind) << c.type;
    EXPECT_EQ(e.retryable, c.retryable) << c.type;
    EXPECT_EQ(e.http_status, 400);
    EXPECT_EQ(e.message, std::string(c.type) + ": something");
}

INSTANTIATE_TEST_SUITE_P(Rfc8555, ProblemTypes,
                         ::testing::Values(Case{"badNonce", core::ErrorKind::protocol, true},
                                           Case{"unauthorized", core::ErrorKind::auth, false},
                                           Case{"dns", core::ErrorKind::protocol, false},
                                           Case{"caa", core::ErrorKind::protocol, false},
                                           Case{"rejectedIdentifier", core::ErrorKind::invalid_input, false},
                                           Case{"alreadyReplaced", core::ErrorKind::conflict, false},
                                           Case{"malformed", core::ErrorKind::invalid_input, false},
                                           Case{"orderNotReady", core::ErrorKind::conflict, false},
                                           Case{"badSignatureAlgorithm", core::ErrorKind::invalid_input, false},
                                           Case{"externalAccountRequired", core::ErrorKind::auth, false},
                                           Case{"userActionRequired", core::ErrorKind::auth, false},
                                           Case{"accountDoesNotExist", core::ErrorKind::not_found, false},
                                           Case{"serverInternal", core::ErrorKind::protocol, true},
                                           Case{"rateLimited", core::ErrorKind::http, false}),
                         [](const ::testing::TestParamInfo<Case>& p) { return std::string(p.param.type); });

TEST(Problem, RateLimitedWithRetryAfter) {
    const json body = {{"type", "urn:ietf:params:acme:error:rateLimited"}, {"detail", "too many certificates"}};
    const core::Error e = acme::response_to_error(problem_response(429, body, "120"));
    EXPECT_EQ(e.code, "rateLimited");
    EXPECT_EQ(e.retry_after, std::chrono::milliseconds{120'000});
    EXPECT_TRUE(e.retryable);
    EXPECT_EQ(e.http_status, 429);
}

TEST(Problem, SubproblemsNameTheirIdentifiers) {
    const json body = {{"type", "urn:ietf:params:acme:error:malformed"},
                       {"detail", "Some of the identifiers requested were rejected"},
                       {"subproblems", json::array({{{"type", "urn:ietf:params:acme:error:malformed"},
                                                     {"detail", "Invalid underscore in DNS name \"_example.org\""},
                                                     {"identifier", {{"type", "dns"}, {"value", "_example.org"}}}},
                                                    {{"type", "urn:ietf:params:acme:error:rejectedIdentifier"},
                                                     {"detail", "This CA will not issue for \"example.net\""},
                                                     {"identifier", {{"type", "dns"}, {"value", "example.net"}}}}})}};
    const core::Error e = acme::response_to_error(problem_response(403, body));
    EXPECT_EQ(e.code, "malformed");
    EXPECT_EQ(e.message,
              "malformed: Some of the identifiers requested were rejected; _example.org: malformed: Invalid "
              "underscore in DNS name \"_example.org\"; example.net: rejectedIdentifier: This CA will not issue for "
              "\"example.net\"");
}

TEST(Problem, NonAcmeTypeAndNonJsonBodies) {
    const json body = {{"type", "about:blank"}, {"title", "Not Found"}};
    const core::Error e = acme::response_to_error(problem_response(404, body));
    EXPECT_EQ(e.code, "about:blank");
    EXPECT_EQ(e.kind, core::ErrorKind::not_found);

    core::http::Response html;
    html.status = 502;
    html.body = "<html>bad gateway</html>";
    const core::Error g = acme::response_to_error(html);
    EXPECT_EQ(g.kind, core::ErrorKind::http);
    EXPECT_TRUE(g.retryable);
    EXPECT_NE(g.message.find("HTTP 502"), std::string::npos);
}

TEST(Problem, CodeStripsUrn) {
    EXPECT_EQ(acme::problem_code("urn:ietf:params:acme:error:caa"), "caa");
    EXPECT_EQ(acme::problem_code("urn:other"), "urn:other");
}

}  // namespace
