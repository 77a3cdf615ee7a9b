// Pebble (Let's Encrypt's test ACME CA) and pebble-challtestsrv (its mock DNS
// server) on loopback, for end-to-end tests. Header-only so any test target
// can include it; links renewer_core for HTTP. The Python twin is
// tests/harness/pebble.py.
//
//   test::ChallTestSrv dns;  dns.start();
//   test::Pebble ca;         ca.start({.dns_port = dns.dns_port()});
//   ca.directory(), ca.ca_bundle(), ca.root_pem()
//
// Everything binds 127.0.0.1 on free ports; each start() waits for readiness
// by polling (bounded, no fixed sleeps); destructors stop what was started.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "acme/obtain.hpp"
#include "core/env.hpp"
#include "core/http.hpp"
#include "core/retry.hpp"
#include "tests/core/throwaway_ca_commands.hpp"

extern char** environ;

namespace test {

// A TCP port (also free for UDP) on 127.0.0.1 at the time of the call.
inline int free_port() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd);
            continue;
        }
        socklen_t len = sizeof addr;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        ::close(fd);
        int udp = ::socket(AF_INET, SOCK_DGRAM, 0);
        const bool udp_free = ::bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(udp);
        if (udp_free) {
            return ntohs(addr.sin_port);
        }
    }
    throw std::runtime_error("no free port on 127.0.0.1");
}

// A temporary directory removed on destruction.
class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "renewer-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
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
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

// A child process with extra environment, stdout+stderr to `log_path`.
class Process {
public:
    Process() = default;
    Process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& log_path, const std::vector<std::string>& unset = {}) {
        std::vector<std::string> env_strings;
        for (char** e = environ; *e != nullptr; ++e) {
            std::string entry(*e);
            const std::string name = entry.substr(0, entry.find('='));
            bool drop = env.contains(name);
            for (const auto& u : unset) {
                drop = drop || u == name;
            }
            if (!drop) {
                env_strings.push_back(entry);
            }
        }
        for (const auto& [k, v] : env) {
            env_strings.push_back(k + "=" + v);
        }
        std::vector<char*> envp;
        for (auto& s : env_strings) {
            envp.push_back(s.data());
        }
        envp.push_back(nullptr);
        std::vector<std::string> args = argv;
        std::vector<char*> argp;
        for (auto& s : args) {
            argp.push_back(s.data());
        }
        argp.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        const int rc = posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argp.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            pid_ = -1;
            throw std::runtime_error("cannot start " + args[0]);
        }
    }
    ~Process() { stop(); }
    Process(Process&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
    Process& operator=(Process&& other) noexcept {
        if (this != &other) {
            stop();
            pid_ = other.pid_;
            other.pid_ = -1;
        }
        return *this;
    }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    bool alive() {
        if (pid_ <= 0) {
            return false;
        }
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        return true;
    }

    // SIGTERM, wait up to 5 s (polling), then SIGKILL.
    void stop() {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, SIGTERM);
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        int status = 0;
        while (std::chrono::steady_clock::now() < end) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
};

inline void run_checked(const std::vector<std::string>& argv, const std::string& log_path) {
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (auto& s : args) {
        argp.push_back(s.data());
    }
    argp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argp.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw std::runtime_error("cannot run " + args[0]);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error(args[0] + " " + args[1] + " failed; see " + log_path);
    }
}

struct TlsFiles {
    std::string ca;    // the throwaway root (the client's CA bundle)
    std::string cert;  // server certificate for 127.0.0.1 and localhost
    std::string key;
};

// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with
// the openssl CLI into `dir`.
inline TlsFiles make_tls_cert(const TempDir& dir) {
    const std::string openssl = "/usr/bin/openssl";
    const std::string log = dir.file("openssl.log");
    TlsFiles files{dir.file("tls-ca.pem"), dir.file("tls.pem"), dir.file("tls.key")};
    run_checked(test_tls::root_command(openssl, dir.file("tls-ca.key"), files.ca, "/CN=renewer test TLS root"), log);
    run_checked(test_tls::server_request_command(openssl, files.key, dir.file("tls.csr")), log);
    {
        std::ofstream ext(dir.file("tls.ext"));
        ext << "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n";
    }
    run_checked(test_tls::sign_command(openssl, dir.file("tls.csr"), files.ca, dir.file("tls-ca.key"), files.cert,
                                       dir.file("tls.ext")),
                log);
    return files;
}

