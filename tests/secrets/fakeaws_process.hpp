// Starts tests/fakeaws/server.py on loopback for one test suite and points
// this process's AWS clients at it (AWS_ENDPOINT_URL, test keys, IMDS off).
// Readiness is its ready file, polled with a bounded backoff; stop() sends
// SIGTERM and reaps it. The control API (/_fake/...) is reached with
// core::http.
#pragma once

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/atomic_file.hpp"
#include "core/http.hpp"

extern char** environ;  // NOLINT: POSIX

namespace test_fakeaws {

class FakeAws {
public:
    FakeAws() {
        const char* src = std::getenv("SOURCE_DIR");
        const char* py = std::getenv("PYTHON");
        const std::string source = src != nullptr ? src : ".";
        const std::string python = py != nullptr && *py != '\0' ? py : "/usr/bin/python3";
        std::string pattern = "/tmp/fakeaws-cpp-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        dir_ = pattern;
        const std::string ready = dir_ + "/ready.json";
        std::vector<std::string> args = {python, source + "/tests/fakeaws/server.py", "--host", "127.0.0.1",
                                         "--http-port", "0", "--dns-port", "0", "--ready-file", ready};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        const std::string log = dir_ + "/server.log";
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        const int rc = ::posix_spawn(&pid_, python.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            throw std::runtime_error("cannot start fakeaws");
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        auto delay = std::chrono::milliseconds(10);
        for (;;) {
            auto text = core::read_file(ready);
            if (text.ok()) {
                const auto j = nlohmann::json::parse(*text, nullptr, false);
                if (!j.is_discarded() && j.contains("endpoint")) {
                    endpoint_ = j["endpoint"].get<std::string>();
                    break;
                }
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                throw std::runtime_error("fakeaws exited before it was ready; see " + log);
            }
            if (std::chrono::steady_clock::now() > deadline) {
                stop();
                throw std::runtime_error("fakeaws not ready after 20s");
            }
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, std::chrono::milliseconds(100));
        }
        ::setenv("AWS_ENDPOINT_URL", endpoint_.c_str(), 1);
        ::setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
        ::setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
        ::setenv("AWS_REGION", "us-east-1", 1);
        ::setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
        const std::string empty = dir_ + "/empty-config";
        (void)core::write_file_atomic(empty, "");
        ::setenv("AWS_CONFIG_FILE", empty.c_str(), 1);
        ::setenv("AWS_SHARED_CREDENTIALS_FILE", empty.c_str(), 1);
        for (const char* name : {"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"}) {
            ::unsetenv(name);
        }
    }
    ~FakeAws() { stop(); }
    FakeAws(const FakeAws&) = delete;
    FakeAws& operator=(const FakeAws&) = delete;

    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
            dir_.clear();
        }
    }

    const std::string& endpoint() const { return endpoint_; }

    nlohmann::json control(const std::string& method, const std::string& path,
                           const nlohmann::json& body = nullptr) {
        core::http::Request request;
        request.method = method;
        request.url = endpoint_ + "/_fake/" + path;
        if (!body.is_null()) {
            request.body = body.dump();
            request.headers.emplace_back("Content-Type", "application/json");
        }
        auto response = http_.send(request);
        if (!response.ok() || response->status != 200) {
            throw std::runtime_error("fakeaws control " + method + " " + path + " failed");
        }
        return nlohmann::json::parse(response->body);
    }

    // Calls the service logged, optionally only those of `action`.
    nlohmann::json calls(const std::string& action = "") {
        return control("GET", action.empty() ? "calls" : "calls?action=" + action)["calls"];
    }
    void reset() { control("POST", "reset", nlohmann::json::object()); }
    void clear_calls() { control("DELETE", "calls"); }
    void fault(const std::string& action, const std::string& kind, int count) {
        control("POST", "faults", {{"action", action}, {"kind", kind}, {"count", count}});
    }
    nlohmann::json secrets() { return control("GET", "secrets")["secrets"]; }
    void seed_secret(const std::string& name, const std::string& value) {
        control("POST", "secrets", {{"name", name}, {"string", value}});
    }

private:
    std::string dir_;
    std::string endpoint_;
    pid_t pid_ = -1;
    core::http::Client http_;
};

}  // namespace test_fakeaws
