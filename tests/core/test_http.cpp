// core::http::Client against a real loopback server (tests/core/http_test_server.py),
// plain and TLS, plus url_encode / parse_url.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/env.hpp"
#include "core/http.hpp"
#include "core/retry.hpp"
#include "elapsed.hpp"
#include "tests/core/throwaway_ca_commands.hpp"
#include "version.hpp"

namespace {

using namespace std::chrono_literals;
using core::ErrorKind;
using core::http::Client;
using core::http::ClientOptions;
using core::http::Request;
using Steady = std::chrono::steady_clock;

using core::env_or;

std::string server_script() {
    // CTest sets SOURCE_DIR; fall back to this file's folder when run by hand.
    if (const std::string source_dir = core::env_or("SOURCE_DIR"); !source_dir.empty()) {
        return source_dir + "/tests/core/http_test_server.py";
    }
    return (std::filesystem::path(__FILE__).parent_path() / "http_test_server.py").string();
}

// Runs a command to completion with its output discarded; returns the exit status.
int run(const std::vector<std::string>& argv) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int devnull = ::open("/dev/null", O_WRONLY);
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The Python server as a child process: port read from its stdout, stopped by
// closing its stdin and SIGTERM.
class ServerProcess {
public:
    explicit ServerProcess(const std::vector<std::string>& extra_args = {}) {
        int in_pipe[2];
        int out_pipe[2];
        if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
            return;
        }
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ == 0) {
            // Dies with the test even if the test crashes.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) {
                ::_exit(1);
            }
            ::dup2(in_pipe[0], 0);
            ::dup2(out_pipe[1], 1);
            std::vector<std::string> argv = {env_or("PYTHON", "/usr/bin/python3"), server_script()};
            argv.insert(argv.end(), extra_args.begin(), extra_args.end());
            std::vector<char*> args;
            for (auto& a : argv) {
                args.push_back(a.data());
            }
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(in_pipe[0]);
        ::close(out_pipe[1]);
        stdin_fd_ = in_pipe[1];
        stdout_fd_ = out_pipe[0];
        port_ = read_port(10s);
    }

    ~ServerProcess() {
        if (stdin_fd_ >= 0) {
            ::close(stdin_fd_);
        }
        if (stdout_fd_ >= 0) {
            ::close(stdout_fd_);
        }
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    int port() const { return port_; }

private:
    // Reads one line (the port) with a bound, so a broken server fails fast.
    int read_port(std::chrono::milliseconds limit) {
        std::string line;
        const auto deadline = Steady::now() + limit;
        while (line.find('\n') == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
            if (left.count() <= 0) {
                return 0;
            }
            pollfd pfd{stdout_fd_, POLLIN, 0};
            if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            char buffer[64];
            const ssize_t n = ::read(stdout_fd_, buffer, sizeof buffer);
            if (n <= 0) {
                return 0;
            }
            line.append(buffer, static_cast<std::size_t>(n));
        }
        return std::atoi(line.c_str());
    }

    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    int port_ = 0;
};

class Http : public ::testing::Test {
protected:
    void SetUp() override {
        core::reset_cancel();
        server_ = std::make_unique<ServerProcess>();
        ASSERT_GT(server_->port(), 0) << "test server did not start: " << server_script();
        base_ = "http://127.0.0.1:" + std::to_string(server_->port());
    }
    void TearDown() override {
        server_.reset();
        core::reset_cancel();
    }

    static ClientOptions quick_options() {
        ClientOptions options;
        options.connect_timeout = 2s;
        options.total_timeout = 10s;
        return options;
    }

    Request get(const std::string& path) const {
        Request request;
        request.url = base_ + path;
        return request;
    }

    std::unique_ptr<ServerProcess> server_;
    std::string base_;
};

std::string from_hex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    return out;
}

// Header names as the server received them, lower-cased.
std::vector<std::pair<std::string, std::string>> received_headers(const nlohmann::json& echo) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& pair : echo.at("headers")) {
        std::string name = pair.at(0).get<std::string>();
        for (auto& c : name) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        out.emplace_back(name, pair.at(1).get<std::string>());
    }
    return out;
}