// Polls `ready` at 10 ms, doubling to 200 ms, until true or `budget` ends.
template <typename Ready>
bool wait_until(Ready ready, std::chrono::milliseconds budget, Process* process = nullptr) {
    const auto deadline = core::Deadline::after(budget);
    std::chrono::milliseconds delay{10};
    while (!deadline.expired()) {
        if (process != nullptr && !process->alive()) {
            return false;
        }
        if (ready()) {
            return true;
        }
        (void)core::sleep_for(delay, deadline);
        delay = std::min(delay * 2, std::chrono::milliseconds{200});
    }
    return false;
}

inline std::string read_text(const std::string& path) {
    std::string out;
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) {
        return out;
    }
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) {
            break;
        }
        out.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
}

// pebble-challtestsrv as Pebble's DNS server; only its DNS-01 and management
// listeners are on.
class ChallTestSrv {
public:
    void start() {
        dns_port_ = free_port();
        mgmt_port_ = free_port();
        process_ =
            Process({"/usr/bin/pebble-challtestsrv", "-dns01", "127.0.0.1:" + std::to_string(dns_port_), "-management",
                     "127.0.0.1:" + std::to_string(mgmt_port_), "-http01", "", "-https01", "", "-tlsalpn01", ""},
                    {}, dir_.file("challtestsrv.log"));
        core::http::Client client;
        const std::string url = "http://127.0.0.1:" + std::to_string(mgmt_port_) + "/";
        if (!wait_until(
                [&] {
                    core::http::Request request;
                    request.url = url;
                    request.timeout = std::chrono::milliseconds{1000};
                    return client.send(request).ok();
                },
                std::chrono::seconds{15}, &process_)) {
            throw std::runtime_error("pebble-challtestsrv did not start: " + read_text(dir_.file("challtestsrv.log")));
        }
    }
    void stop() { process_.stop(); }

    int dns_port() const { return dns_port_; }
    int mgmt_port() const { return mgmt_port_; }

    // Adds a TXT value at _acme-challenge.<domain>. (several values accumulate).
    core::Status set_txt(const std::string& domain, const std::string& value) const {
        return post("/set-txt", {{"host", "_acme-challenge." + domain + "."}, {"value", value}});
    }
    // Removes every TXT value at _acme-challenge.<domain>.
    core::Status clear_txt(const std::string& domain) const {
        return post("/clear-txt", {{"host", "_acme-challenge." + domain + "."}});
    }

private:
    core::Status post(const std::string& path, const nlohmann::json& body) const {
        core::http::Client client;
        core::http::Request request;
        request.method = "POST";
        request.url = "http://127.0.0.1:" + std::to_string(mgmt_port_) + path;
        request.body = body.dump();
        request.headers = {{"Content-Type", "application/json"}};
        auto response = client.send(request);
        if (!response.ok()) {
            return response.error();
        }
        if (response->status != 200) {
            return core::make_error(core::ErrorKind::http,
                                    "challtestsrv " + path + ": HTTP " + std::to_string(response->status));
        }
        return {};
    }

    TempDir dir_;
    Process process_;
    int dns_port_ = 0;
    int mgmt_port_ = 0;
};

struct PebbleOptions {
    int dns_port = 0;
    std::map<std::string, std::string> eab;  // kid -> base64url HMAC key; non-empty = EAB required
    int nonce_reject = 0;                    // PEBBLE_WFE_NONCEREJECT
    int alternate_roots = 0;                 // PEBBLE_ALTERNATE_ROOTS
    int authz_reuse = 0;                     // PEBBLE_AUTHZREUSE
};

class Pebble {
public:
    void start(const PebbleOptions& options) {
        tls_ = make_tls_cert(dir_);
        port_ = free_port();
        mgmt_port_ = free_port();
        nlohmann::json config = {{"listenAddress", "127.0.0.1:" + std::to_string(port_)},
                                 {"managementListenAddress", "127.0.0.1:" + std::to_string(mgmt_port_)},
                                 {"certificate", tls_.cert},
                                 {"privateKey", tls_.key},
                                 {"httpPort", free_port()},
                                 {"tlsPort", free_port()},
                                 {"ocspResponderURL", ""},
                                 {"externalAccountBindingRequired", !options.eab.empty()}};
        if (!options.eab.empty()) {
            config["externalAccountMACKeys"] = options.eab;
        }
        {
            std::ofstream out(dir_.file("pebble-config.json"));
            out << nlohmann::json{{"pebble", config}}.dump(2);
        }
        std::map<std::string, std::string> env = {
            {"PEBBLE_VA_NOSLEEP", "1"},
            {"PEBBLE_WFE_NONCEREJECT", std::to_string(options.nonce_reject)},
            {"PEBBLE_AUTHZREUSE", std::to_string(options.authz_reuse)},
        };
        if (options.alternate_roots > 0) {
            env["PEBBLE_ALTERNATE_ROOTS"] = std::to_string(options.alternate_roots);
        }
        process_ = Process({"/usr/bin/pebble", "-config", dir_.file("pebble-config.json"), "-dnsserver",
                            "127.0.0.1:" + std::to_string(options.dns_port)},
                           env, dir_.file("pebble.log"), {"PEBBLE_VA_ALWAYS_VALID", "PEBBLE_ALTERNATE_ROOTS"});
        if (!wait_until([&] { return get(directory()).ok(); }, std::chrono::seconds{20}, &process_)) {
            throw std::runtime_error("pebble did not start: " + log());
        }
    }
    void stop() { process_.stop(); }

