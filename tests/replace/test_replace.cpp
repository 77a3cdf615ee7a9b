// The replacement step. Unit tests (hook, dry run, nothing changed) and, in
// suites ending in "E2e" (label e2e), each AWS target driven against
// tests/fakeaws: the fake sees the right calls with the right parameters.
#include "replace/replacer.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aws/client.hpp"
#include "aws/credentials.hpp"
#include "core/env.hpp"
#include "core/http.hpp"
#include "core/log.hpp"
#include "core/retry.hpp"

extern char** environ;

namespace replace {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class TempDir {
public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "renewer-replace-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

std::vector<ChangedCertificate> two_changed() {
    return {
        {"example.com", {"example.com", "*.example.com"}, "0a1b", "aws-sm:certs/example.com", std::nullopt},
        {"shop", {"shop.example.net", "example.com"}, "0c2d", "dir:/srv/certs/shop", std::nullopt},
    };
}

// --- unit: hook, none, dry run -------------------------------------------------

TEST(ReplaceTypes, ParseAndPrint) {
    for (const auto type :
         {ReplaceType::none, ReplaceType::autoscaling, ReplaceType::ec2_tag, ReplaceType::ecs, ReplaceType::hook}) {
        EXPECT_EQ(parse_replace_type(to_string(type)), type);
    }
    EXPECT_EQ(parse_replace_type("ec2_tag"), std::nullopt);
    EXPECT_EQ(parse_replace_type(""), std::nullopt);
}

TEST(HookEnvironment, CertbotStyleVariables) {
    const auto env = hook_environment(two_changed());
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"RENEWED_CERTIFICATES", "example.com shop"},
        {"RENEWED_DOMAINS", "example.com *.example.com shop.example.net"},
        {"RENEWED_LINEAGE", "/srv/certs/shop"},
        {"RENEWED_PATHS", "/srv/certs/shop"},
        {"RENEWED_LOCATIONS", "aws-sm:certs/example.com dir:/srv/certs/shop"},
        {"RENEWED_SERIALS", "0a1b 0c2d"},
    };
    EXPECT_EQ(env, expected);
    // No directory store: no RENEWED_LINEAGE / RENEWED_PATHS at all.
    const auto sm_only = hook_environment({two_changed()[0]});
    for (const auto& [name, value] : sm_only) {
        EXPECT_NE(name, "RENEWED_LINEAGE");
        EXPECT_NE(name, "RENEWED_PATHS");
    }
}

class Hook : public ::testing::Test {
protected:
    ReplaceTarget hook(const std::string& command) {
        ReplaceTarget target;
        target.type = ReplaceType::hook;
        target.command = command;
        target.timeout = std::chrono::seconds(20);
        return target;
    }
    fs::path out() const { return dir_.path() / "out.txt"; }
    TempDir dir_;
};

