// Starts tests/fakeaws/server.py on free loopback ports for a C++ test and
// stops it afterwards; plus a scoped environment that keeps tests away from
// the host's AWS configuration and from real AWS.
//
//   auto fake = aws_test::FakeAws::start();          // ASSERT_TRUE(fake) ...
//   aws_test::AwsEnv env(fake->endpoint);             // AWS_ENDPOINT_URL=fake, no IMDS
//   fake->control("POST", "/_fake/faults", {{"action", "GetCallerIdentity"}, {"kind", "throttle"}, {"count", 2}});
//
// Header-only so any test target can include it (link renewer_core for HTTP).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/env.hpp"
#include "core/http.hpp"

#ifndef AWS_TEST_PYTHON
#define AWS_TEST_PYTHON "/usr/bin/python3"
#endif
#ifndef AWS_TEST_SOURCE_DIR
#define AWS_TEST_SOURCE_DIR "."
#endif

namespace aws_test {

using core::env_or;

// Debian's interpreter (python3-botocore, python3-dnslib): $PYTHON, else the build's.
inline std::string python() { return env_or("PYTHON", AWS_TEST_PYTHON); }

inline std::string source_dir() { return env_or("SOURCE_DIR", AWS_TEST_SOURCE_DIR); }

inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "renewer-aws-test-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Sets and unsets environment variables; restores every touched one on destruction.
class ScopedEnv {
public:
    ScopedEnv() = default;
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() {
        for (const auto& [name, old] : saved_) {
            if (old) {
                ::setenv(name.c_str(), old->c_str(), 1);
            } else {
                ::unsetenv(name.c_str());
            }
        }
    }
    void set(const std::string& name, const std::string& value) {
        remember(name);
        ::setenv(name.c_str(), value.c_str(), 1);
    }
    void unset(const std::string& name) {
        remember(name);
        ::unsetenv(name.c_str());
    }

private:
    void remember(const std::string& name) {
        if (saved_.count(name) == 0) {
            saved_[name] = core::env(name);
        }
    }
    std::map<std::string, std::optional<std::string>> saved_;
};

// Every variable the credential chain and endpoint resolution read: cleared,
// shared files pointed at nothing, IMDS disabled; endpoints at the fake when given.
class AwsEnv : public ScopedEnv {
public:
    explicit AwsEnv(const std::string& endpoint = "") {
        for (const char* name : {"AWS_ACCESS_KEY_ID",
                                 "AWS_SECRET_ACCESS_KEY",
                                 "AWS_SESSION_TOKEN",
                                 "AWS_PROFILE",
                                 "AWS_DEFAULT_PROFILE",
                                 "AWS_WEB_IDENTITY_TOKEN_FILE",
                                 "AWS_ROLE_ARN",
                                 "AWS_ROLE_SESSION_NAME",
                                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                 "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                 "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                 "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                 "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                 "AWS_REGION",
                                 "AWS_DEFAULT_REGION",
                                 "AWS_ENDPOINT_URL",
                                 "AWS_ENDPOINT_URL_STS",
                                 "AWS_ENDPOINT_URL_ROUTE_53",
                                 "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                                 "AWS_ENDPOINT_URL_EC2",
                                 "AWS_ENDPOINT_URL_ECS",
                                 "AWS_ENDPOINT_URL_AUTO_SCALING",
                                 "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"}) {
            unset(name);
        }
        set("AWS_CONFIG_FILE", "/nonexistent/renewer-test/config");
        set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/renewer-test/credentials");
        set("AWS_EC2_METADATA_DISABLED", "true");
        set("AWS_REGION", "us-east-1");
        if (!endpoint.empty()) {
            set("AWS_ENDPOINT_URL", endpoint);
        }
    }
};

class FakeAws {
public:
    static constexpr const char* k_access_key = "AKIDEXAMPLE";
    static constexpr const char* k_secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    // Starts the server and waits (bounded) for its ready file. nullptr and a
    // message in `error` when it does not come up.
    static std::unique_ptr<FakeAws> start(std::string& error, const std::vector<std::string>& extra_args = {},
                                          std::chrono::seconds timeout = std::chrono::seconds(30)) {
        std::unique_ptr<FakeAws> fake(new FakeAws());
        const std::string script = source_dir() + "/tests/fakeaws/server.py";
        const std::string ready = (fake->dir_ / "ready.json").string();
        const std::string log = (fake->dir_ / "server.log").string();
        std::vector<std::string> args = {python(), script,       "--host", "127.0.0.1",    "--http-port",
                                         "0",      "--dns-port", "0",      "--ready-file", ready};
        args.insert(args.end(), extra_args.begin(), extra_args.end());

        const pid_t pid = ::fork();
        if (pid < 0) {
            error = "fork failed";
            return nullptr;
        }
        if (pid == 0) {
            // Dies with the test process even when it crashes or is killed by a CTest timeout.
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
                ::close(fd);
            }
            std::vector<char*> argv;
            for (auto& a : args) {
                argv.push_back(a.data());
            }
            argv.push_back(nullptr);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        fake->pid_ = pid;

        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid) {
                fake->pid_ = -1;
                error = "fakeaws exited before it was ready:\n" + read_text(log);
                return nullptr;
            }
            if (std::filesystem::exists(ready)) {
                const auto info = nlohmann::json::parse(read_text(ready), nullptr, false);
                if (info.is_object() && info.contains("endpoint")) {
                    fake->endpoint = info.at("endpoint").get<std::string>();
                    fake->http_port = info.at("http_port").get<int>();
                    fake->dns_port = info.value("dns_port", 0);
                    return fake;
                }
            }
            // Polling the ready file (the condition), not sleeping as a synchronisation.
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        error = "fakeaws not ready within " + std::to_string(timeout.count()) + " s:\n" + read_text(log);
        return nullptr;
    }