    std::string directory() const { return "https://127.0.0.1:" + std::to_string(port_) + "/dir"; }
    std::string management() const { return "https://127.0.0.1:" + std::to_string(mgmt_port_); }
    // The CA bundle that trusts Pebble's own TLS certificate.
    const std::string& ca_bundle() const { return tls_.ca; }
    core::http::ClientOptions http_options() const {
        core::http::ClientOptions options;
        options.ca_bundle = tls_.ca;
        return options;
    }
    // Pebble's issuing root `index` (and alternates), fetched from the management API.
    core::Result<std::string> root_pem(int index = 0) const {
        return get(management() + "/roots/" + std::to_string(index));
    }
    core::Result<std::string> intermediate_pem(int index = 0) const {
        return get(management() + "/intermediates/" + std::to_string(index));
    }
    // {"Status": "Valid"|"Revoked", "Reason": n, ...}
    core::Result<nlohmann::json> cert_status(const std::string& serial_hex) const {
        TRY_ASSIGN(std::string body, get(management() + "/cert-status-by-serial/" + serial_hex));
        return nlohmann::json::parse(body, nullptr, false);
    }
    std::string log() const { return read_text(dir_.file("pebble.log")); }

private:
    core::Result<std::string> get(const std::string& url) const {
        core::http::Client client(http_options());
        core::http::Request request;
        request.url = url;
        request.timeout = std::chrono::milliseconds{5000};
        TRY_ASSIGN(core::http::Response response, client.send(request));
        if (response.status != 200) {
            return core::make_error(core::ErrorKind::http, url + ": HTTP " + std::to_string(response.status));
        }
        return response.body;
    }

    TempDir dir_;
    TlsFiles tls_;
    Process process_;
    int port_ = 0;
    int mgmt_port_ = 0;
};

// A Dns01Solver over challtestsrv: records are live as soon as they are set
// (challtestsrv is the only DNS server Pebble asks). Counts its calls.
class ChallTestSolver : public acme::Dns01Solver {
public:
    enum class Mode { publish, publish_nothing };
    explicit ChallTestSolver(const ChallTestSrv& dns, Mode mode = Mode::publish) : dns_(dns), mode_(mode) {}

    core::Status present(const std::vector<acme::Dns01Record>& records) override {
        std::lock_guard lock(mutex_);
        ++present_calls;
        presented.insert(presented.end(), records.begin(), records.end());
        if (mode_ == Mode::publish_nothing) {
            return {};
        }
        for (const auto& record : records) {
            TRY(dns_.set_txt(record.domain, record.value));
        }
        return {};
    }
    void cleanup(const std::vector<acme::Dns01Record>& records) override {
        std::lock_guard lock(mutex_);
        ++cleanup_calls;
        for (const auto& record : records) {
            (void)dns_.clear_txt(record.domain);
            cleaned.push_back(record);
        }
    }

    std::mutex mutex_;
    int present_calls = 0;
    int cleanup_calls = 0;
    std::vector<acme::Dns01Record> presented;
    std::vector<acme::Dns01Record> cleaned;

private:
    const ChallTestSrv& dns_;
    Mode mode_;
};

// The deadline of one exchange with the local CA.
inline core::Deadline soon() { return core::Deadline::after(std::chrono::seconds{60}); }

// A new account with a fresh key on `transport` (terms agreed, a contact
// address unless `given` says otherwise); throws when the CA refuses.
inline acme::Account new_account(acme::Transport& transport, core::KeyType type = core::KeyType::ec256,
                                 const acme::AccountOptions* given = nullptr) {
    auto key = core::PrivateKey::generate(type);
    if (!key.ok()) {
        throw std::runtime_error(key.error().message);
    }
    acme::AccountOptions options;
    options.email = "ops@example.test";
    options.terms = acme::TermsOfService::agreed;
    auto account = acme::find_or_create_account(transport, std::make_shared<const core::PrivateKey>(std::move(*key)),
                                                given ? *given : options, soon());
    if (!account.ok()) {
        throw std::runtime_error(account.error().message);
    }
    return *account;
}

}  // namespace test

