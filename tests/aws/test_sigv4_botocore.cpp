// Differential test: botocore_sign.py generates seeded random requests and
// signs them with botocore.auth.SigV4Auth (Debian's python3-botocore, a signer
// nobody here wrote); we sign the same on-the-wire inputs and require the same
// canonical request, string to sign, signature and Authorization header.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aws/credentials.hpp"
#include "aws/sigv4.hpp"
#include "core/base64.hpp"
#include "core/c_handle.hpp"
#include "fakeaws_fixture.hpp"

using namespace aws::sigv4;

namespace {

constexpr int k_request_count = 400;

std::string run(const std::string& command, int& status) {
    core::CHandle<FILE, pclose> pipe(popen(command.c_str(), "r"));
    std::string out;
    if (!pipe) {
        status = -1;
        return out;
    }
    std::array<char, 65536> buffer{};
    std::size_t n = 0;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) {
        out.append(buffer.data(), n);
    }
    status = pclose(pipe.release());
    return out;
}

std::string lower(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return text;
}

// What botocore sends as Host when the request has none (_host_from_url):
// lower-cased host, ":port" unless it is the scheme's default.
std::string host_from_authority(const std::string& scheme, const std::string& authority) {
    std::string host = lower(authority);
    const std::string default_port = scheme == "https" ? ":443" : ":80";
    if (host.size() > default_port.size() && host.ends_with(default_port)) {
        host.resize(host.size() - default_port.size());
    }
    return host;
}

// "20150830T123600Z" -> time_point.
std::chrono::system_clock::time_point parse_amz_date(const std::string& text) {
    const std::string iso = text.substr(0, 4) + "-" + text.substr(4, 2) + "-" + text.substr(6, 2) + "T" +
                            text.substr(9, 2) + ":" + text.substr(11, 2) + ":" + text.substr(13, 2) + "Z";
    return aws::parse_iso8601(iso).value();
}

}  // namespace

TEST(AwsSigv4, IdenticalToBotocore) {
    const std::string python = aws_test::python();
    const std::string source_dir = aws_test::source_dir();
    int status = 0;
    const std::string output = run(python + " " + source_dir + "/tests/aws/botocore_sign.py --count " +
                                       std::to_string(k_request_count) + " --seed 20261123",
                                   status);
    ASSERT_EQ(status, 0) << "botocore_sign.py failed (is python3-botocore installed for " << python << "?)";

    int total = 0;
    int identical = 0;
    std::size_t pos = 0;
    while (pos < output.size()) {
        std::size_t end = output.find('\n', pos);
        if (end == std::string::npos) {
            end = output.size();
        }
        const std::string line = output.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty()) {
            continue;
        }
        const auto c = nlohmann::json::parse(line);
        ++total;

        // Split the wire URL: scheme://authority/path?query
        const std::string url = c.at("url").get<std::string>();
        const std::size_t scheme_end = url.find("://");
        const std::string scheme = url.substr(0, scheme_end);
        const std::size_t authority_start = scheme_end + 3;
        std::size_t path_start = url.find_first_of("/?", authority_start);
        if (path_start == std::string::npos) {
            path_start = url.size();
        }
        const std::string authority = url.substr(authority_start, path_start - authority_start);
        const std::string rest = url.substr(path_start);
        const std::size_t question = rest.find('?');

        Request request;
        request.method = c.at("method").get<std::string>();
        request.path = rest.substr(0, question);
        request.query = question == std::string::npos ? "" : rest.substr(question + 1);
        request.body = core::base64_decode(c.at("body").get<std::string>()).value();
        bool has_host = false;
        for (const auto& header : c.at("headers")) {
            const std::string name = header.at(0).get<std::string>();
            has_host = has_host || lower(name) == "host";
            request.headers.emplace_back(name, header.at(1).get<std::string>());
        }
        if (!has_host) {
            request.headers.emplace_back("Host", host_from_authority(scheme, authority));
        }

        SigningParams params;
        params.access_key_id = c.at("access_key").get<std::string>();
        params.secret_access_key = c.at("secret_key").get<std::string>();
        params.session_token = c.at("token").get<std::string>();
        params.region = c.at("region").get<std::string>();
        params.service = c.at("service").get<std::string>();
        params.time = parse_amz_date(c.at("timestamp").get<std::string>());

        const Signature signature = sign(request, params);
        const bool same = signature.canonical_request == c.at("canonical_request").get<std::string>() &&
                          signature.string_to_sign == c.at("string_to_sign").get<std::string>() &&
                          signature.signature == c.at("signature").get<std::string>() &&
                          signature.authorization == c.at("authorization").get<std::string>();
        if (same) {
            ++identical;
        } else {
            ADD_FAILURE() << "request " << c.at("id") << " differs: " << url << "\n--- botocore canonical request\n"
                          << c.at("canonical_request").get<std::string>() << "\n--- ours\n"
                          << signature.canonical_request << "\n--- botocore authorization\n"
                          << c.at("authorization").get<std::string>() << "\n--- ours\n"
                          << signature.authorization;
        }
    }
    std::cout << "botocore differential: " << total << " requests, " << identical << " identical" << std::endl;
    RecordProperty("requests", total);
    RecordProperty("identical", identical);
    EXPECT_EQ(total, k_request_count);
    EXPECT_EQ(identical, total);
}