TEST_F(Http, BinaryBodyRoundTripsWithHeadersAndNoExpect) {
    Client client(quick_options());
    std::string body;
    for (int round = 0; round < 8; ++round) {
        for (int b = 0; b < 256; ++b) {
            body += static_cast<char>(b);
        }
    }
    Request request = get("/echo?a=1&b=x%2Fy");
    request.method = "POST";
    request.body = body;
    request.headers = {{"X-Custom-Header", "Value 1"}, {"Content-Type", "application/octet-stream"}};
    auto response = client.send(request);
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(response->status, 200);
    const auto echo = nlohmann::json::parse(response->body);
    EXPECT_EQ(echo.at("method"), "POST");
    EXPECT_EQ(echo.at("query"), "a=1&b=x%2Fy");
    EXPECT_EQ(from_hex(echo.at("body_hex").get<std::string>()), body);
    const auto headers = received_headers(echo);
    const auto has = [&headers](const std::string& name, const std::string& value) {
        for (const auto& [n, v] : headers) {
            if (n == name && v == value) {
                return true;
            }
        }
        return false;
    };
    EXPECT_TRUE(has("x-custom-header", "Value 1"));
    EXPECT_TRUE(has("content-type", "application/octet-stream"));
    EXPECT_TRUE(has("content-length", std::to_string(body.size())));
    EXPECT_TRUE(has("user-agent", "renewer/" RENEWER_VERSION));
    for (const auto& [name, value] : headers) {
        EXPECT_NE(name, "expect") << value;
    }
}

TEST_F(Http, LargeBodyIsSentWithoutExpectContinueAndWithoutFormContentType) {
    Client client(quick_options());
    Request request = get("/echo");
    request.method = "PUT";
    request.body.assign(std::size_t{2} * 1024 * 1024, 'z');
    request.body[12345] = '\0';
    auto response = client.send(request);
    ASSERT_TRUE(response.ok()) << response.error().message;
    const auto echo = nlohmann::json::parse(response->body);
    EXPECT_EQ(echo.at("method"), "PUT");
    EXPECT_EQ(from_hex(echo.at("body_hex").get<std::string>()), request.body);
    for (const auto& [name, value] : received_headers(echo)) {
        EXPECT_NE(name, "expect") << value;
        EXPECT_NE(name, "content-type") << "curl's default form type leaked: " << value;
    }
}

TEST_F(Http, OtherMethodsAreSentAsGiven) {
    Client client(quick_options());
    for (const std::string method : {"DELETE", "PATCH", "GET"}) {
        Request request = get("/echo");
        request.method = method;
        if (method == "PATCH") {
            request.body = "{}";
        }
        auto response = client.send(request);
        ASSERT_TRUE(response.ok()) << method << ": " << response.error().message;
        EXPECT_EQ(nlohmann::json::parse(response->body).at("method"), method);
    }
    Request head = get("/echo");
    head.method = "HEAD";
    auto response = client.send(head);
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(response->status, 200);
    EXPECT_TRUE(response->body.empty());
    // The connection is still usable after a HEAD.
    auto after = client.send(get("/echo"));
    ASSERT_TRUE(after.ok()) << after.error().message;
    EXPECT_EQ(after->status, 200);
}

TEST_F(Http, KeepAliveReusesOneConnection) {
    Client client(quick_options());
    for (int i = 0; i < 3; ++i) {
        auto response = client.send(get("/echo"));
        ASSERT_TRUE(response.ok()) << response.error().message;
        EXPECT_EQ(response->status, 200);
    }
    // A 404 does not close the connection either.
    auto missing = client.send(get("/nope"));
    ASSERT_TRUE(missing.ok()) << missing.error().message;
    auto count = client.send(get("/connections"));
    ASSERT_TRUE(count.ok()) << count.error().message;
    EXPECT_EQ(nlohmann::json::parse(count->body).at("connections"), 1);
}

TEST_F(Http, MovedClientKeepsItsConnection) {
    Client first(quick_options());
    ASSERT_TRUE(first.send(get("/echo")).ok());
    Client second(std::move(first));
    auto count = second.send(get("/connections"));
    ASSERT_TRUE(count.ok()) << count.error().message;
    EXPECT_EQ(nlohmann::json::parse(count->body).at("connections"), 1);
}