TEST_F(Hook, GetsRenewedVariablesAndNotOurSecrets) {
    ::setenv("RFC2136_TSIG_SECRET", "dHNpZy1zZWNyZXQtdmFsdWU=", 1);
    ::setenv("RENEWER_TEST_HIDDEN", "hidden-secret-value", 1);
    ::setenv("RENEWER_TEST_VISIBLE", "visible", 1);
    ::setenv("RENEWED_DOMAINS", "stale-from-parent", 1);
    ReplaceTarget target = hook("env > '" + out().string() + "'");
    target.hidden_env = {"RENEWER_TEST_HIDDEN"};
    auto outcome = run_replacement(target, two_changed(), DryRun::no, nullptr);
    ::unsetenv("RFC2136_TSIG_SECRET");
    ::unsetenv("RENEWER_TEST_HIDDEN");
    ::unsetenv("RENEWER_TEST_VISIBLE");
    ::unsetenv("RENEWED_DOMAINS");
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    EXPECT_EQ(outcome->hook_exit_status, 0);
    EXPECT_NE(outcome->summary.find("exited 0"), std::string::npos) << outcome->summary;

    const std::string env = read_all(out());
    EXPECT_NE(env.find("RENEWED_DOMAINS=example.com *.example.com shop.example.net\n"), std::string::npos) << env;
    EXPECT_NE(env.find("RENEWED_CERTIFICATES=example.com shop\n"), std::string::npos) << env;
    EXPECT_NE(env.find("RENEWED_LINEAGE=/srv/certs/shop\n"), std::string::npos) << env;
    EXPECT_NE(env.find("RENEWED_PATHS=/srv/certs/shop\n"), std::string::npos) << env;
    EXPECT_NE(env.find("RENEWER_TEST_VISIBLE=visible\n"), std::string::npos) << env;
    EXPECT_EQ(env.find("stale-from-parent"), std::string::npos) << env;
    EXPECT_EQ(env.find("RFC2136_TSIG_SECRET"), std::string::npos) << env;
    EXPECT_EQ(env.find("dHNpZy1zZWNyZXQtdmFsdWU="), std::string::npos) << env;
    EXPECT_EQ(env.find("RENEWER_TEST_HIDDEN"), std::string::npos) << env;
    EXPECT_EQ(env.find("hidden-secret-value"), std::string::npos) << env;
}

TEST_F(Hook, ArgvIsTheOperatorsCommandOnly) {
    auto outcome = run_replacement(hook("printf '%s\\n' \"$0\" \"$#\" > '" + out().string() + "'"), two_changed(),
                                   DryRun::no, nullptr);
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    EXPECT_EQ(read_all(out()), "/bin/sh\n0\n");  // no extra arguments, so no key can be in argv
}

TEST_F(Hook, FailingCommandIsAnError) {
    auto outcome = run_replacement(hook("echo failing >&2; exit 3"), two_changed(), DryRun::no, nullptr);
    ASSERT_FALSE(outcome.ok());
    EXPECT_NE(outcome.error().message.find("exited with status 3"), std::string::npos) << outcome.error().message;
    EXPECT_EQ(outcome.error().code, "hook_failed");
}

TEST_F(Hook, OutputIsLogged) {
    const fs::path log_path = dir_.path() / "log.jsonl";
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    core::log::configure({core::log::Level::info, core::log::Format::json, fd});
    auto outcome = run_replacement(hook("echo hello from hook; echo to stderr >&2; printf 'no newline'"), two_changed(),
                                   DryRun::no, nullptr);
    core::log::configure({});
    ::close(fd);
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    const std::string log = read_all(log_path);
    EXPECT_NE(log.find("hello from hook"), std::string::npos) << log;
    EXPECT_NE(log.find("to stderr"), std::string::npos) << log;
    EXPECT_NE(log.find("no newline"), std::string::npos) << log;
    EXPECT_NE(log.find("exited 0"), std::string::npos) << log;  // the summary line
}

TEST_F(Hook, TimeoutStopsTheWholeProcessGroup) {
    const fs::path pid_file = dir_.path() / "child.pid";
    ReplaceTarget target = hook("sleep 60 & echo $! > '" + pid_file.string() + "'; wait");
    target.timeout = std::chrono::seconds(1);
    const auto started = std::chrono::steady_clock::now();
    auto outcome = run_replacement(target, two_changed(), DryRun::no, nullptr);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error().kind, core::ErrorKind::timeout);
    EXPECT_NE(outcome.error().message.find("did not finish within 1 s"), std::string::npos);
    EXPECT_LT(elapsed, std::chrono::seconds(10));
    // The background `sleep` was in the hook's group and got the signal too.
    const pid_t child = std::stoi(read_all(pid_file));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::kill(child, 0) == 0 && std::chrono::steady_clock::now() < deadline) {
        (void)core::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_NE(::kill(child, 0), 0) << "hook child " << child << " survived the timeout";
}

