// The official AWS SigV4 test suite (aws-c-auth's copy of aws4_testsuite, see
// $SHARED_DIR/testdata/aws-sigv4/SOURCE.md): every case folder, header and
// query signing, canonical request, string to sign and signature compared
// byte for byte.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aws/credentials.hpp"
#include "aws/sigv4.hpp"
#include "core/env.hpp"
#include "core/http.hpp"

namespace fs = std::filesystem;
using namespace aws::sigv4;

namespace {

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    // The harness strips any '\r'; so do we.
    text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
    return text;
}

// request.txt: request line, "Name:value" headers (leading whitespace
// continues the previous one), blank line, body to end of file.
Request parse_request(const std::string& text) {
    Request request;
    std::size_t pos = text.find('\n');
    const std::string first = text.substr(0, pos);
    const std::size_t method_end = first.find(' ');
    const std::size_t version = first.rfind(" HTTP/");
    request.method = first.substr(0, method_end);
    const std::string target = first.substr(method_end + 1, version - method_end - 1);
    const std::size_t question = target.find('?');
    request.path = target.substr(0, question);
    request.query = question == std::string::npos ? "" : target.substr(question + 1);
    pos = pos == std::string::npos ? text.size() : pos + 1;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        const bool last = end == std::string::npos;
        if (last) {
            end = text.size();
        }
        const std::string line = text.substr(pos, end - pos);
        pos = last ? text.size() : end + 1;
        if (line.empty()) {
            request.body = text.substr(pos);
            break;
        }
        if ((line.front() == ' ' || line.front() == '\t') && !request.headers.empty()) {
            request.headers.back().second += "\n" + line;
            continue;
        }
        const std::size_t colon = line.find(':');
        request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
    return request;
}

}  // namespace

TEST(AwsSigv4, OfficialSuiteEveryCase) {
    const auto shared = core::env("SHARED_DIR");
    ASSERT_TRUE(shared.has_value()) << "SHARED_DIR is not set (CTest sets it)";
    const fs::path root = fs::path(*shared) / "testdata" / "aws-sigv4" / "v4";
    ASSERT_TRUE(fs::is_directory(root)) << root;

    std::vector<fs::path> cases;
    for (const auto& entry : fs::directory_iterator(root)) {
        if (entry.is_directory()) {
            cases.push_back(entry.path());
        }
    }
    std::sort(cases.begin(), cases.end());
    ASSERT_FALSE(cases.empty());

    int passed = 0;
    for (const fs::path& dir : cases) {
        SCOPED_TRACE(dir.filename().string());
        const Request request = parse_request(read_file(dir / "request.txt"));
        SigningParams params;
        params.access_key_id = "AKIDEXAMPLE";
        params.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        params.region = "us-east-1";
        params.service = "service";
        bool sign_body = false;
        if (fs::exists(dir / "context.json")) {
            const auto context = nlohmann::json::parse(read_file(dir / "context.json"));
            const auto& credentials = context.at("credentials");
            params.access_key_id = credentials.at("access_key_id").get<std::string>();
            params.secret_access_key = credentials.at("secret_access_key").get<std::string>();
            params.session_token = credentials.value("token", "");
            params.region = context.at("region").get<std::string>();
            params.service = context.at("service").get<std::string>();
            params.normalization =
                context.value("normalize", true) ? PathNormalization::normalize : PathNormalization::keep;
            params.token_mode = context.value("omit_session_token", false) ? SessionTokenMode::add_after_signing
                                                                           : SessionTokenMode::sign;
            sign_body = context.value("sign_body", false);
            auto when = aws::parse_iso8601(context.at("timestamp").get<std::string>());
            ASSERT_TRUE(when.ok());
            params.time = *when;
        }
        const int failures_before =
            ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();

        // Header signing.
        SigningParams header_params = params;
        header_params.content_hash_header = sign_body ? ContentHashHeader::add : ContentHashHeader::omit;
        const Signature signature = sign(request, header_params);
        EXPECT_EQ(signature.canonical_request, read_file(dir / "header-canonical-request.txt"));
        EXPECT_EQ(signature.string_to_sign, read_file(dir / "header-string-to-sign.txt"));
        EXPECT_EQ(signature.signature, read_file(dir / "header-signature.txt"));
        EXPECT_NE(read_file(dir / "header-signed-request.txt").find("Authorization:" + signature.authorization),
                  std::string::npos)
            << signature.authorization;

        // Query (presigned URL) signing.
        const Presigned presigned = presign(request, params, std::chrono::seconds(3600));
        EXPECT_EQ(presigned.canonical_request, read_file(dir / "query-canonical-request.txt"));
        EXPECT_EQ(presigned.string_to_sign, read_file(dir / "query-string-to-sign.txt"));
        EXPECT_EQ(presigned.signature, read_file(dir / "query-signature.txt"));

        const int failures_after =
            ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
        if (failures_after == failures_before) {
            ++passed;
        }
    }
    std::cout << "SigV4 suite: " << cases.size() << " cases, " << passed << " passed (header and query signing each)"
              << std::endl;
    RecordProperty("cases", static_cast<int>(cases.size()));
    RecordProperty("passed", passed);
    EXPECT_EQ(passed, static_cast<int>(cases.size()));
}

TEST(AwsSigv4, pieces) {
    // SigV4's URI encoding is core::http::url_encode.
    EXPECT_EQ(core::http::url_encode("a b/~ሴ", true), "a%20b/~%E1%88%B4");
    EXPECT_EQ(core::http::url_encode("a/b", false), "a%2Fb");
    EXPECT_EQ(uri_decode("%E1%88%B4+%zz%4"), "\xE1\x88\xB4+%zz%4");
    EXPECT_EQ(remove_dot_segments("//example//"), "/example/");
    EXPECT_EQ(remove_dot_segments("/example/.."), "/");
    EXPECT_EQ(remove_dot_segments("/./example"), "/example");
    EXPECT_EQ(remove_dot_segments(""), "/");
    EXPECT_EQ(canonical_uri("/a%20b", PathNormalization::normalize, PathEncoding::encode), "/a%2520b");
    EXPECT_EQ(canonical_uri("/a%20b", PathNormalization::normalize, PathEncoding::as_is), "/a%20b");
    EXPECT_EQ(canonical_query("b=2&a=&a=1&c"), "a=&a=1&b=2&c=");
    EXPECT_EQ(canonical_query("%e1%88%b4=x&%7E=%2b"), "%E1%88%B4=x&~=%2B");
    EXPECT_EQ(canonical_query(""), "");
    EXPECT_EQ(trim_all("  a \t  b  c  "), "a b c");
}