TEST_F(Http, StatusCodesAreResponsesNotErrors) {
    Client client(quick_options());
    for (const long status : {204L, 404L, 500L, 503L}) {
        auto response = client.send(get("/status/" + std::to_string(status)));
        ASSERT_TRUE(response.ok()) << status << ": " << response.error().message;
        EXPECT_EQ(response->status, status);
        if (status == 204) {
            EXPECT_TRUE(response->body.empty());
        } else {
            EXPECT_EQ(response->body, "status " + std::to_string(status));
        }
    }
}

TEST_F(Http, RedirectsAreNotFollowed) {
    Client client(quick_options());
    auto response = client.send(get("/redirect"));
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(response->status, 302);
    EXPECT_EQ(response->header("location"), "/echo");
    EXPECT_EQ(response->body, "moved");
}

TEST_F(Http, HeaderNamesAreCaseInsensitive) {
    Client client(quick_options());
    auto response = client.send(get("/headers"));
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(response->header("x-mixed-case"), "Value");
    EXPECT_EQ(response->header("X-MIXED-CASE"), "Value");
    EXPECT_EQ(response->header("Content-Language"), "en");
    EXPECT_EQ(response->header("x-absent"), "");
    const auto links = response->headers_named("LINK");
    ASSERT_EQ(links.size(), 2U);
    EXPECT_EQ(links[0], "<a>; rel=up");
    EXPECT_EQ(links[1], "<b>; rel=alternate");
    for (const auto& [name, value] : response->headers) {
        for (const char c : name) {
            EXPECT_FALSE(c >= 'A' && c <= 'Z') << name << " is not lower-cased";
        }
    }
}

TEST_F(Http, OnlyTheFinalResponseHeadersAreKept) {
    Client client(quick_options());
    auto response = client.send(get("/interim"));
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "final");
    EXPECT_EQ(response->header("x-final"), "1");
    EXPECT_EQ(response->header("x-interim"), "");
    EXPECT_TRUE(response->headers_named("link").empty());
}

TEST_F(Http, RetryAfterHeaderIsUsable) {
    Client client(quick_options());
    auto response = client.send(get("/retry-after"));
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(response->status, 503);
    const auto wait = core::parse_retry_after(response->header("Retry-After"));
    ASSERT_TRUE(wait.has_value());
    EXPECT_EQ(*wait, 3000ms);
}

TEST_F(Http, TotalTimeoutIsKindTimeoutAndPrompt) {
    Client client(quick_options());
    Request request = get("/slow?ms=5000");
    request.timeout = 500ms;
    const auto start = Steady::now();
    auto response = client.send(request);
    const long took = elapsed_ms(start);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().kind, ErrorKind::timeout) << response.error().message;
    EXPECT_TRUE(response.error().retryable);
    EXPECT_GE(took, 450);
    EXPECT_LT(took, 1500);
    // The client recovers: the next request on the same Client works.
    auto next = client.send(get("/echo"));
    ASSERT_TRUE(next.ok()) << next.error().message;
    EXPECT_EQ(next->status, 200);
}

TEST_F(Http, CancelAbortsATransferInProgress) {
    Client client(quick_options());
    std::thread canceller([] {
        std::this_thread::sleep_for(300ms);  // not synchronisation: the request just needs to be in flight
        core::cancel();
    });
    const auto start = Steady::now();
    auto response = client.send(get("/slow?ms=8000"));
    const long took = elapsed_ms(start);
    canceller.join();
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().kind, ErrorKind::cancelled) << response.error().message;
    EXPECT_LT(took, 3000);
    // And a cancelled run sends nothing more.
    auto after = client.send(get("/echo"));
    ASSERT_FALSE(after.ok());
    EXPECT_EQ(after.error().kind, ErrorKind::cancelled);
}

// A port that is bound but not listening answers SYN with RST.
class ClosedPort {
public:
    ClosedPort() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
    }
    ~ClosedPort() { ::close(fd_); }
    ClosedPort(const ClosedPort&) = delete;
    ClosedPort& operator=(const ClosedPort&) = delete;
    int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
};