TEST_F(Hook, DryRunRunsNothing) {
    auto outcome = run_replacement(hook("touch '" + out().string() + "'"), two_changed(), DryRun::yes, nullptr);
    ASSERT_TRUE(outcome.ok());
    EXPECT_FALSE(fs::exists(out()));
    EXPECT_NE(outcome->summary.find("dry run, would run"), std::string::npos);
    EXPECT_NE(outcome->summary.find("RENEWED_DOMAINS=\"example.com *.example.com shop.example.net\""),
              std::string::npos)
        << outcome->summary;
}

TEST_F(Hook, NothingChangedRunsNothing) {
    auto outcome = run_replacement(hook("touch '" + out().string() + "'"), {}, DryRun::no, nullptr);
    ASSERT_TRUE(outcome.ok());
    EXPECT_FALSE(fs::exists(out()));
    EXPECT_TRUE(outcome->calls.empty());
}

TEST(ReplaceNone, DoesNothing) {
    auto outcome = run_replacement(ReplaceTarget{}, two_changed(), DryRun::no, nullptr);
    ASSERT_TRUE(outcome.ok());
    EXPECT_TRUE(outcome->calls.empty());
}

TEST(ReplaceAwsWithoutClient, DryRunNeedsNoClientAndRealRunSaysSo) {
    ReplaceTarget target;
    target.type = ReplaceType::ecs;
    target.cluster = "c";
    target.service = "s";
    auto dry = run_replacement(target, two_changed(), DryRun::yes, nullptr);
    ASSERT_TRUE(dry.ok());
    EXPECT_EQ(dry->calls, (std::vector<std::string>{"UpdateService"}));
    auto real = run_replacement(target, two_changed(), DryRun::no, nullptr);
    ASSERT_FALSE(real.ok());
    EXPECT_EQ(real.error().kind, core::ErrorKind::internal);
}

// --- e2e against tests/fakeaws -------------------------------------------------

#ifndef RENEWER_SOURCE_DIR
#define RENEWER_SOURCE_DIR ""
#endif
#ifndef RENEWER_PYTHON
#define RENEWER_PYTHON "/usr/bin/python3"
#endif

// Starts tests/fakeaws once for the suite and stops it afterwards.
class FakeAwsServer {
public:
    static std::unique_ptr<FakeAwsServer> start(std::string& why_not) {
        const std::string source = core::env_or("SOURCE_DIR", RENEWER_SOURCE_DIR);
        const std::string python = core::env_or("PYTHON", RENEWER_PYTHON);
        const std::string script = source + "/tests/fakeaws/server.py";
        if (!fs::exists(script) || !fs::exists(python)) {
            why_not = "no " + script + " or " + python;
            return nullptr;
        }
        auto server = std::unique_ptr<FakeAwsServer>(new FakeAwsServer());
        const std::string ready = (server->dir_.path() / "ready.json").string();
        const std::string log = (server->dir_.path() / "server.log").string();
        std::vector<std::string> args = {python, script,       "--host", "127.0.0.1",    "--http-port",
                                         "0",    "--dns-port", "0",      "--ready-file", ready};
        std::vector<char*> argv;
        for (auto& arg : args) {
            argv.push_back(arg.data());
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        const int rc = posix_spawn(&server->pid_, python.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            why_not = "cannot start " + python;
            return nullptr;
        }
        // Bounded wait for the ready file (written atomically by the server).
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!fs::exists(ready)) {
            int status = 0;
            if (::waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
                server->pid_ = -1;
                why_not = "fakeaws exited: " + read_all(log);
                return nullptr;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                why_not = "fakeaws not ready after 30 s: " + read_all(log);
                return nullptr;
            }
            (void)core::sleep_for(std::chrono::milliseconds(20));
        }
        const json info = json::parse(read_all(ready));
        server->endpoint_ = info.at("endpoint").get<std::string>();
        return server;
    }

    ~FakeAwsServer() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    FakeAwsServer(const FakeAwsServer&) = delete;
    FakeAwsServer& operator=(const FakeAwsServer&) = delete;