namespace test {

// Test path settings: the environment variable when set (ctest), else the
// compile-time default.
#ifdef ACME_TEST_SHARED_DIR
inline std::string shared_dir() { return core::env_or("SHARED_DIR", ACME_TEST_SHARED_DIR); }
inline std::string source_dir() { return core::env_or("SOURCE_DIR", ACME_TEST_SOURCE_DIR); }
inline std::string python() { return core::env_or("PYTHON", ACME_TEST_PYTHON); }
#endif

#ifdef ACME_TEST_SHARED_DIR
// Boulder's behaviours in front of a started Pebble: tests/harness/boulder_proxy.py
// (see its docstring for the rules) as a child process on a free loopback
// port with its own TLS root. The client talks to directory() trusting
// ca_bundle(); rules are set over the proxy's /_proxy/ endpoints.
class BoulderProxy {
public:
    void start(const Pebble& pebble) {
        const std::string state = dir_.file("state.json");
        process_ = Process({python(), source_dir() + "/tests/harness/boulder_proxy.py", "--upstream",
                            pebble.directory(), "--upstream-ca", pebble.ca_bundle(), "--state", state},
                           {{"PYTHONDONTWRITEBYTECODE", "1"}}, dir_.file("proxy.log"));
        if (!wait_until([&] { return std::filesystem::exists(state); }, std::chrono::seconds{20}, &process_)) {
            throw std::runtime_error("boulder_proxy.py did not start: " + read_text(dir_.file("proxy.log")));
        }
        const auto doc = nlohmann::json::parse(read_text(state));
        port_ = doc.at("port").get<int>();
        ca_bundle_ = doc.at("ca_bundle").get<std::string>();
    }
    void stop() { process_.stop(); }

    std::string directory() const { return base() + "/dir"; }
    const std::string& ca_bundle() const { return ca_bundle_; }
    core::http::ClientOptions http_options() const {
        core::http::ClientOptions options;
        options.ca_bundle = ca_bundle_;
        return options;
    }
    // Replaces every rule (boulder_proxy.py: replaces_owner_check,
    // retry_after_on_500, faults, hold_processing).
    void set_rules(const nlohmann::json& rules) const { (void)checked(call("POST", "/_proxy/rules", rules.dump())); }
    // Requests seen per kind (newAccount, accountCreated, newOrder, finalize, ...).
    int count(const std::string& kind) const {
        return nlohmann::json::parse(checked(call("GET", "/_proxy/counts", ""))).value(kind, 0);
    }
    // Every request seen: [{"kind", "status", "t" (monotonic seconds)}].
    nlohmann::json log() const { return nlohmann::json::parse(checked(call("GET", "/_proxy/log", ""))); }
    // Seconds between consecutive requests of `kind`.
    std::vector<double> gaps(const std::string& kind) const {
        std::vector<double> times;
        for (const auto& entry : log()) {
            if (entry.at("kind") == kind) {
                times.push_back(entry.at("t").get<double>());
            }
        }
        std::vector<double> out;
        for (std::size_t i = 1; i < times.size(); ++i) {
            out.push_back(times[i] - times[i - 1]);
        }
        return out;
    }
    std::string output() const { return read_text(dir_.file("proxy.log")); }

private:
    std::string base() const { return "https://127.0.0.1:" + std::to_string(port_); }
    static std::string checked(core::Result<std::string> answer) {
        if (!answer.ok()) {
            throw std::runtime_error("boulder proxy control: " + answer.error().message);
        }
        return std::move(*answer);
    }
    core::Result<std::string> call(const std::string& method, const std::string& path, const std::string& body) const {
        core::http::Client client(http_options());
        core::http::Request request;
        request.method = method;
        request.url = base() + path;
        request.body = body;
        request.timeout = std::chrono::milliseconds{5000};
        TRY_ASSIGN(core::http::Response response, client.send(request));
        if (response.status != 200) {
            return core::make_error(core::ErrorKind::http, path + ": HTTP " + std::to_string(response.status));
        }
        return response.body;
    }

    TempDir dir_;
    Process process_;
    int port_ = 0;
    std::string ca_bundle_;
};

#endif

}  // namespace test