TEST(HttpErrors, RefusedConnectionIsRetryableNetworkError) {
    ClosedPort closed;
    ASSERT_GT(closed.port(), 0);
    ClientOptions options;
    options.connect_timeout = 2s;
    Client client(options);
    Request request;
    request.url = "http://127.0.0.1:" + std::to_string(closed.port()) + "/x?secret=1";
    const auto start = Steady::now();
    auto response = client.send(request);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().kind, ErrorKind::network) << response.error().message;
    EXPECT_TRUE(response.error().retryable);
    EXPECT_LT(elapsed_ms(start), 2000);
    EXPECT_NE(response.error().message.find("127.0.0.1"), std::string::npos) << response.error().message;
    EXPECT_EQ(response.error().message.find("secret"), std::string::npos) << "query leaked into the message";
}

// A listener whose accept queue is full drops further SYNs, so connecting hangs
// until the connect timeout: a deterministic connect timeout on loopback.
TEST(HttpErrors, ConnectTimeoutIsKindTimeout) {
    const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 0), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        fillers.push_back(fd);
    }
    ClientOptions options;
    options.connect_timeout = 400ms;
    options.total_timeout = 10s;
    Client client(options);
    Request request;
    request.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
    const auto start = Steady::now();
    auto response = client.send(request);
    const long took = elapsed_ms(start);
    for (const int fd : fillers) {
        ::close(fd);
    }
    ::close(listener);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().kind, ErrorKind::timeout) << response.error().message;
    EXPECT_TRUE(response.error().retryable);
    EXPECT_GE(took, 350);
    EXPECT_LT(took, 1500);
}

TEST(HttpErrors, BadRequestsAreInvalidInput) {
    Client client;
    Request request;
    request.url = "ftp://127.0.0.1/file";
    auto scheme = client.send(request);
    ASSERT_FALSE(scheme.ok());
    EXPECT_EQ(scheme.error().kind, ErrorKind::invalid_input);

    request.url = "http://127.0.0.1:1/";
    request.headers = {{"X-Injected", "a\r\nHost: evil"}};
    auto injected = client.send(request);
    ASSERT_FALSE(injected.ok());
    EXPECT_EQ(injected.error().kind, ErrorKind::invalid_input);

    request.url = "not a url";
    request.headers.clear();
    auto malformed = client.send(request);
    ASSERT_FALSE(malformed.ok());
    EXPECT_EQ(malformed.error().kind, ErrorKind::invalid_input);
}

// --- TLS ---