    const std::string& endpoint() const { return endpoint_; }

    // The unsigned control API under /_fake/.
    json control(const std::string& method, const std::string& path, const json& body = nullptr) {
        core::http::Request request;
        request.method = method;
        request.url = endpoint_ + path;
        if (!body.is_null()) {
            request.body = body.dump();
            request.headers.emplace_back("Content-Type", "application/json");
        }
        auto response = http_.send(request);
        if (!response.ok()) {
            throw std::runtime_error("fakeaws control " + path + ": " + response.error().message);
        }
        if (response->status != 200) {
            throw std::runtime_error("fakeaws control " + path + ": HTTP " + std::to_string(response->status) + " " +
                                     response->body);
        }
        return json::parse(response->body);
    }

    // The AWS calls the fake saw for `action` since the last reset.
    json calls(const std::string& action) { return control("GET", "/_fake/calls?action=" + action)["calls"]; }
    json all_calls() { return control("GET", "/_fake/calls")["calls"]; }

private:
    FakeAwsServer() = default;
    TempDir dir_;
    pid_t pid_ = -1;
    std::string endpoint_;
    core::http::Client http_;
};

class ReplaceE2e : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ::setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
        std::string why_not;
        server_ = FakeAwsServer::start(why_not).release();
        if (server_ == nullptr) {
            setup_failure_ = why_not;
            return;
        }
        // Every service at the fake; never real AWS.
        ::setenv("AWS_ENDPOINT_URL", server_->endpoint().c_str(), 1);
        ::setenv("AWS_REGION", "us-east-1", 1);
    }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
        ::unsetenv("AWS_ENDPOINT_URL");
    }

    void SetUp() override {
        ASSERT_NE(server_, nullptr) << "fakeaws: " << setup_failure_;
        server_->control("POST", "/_fake/reset", json::object());
        server_->control("DELETE", "/_fake/calls");
        aws::ClientSettings settings;
        settings.region = "us-east-1";
        settings.credentials = aws::static_credentials(
            {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", std::nullopt, "test"});
        settings.retry.max_attempts = 2;
        settings.retry.base_delay = std::chrono::milliseconds(10);
        client_ = std::make_unique<aws::Client>(std::move(settings));
    }

    FakeAwsServer& fake() { return *server_; }
    aws::Client* client() { return client_.get(); }

    static FakeAwsServer* server_;
    static std::string setup_failure_;
    std::unique_ptr<aws::Client> client_;
};

FakeAwsServer* ReplaceE2e::server_ = nullptr;
std::string ReplaceE2e::setup_failure_;

ReplaceTarget autoscaling_target() {
    ReplaceTarget target;
    target.type = ReplaceType::autoscaling;
    target.group = "web";
    target.min_healthy_percentage = 80;
    target.instance_warmup = 30;
    return target;
}

TEST_F(ReplaceE2e, AutoscalingStartsOneRollingRefresh) {
    fake().control("POST", "/_fake/asgs", {{"name", "web"}, {"size", 2}, {"refresh_seconds", 60}});
    auto outcome = run_replacement(autoscaling_target(), two_changed(), DryRun::no, client());
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    EXPECT_FALSE(outcome->refresh_id.empty());
    EXPECT_FALSE(outcome->already_in_progress);
    EXPECT_NE(outcome->summary.find(outcome->refresh_id), std::string::npos) << outcome->summary;

    const json calls = fake().calls("StartInstanceRefresh");
    ASSERT_EQ(calls.size(), 1U) << calls.dump();
    const json& params = calls[0]["params"];
    EXPECT_EQ(calls[0]["status"], 200);
    EXPECT_EQ(params["AutoScalingGroupName"], "web");
    EXPECT_EQ(params["Strategy"], "Rolling");
    EXPECT_EQ(params["Preferences"]["MinHealthyPercentage"], "80");
    EXPECT_EQ(params["Preferences"]["InstanceWarmup"], "30");
}

TEST_F(ReplaceE2e, AutoscalingDefaultsToNinetyPercentWithoutWarmup) {
    fake().control("POST", "/_fake/asgs", {{"name", "web"}, {"size", 1}, {"refresh_seconds", 60}});
    ReplaceTarget target;
    target.type = ReplaceType::autoscaling;
    target.group = "web";
    auto outcome = run_replacement(target, two_changed(), DryRun::no, client());
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    const json calls = fake().calls("StartInstanceRefresh");
    ASSERT_EQ(calls.size(), 1U);
    EXPECT_EQ(calls[0]["params"]["Preferences"]["MinHealthyPercentage"], "90");
    EXPECT_FALSE(calls[0]["params"]["Preferences"].contains("InstanceWarmup"));
}

TEST_F(ReplaceE2e, AutoscalingRefreshInProgressIsReportedNotFailed) {
    fake().control("POST", "/_fake/asgs", {{"name", "web"}, {"size", 2}, {"refresh_seconds", 60}});
    ASSERT_TRUE(run_replacement(autoscaling_target(), two_changed(), DryRun::no, client()).ok());
    auto second = run_replacement(autoscaling_target(), two_changed(), DryRun::no, client());
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_TRUE(second->already_in_progress);
    EXPECT_NE(second->summary.find("already in progress"), std::string::npos) << second->summary;
    const json calls = fake().calls("StartInstanceRefresh");
    ASSERT_EQ(calls.size(), 2U);
    EXPECT_EQ(calls[1]["code"], "InstanceRefreshInProgress");
}

TEST_F(ReplaceE2e, AutoscalingUnknownGroupIsAClearError) {
    auto outcome = run_replacement(autoscaling_target(), two_changed(), DryRun::no, client());
    ASSERT_FALSE(outcome.ok());
    EXPECT_NE(outcome.error().message.find("autoscaling StartInstanceRefresh group web"), std::string::npos)
        << outcome.error().message;
}

ReplaceTarget ec2_target(int cap) {
    ReplaceTarget target;
    target.type = ReplaceType::ec2_tag;
    target.tag_key = "role";
    target.tag_value = "web";
    target.max_terminate = cap;
    return target;
}

std::vector<std::string> seed_instances(FakeAwsServer& fake) {
    const json web = {{"tags", {{"role", "web"}}}};
    const json reply = fake.control(
        "POST", "/_fake/instances",
        {{"instances",
          json::array(
              {web, web, web, {{"tags", {{"role", "db"}}}}, {{"tags", {{"role", "web"}}}, {"state", "stopped"}}})}});
    return reply["ids"].get<std::vector<std::string>>();
}

TEST_F(ReplaceE2e, Ec2TagTerminatesAtMostTheCap) {
    const auto ids = seed_instances(fake());
    auto outcome = run_replacement(ec2_target(2), two_changed(), DryRun::no, client());
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    EXPECT_EQ(outcome->terminated.size(), 2U);
    EXPECT_EQ(outcome->left_for_next_run.size(), 1U);
    EXPECT_NE(outcome->summary.find("1 left for the next run"), std::string::npos) << outcome->summary;

    const json describe = fake().calls("DescribeInstances");
    ASSERT_GE(describe.size(), 1U);
    EXPECT_EQ(describe[0]["params"]["filters"]["tag:role"], json::array({"web"}));
    EXPECT_EQ(describe[0]["params"]["filters"]["instance-state-name"], json::array({"running"}));

    const json terminate = fake().calls("TerminateInstances");
    ASSERT_EQ(terminate.size(), 1U);
    const auto terminated = terminate[0]["params"]["instance_ids"].get<std::vector<std::string>>();
    EXPECT_EQ(terminated, outcome->terminated);
    for (const auto& id : terminated) {
        // Only running web instances: never the db one (ids[3]) or the stopped one (ids[4]).
        EXPECT_TRUE(id == ids[0] || id == ids[1] || id == ids[2]) << id;
    }
}

TEST_F(ReplaceE2e, Ec2TagDefaultCapIsOne) {
    seed_instances(fake());
    auto outcome = run_replacement(ec2_target(ReplaceTarget{}.max_terminate), two_changed(), DryRun::no, client());
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    EXPECT_EQ(outcome->terminated.size(), 1U);
    EXPECT_EQ(outcome->left_for_next_run.size(), 2U);
    const json terminate = fake().calls("TerminateInstances");
    ASSERT_EQ(terminate.size(), 1U);
    EXPECT_EQ(terminate[0]["params"]["instance_ids"].size(), 1U);
}

TEST_F(ReplaceE2e, Ec2TagSparesInstancesLaunchedAfterTheStore) {
    seed_instances(fake());
    auto changed = two_changed();
    changed[0].stored_at = std::chrono::system_clock::now() - std::chrono::hours(1);
    auto outcome = run_replacement(ec2_target(5), changed, DryRun::no, client());
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    EXPECT_TRUE(outcome->terminated.empty());
    EXPECT_TRUE(fake().calls("TerminateInstances").empty());
    EXPECT_NE(outcome->summary.find("3 already fresh"), std::string::npos) << outcome->summary;
}

TEST_F(ReplaceE2e, Ec2TagWithNoMatchingInstanceCallsNoTerminate) {
    auto outcome = run_replacement(ec2_target(1), two_changed(), DryRun::no, client());
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    EXPECT_TRUE(outcome->terminated.empty());
    EXPECT_EQ(fake().calls("DescribeInstances").size(), 1U);
    EXPECT_TRUE(fake().calls("TerminateInstances").empty());
}

TEST_F(ReplaceE2e, EcsForcesANewDeployment) {
    fake().control("POST", "/_fake/ecs/services", {{"cluster", "prod"}, {"service", "web"}});
    ReplaceTarget target;
    target.type = ReplaceType::ecs;
    target.cluster = "prod";
    target.service = "web";
    auto outcome = run_replacement(target, two_changed(), DryRun::no, client());
    ASSERT_TRUE(outcome.ok()) << outcome.error().message;
    const json calls = fake().calls("UpdateService");
    ASSERT_EQ(calls.size(), 1U);
    EXPECT_EQ(calls[0]["params"]["cluster"], "prod");
    EXPECT_EQ(calls[0]["params"]["service"], "web");
    EXPECT_EQ(calls[0]["params"]["forceNewDeployment"], true);
    EXPECT_EQ(outcome->deployment_id, calls[0]["params"]["deployment_id"].get<std::string>());
}

TEST_F(ReplaceE2e, DryRunAndNothingChangedMakeNoCall) {
    fake().control("POST", "/_fake/asgs", {{"name", "web"}, {"size", 1}});
    seed_instances(fake());
    fake().control("POST", "/_fake/ecs/services", {{"cluster", "prod"}, {"service", "web"}});
    ReplaceTarget ecs;
    ecs.type = ReplaceType::ecs;
    ecs.cluster = "prod";
    ecs.service = "web";
    for (const auto& target : {autoscaling_target(), ec2_target(3), ecs}) {
        auto dry = run_replacement(target, two_changed(), DryRun::yes, client());
        ASSERT_TRUE(dry.ok()) << dry.error().message;
        EXPECT_NE(dry->summary.find("dry run, would call"), std::string::npos) << dry->summary;
        EXPECT_FALSE(dry->calls.empty());
        auto nothing = run_replacement(target, {}, DryRun::no, client());
        ASSERT_TRUE(nothing.ok());
        EXPECT_TRUE(nothing->calls.empty());
    }
    EXPECT_TRUE(fake().all_calls().empty()) << fake().all_calls().dump();
}

}  // namespace
}  // namespace replace