    ~FakeAws() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            int status = 0;
            while (::waitpid(pid_, &status, WNOHANG) == 0) {
                if (std::chrono::steady_clock::now() >= deadline) {
                    ::kill(pid_, SIGKILL);
                    ::waitpid(pid_, &status, 0);
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
    }
    FakeAws(const FakeAws&) = delete;
    FakeAws& operator=(const FakeAws&) = delete;

    // Calls the unsigned control API (/_fake/...). Throws on transport errors
    // or non-2xx answers, so a broken setup fails the test loudly.
    nlohmann::json control(const std::string& method, const std::string& path,
                           const nlohmann::json& body = nlohmann::json()) {
        core::http::Request request;
        request.method = method;
        request.url = endpoint + path;
        if (!body.is_null()) {
            request.body = body.dump();
            request.headers.emplace_back("Content-Type", "application/json");
        }
        auto response = http_.send(request);
        if (!response) {
            throw std::runtime_error("fakeaws control " + path + ": " + response.error().message);
        }
        if (response->status < 200 || response->status >= 300) {
            throw std::runtime_error("fakeaws control " + path + ": HTTP " + std::to_string(response->status) + " " +
                                     response->body);
        }
        return response->body.empty() ? nlohmann::json::object() : nlohmann::json::parse(response->body);
    }

    // Calls the fake logged for an action (GET /_fake/calls?action=).
    std::vector<nlohmann::json> calls(const std::string& action) {
        const auto out = control("GET", "/_fake/calls?action=" + action);
        return out.at("calls").get<std::vector<nlohmann::json>>();
    }

    std::string log_text() const { return read_text(dir_ / "server.log"); }

    std::string endpoint;
    int http_port = 0;
    int dns_port = 0;

private:
    FakeAws() = default;
    TempDir dir_;
    pid_t pid_ = -1;
    core::http::Client http_;
};

}  // namespace aws_test