class Https : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        char pattern[] = "/tmp/renewer-http-tls-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        const std::string ext = dir_ + "/server.ext";
        std::ofstream(ext) << "basicConstraints=CA:FALSE\n"
                              "keyUsage=critical,digitalSignature\n"
                              "extendedKeyUsage=serverAuth\n"
                              "subjectAltName=IP:127.0.0.1\n";
        const std::string d = dir_ + "/";
        const std::vector<test_tls::Command> commands = {
            test_tls::root_command("openssl", d + "ca.key", d + "ca.pem", "/CN=renewer test CA"),
            // A CA that signed nothing here: trusting it alone must not verify the server.
            test_tls::root_command("openssl", d + "other-ca.key", d + "other-ca.pem", "/CN=renewer other test CA"),
            test_tls::server_request_command("openssl", d + "server.key", d + "server.csr"),
            test_tls::sign_command("openssl", d + "server.csr", d + "ca.pem", d + "ca.key", d + "server.pem", ext),
        };
        for (const auto& command : commands) {
            ASSERT_EQ(run(command), 0) << "openssl failed: " << command[1];
        }
    }
    static void TearDownTestSuite() {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    void SetUp() override {
        core::reset_cancel();
        server_ = std::make_unique<ServerProcess>(
            std::vector<std::string>{"--cert", dir_ + "/server.pem", "--key", dir_ + "/server.key"});
        ASSERT_GT(server_->port(), 0) << "TLS test server did not start";
    }
    void TearDown() override { server_.reset(); }

    std::string url(const std::string& host, const std::string& path) const {
        return "https://" + host + ":" + std::to_string(server_->port()) + path;
    }

    static ClientOptions with_bundle(const std::string& bundle) {
        ClientOptions options;
        options.connect_timeout = 2s;
        options.total_timeout = 10s;
        options.ca_bundle = bundle;
        return options;
    }

    static inline std::string dir_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(Https, TrustedBundleSucceedsAndReusesTheConnection) {
    Client client(with_bundle(dir_ + "/ca.pem"));
    for (int i = 0; i < 3; ++i) {
        Request request;
        request.url = url("127.0.0.1", "/echo");
        auto response = client.send(request);
        ASSERT_TRUE(response.ok()) << response.error().message;
        EXPECT_EQ(response->status, 200);
    }
    Request count;
    count.url = url("127.0.0.1", "/connections");
    auto response = client.send(count);
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(nlohmann::json::parse(response->body).at("connections"), 1);
}

TEST_F(Https, WithoutTheBundleTheServerIsRejected) {
    Client client(with_bundle(""));
    Request request;
    request.url = url("127.0.0.1", "/echo");
    auto response = client.send(request);
    ASSERT_FALSE(response.ok()) << "an untrusted server was accepted";
    EXPECT_EQ(response.error().kind, ErrorKind::network);
    EXPECT_FALSE(response.error().retryable);
    EXPECT_NE(response.error().message.find("TLS"), std::string::npos) << response.error().message;
    EXPECT_NE(response.error().message.find("127.0.0.1"), std::string::npos) << response.error().message;
    EXPECT_NE(response.error().message.find("certificate"), std::string::npos) << response.error().message;
}

TEST_F(Https, HostNameIsVerified) {
    // Trusted CA, but the certificate names only 127.0.0.1.
    Client client(with_bundle(dir_ + "/ca.pem"));
    Request request;
    request.url = url("localhost", "/echo");
    auto response = client.send(request);
    ASSERT_FALSE(response.ok()) << "a certificate for another name was accepted";
    EXPECT_EQ(response.error().kind, ErrorKind::network) << response.error().message;
    EXPECT_FALSE(response.error().retryable);
    EXPECT_NE(response.error().message.find("localhost"), std::string::npos) << response.error().message;
}

// CPU time of the whole process so far, in ms.
double process_cpu_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

// What parsing the system's whole root bundle costs here (the least of three).
double system_bundle_parse_ms(const std::string& file) {
    double least = 1e9;
    for (int i = 0; i < 3; ++i) {
        const double start = process_cpu_ms();
        X509_STORE* store = X509_STORE_new();
        const bool loaded = store != nullptr && X509_STORE_load_file(store, file.c_str()) == 1;
        X509_STORE_free(store);
        if (!loaded) {
            return 0;
        }
        least = std::min(least, process_cpu_ms() - start);
    }
    return least;
}

// The system roots are looked up by subject hash in their folder, not parsed
// whole for every connection (core/http.cpp, system_roots): each new
// connection costs well under one parse of the bundle, each verifies, and a
// wrong CA still fails after them in the same process.
// Unsets SSL_CERT_FILE and SSL_CERT_DIR for a test (the system's default
// roots, whatever the caller's environment names), restoring them after.
class DefaultRootsEnvironment {
public:
    DefaultRootsEnvironment() {
        for (std::size_t i = 0; i < k_names.size(); ++i) {
            if (const char* value = std::getenv(k_names[i])) {
                saved_[i] = value;
            }
            ::unsetenv(k_names[i]);
        }
    }
    ~DefaultRootsEnvironment() {
        for (std::size_t i = 0; i < k_names.size(); ++i) {
            if (saved_[i]) {
                ::setenv(k_names[i], saved_[i]->c_str(), 1);
            }
        }
    }
    DefaultRootsEnvironment(const DefaultRootsEnvironment&) = delete;
    DefaultRootsEnvironment& operator=(const DefaultRootsEnvironment&) = delete;

private:
    static constexpr std::array<const char*, 2> k_names = {"SSL_CERT_FILE", "SSL_CERT_DIR"};
    std::array<std::optional<std::string>, 2> saved_;
};

TEST_F(Https, NewConnectionsVerifyWithoutParsingTheSystemBundle) {
    const DefaultRootsEnvironment default_roots;
    const std::string bundle = X509_get_default_cert_file();
    const double parse_ms = system_bundle_parse_ms(bundle);
    ASSERT_GT(parse_ms, 0) << "the system bundle " << bundle << " is missing or unreadable (install ca-certificates)";
    double least = 1e9;
    for (int i = 0; i < 3; ++i) {
        Client client(with_bundle(dir_ + "/ca.pem"));  // a fresh client: a new connection and TLS store
        Request request;
        request.url = url("127.0.0.1", "/echo");
        const double start = process_cpu_ms();
        auto response = client.send(request);
        least = std::min(least, process_cpu_ms() - start);
        ASSERT_TRUE(response.ok()) << response.error().message;
        EXPECT_EQ(response->status, 200);
    }
    EXPECT_LT(least, parse_ms / 2) << "a new connection cost " << least << " ms of CPU; parsing " << bundle << " costs "
                                   << parse_ms << " ms";
    Client wrong(with_bundle(dir_ + "/other-ca.pem"));
    Request request;
    request.url = url("127.0.0.1", "/echo");
    auto response = wrong.send(request);
    ASSERT_FALSE(response.ok()) << "a server signed by an untrusted CA was accepted";
    EXPECT_EQ(response.error().kind, ErrorKind::network) << response.error().message;
    EXPECT_NE(response.error().message.find("TLS"), std::string::npos) << response.error().message;
}

TEST_F(Https, MissingBundleFileIsInvalidInput) {
    Client client(with_bundle(dir_ + "/does-not-exist.pem"));
    Request request;
    request.url = url("127.0.0.1", "/echo");
    auto response = client.send(request);
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().kind, ErrorKind::invalid_input) << response.error().message;
}

// --- url_encode / parse_url ---

TEST(UrlEncode, KeepsUnreservedAndEncodesTheRest) {
    using core::http::url_encode;
    EXPECT_EQ(url_encode("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(url_encode("a b/c?d=e&f+g"), "a%20b%2Fc%3Fd%3De%26f%2Bg");
    EXPECT_EQ(url_encode("a b/c", true), "a%20b/c");
    EXPECT_EQ(url_encode("\xC3\xA9*"), "%C3%A9%2A");
    EXPECT_EQ(url_encode(std::string_view("\0", 1)), "%00");
    EXPECT_EQ(url_encode(""), "");
}

TEST(ParseUrl, Components) {
    using core::http::parse_url;
    auto a = parse_url("HTTPS://Example.com/dir/x%20y?q=1&r=%2F#frag");
    ASSERT_TRUE(a.ok()) << a.error().message;
    EXPECT_EQ(a->scheme, "https");
    EXPECT_EQ(a->host, "Example.com");
    EXPECT_EQ(a->port, 443);
    EXPECT_EQ(a->path, "/dir/x%20y");
    EXPECT_EQ(a->query, "q=1&r=%2F");

    auto b = parse_url("http://127.0.0.1:8080");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->port, 8080);
    EXPECT_EQ(b->path, "/");
    EXPECT_EQ(b->query, "");

    auto c = parse_url("http://[::1]:9000/p");
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->host, "::1");
    EXPECT_EQ(c->port, 9000);
    EXPECT_EQ(c->path, "/p");

    auto d = parse_url("https://[2001:db8::7]?x");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->host, "2001:db8::7");
    EXPECT_EQ(d->port, 443);
    EXPECT_EQ(d->path, "/");
    EXPECT_EQ(d->query, "x");

    auto e = parse_url("http://user:pw@host.example/");
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->host, "host.example");
    EXPECT_EQ(e->port, 80);
}

TEST(ParseUrl, Rejects) {
    using core::http::parse_url;
    for (const char* bad : {"", "example.com/x", "://x", "http://", "http://:80/", "http://h:0/", "http://h:65536/",
                            "http://h:8x/", "http://[::1/", "http://[::1]x/", "gopher://h/"}) {
        auto result = parse_url(bad);
        EXPECT_FALSE(result.ok()) << bad;
        if (!result.ok()) {
            EXPECT_EQ(result.error().kind, ErrorKind::invalid_input);
        }
    }
}

}  // namespace
