#include "test_util.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base64.hpp"
#include "core/digest.hpp"
#include "core/env.hpp"
#include "core/retry.hpp"
#include "dns/resolver.hpp"

extern char** environ;

namespace dns_test {

TempDir::TempDir() {
    std::string templ = core::env_or("TMPDIR", "/tmp") + "/renewer-dns-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    path_ = templ;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void TempDir::write(const std::string& name, const std::string& content, int mode) const {
    const std::string p = file(name);
    {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out << content;
    }
    ::chmod(p.c_str(), static_cast<mode_t>(mode));
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

namespace {

int bound_port(int type, int port) {
    const int fd = ::socket(AF_INET, type, 0);
    if (fd < 0) {
        return -1;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

}  // namespace

int free_port() {
    for (int i = 0; i < 50; ++i) {
        const int port = bound_port(SOCK_STREAM, 0);
        if (port > 0 && bound_port(SOCK_DGRAM, port) == port) {
            return port;
        }
    }
    throw std::runtime_error("no free port");
}

int closed_port() { return free_port(); }

std::string random_secret(std::size_t bytes) { return core::base64_encode(core::random_bytes(bytes)); }

std::unique_ptr<BindServer> BindServer::start(const std::vector<ZoneSpec>& zones, const std::vector<TsigKeySpec>& keys,
                                              std::string* error) {
    std::unique_ptr<BindServer> server(new BindServer());
    const std::string& dir = server->dir_.path();
    server->port_ = free_port();
    std::string conf;
    conf += "options {\n  directory \"" + dir + "\";\n  pid-file \"" + dir + "/named.pid\";\n";
    conf += "  session-keyfile \"" + dir + "/session.key\";\n  managed-keys-directory \"" + dir + "\";\n";
    conf += "  listen-on port " + std::to_string(server->port_) + " { 127.0.0.1; };\n  listen-on-v6 { none; };\n";
    conf += "  recursion no;\n  dnssec-validation no;\n  notify no;\n  allow-query { any; };\n};\n";
    conf += "controls { };\n";
    std::string grants;
    for (const auto& k : keys) {
        conf += "key \"" + k.name + "\" { algorithm " + k.algorithm + "; secret \"" + k.secret + "\"; };\n";
        grants += " grant " + k.name + " zonesub ANY;";
    }
    for (const auto& z : zones) {
        std::string zone_file = "$TTL 300\n@ IN SOA ns1." + z.name + ". hostmaster." + z.name +
                                ". 1 3600 600 86400 60\n@ IN NS ns1." + z.name + ".\nns1 IN A 127.0.0.1\n" + z.records +
                                "\n";
        server->dir_.write(z.name + ".db", zone_file);
        conf += "zone \"" + z.name + "\" { type primary; file \"" + dir + "/" + z.name + ".db\";";
        if (!grants.empty()) {
            conf += " update-policy {" + grants + " };";
        }
        conf += " };\n";
    }
    server->dir_.write("named.conf", conf);

    const std::string log_path = dir + "/named.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::string exe = "/usr/sbin/named";
    std::string a_g = "-g";
    std::string a_c = "-c";
    std::string conf_path = dir + "/named.conf";
    std::string a_4 = "-4";
    std::string a_n = "-n";
    std::string one = "1";
    char* argv[] = {exe.data(), a_g.data(), a_c.data(), conf_path.data(), a_4.data(), a_n.data(), one.data(), nullptr};
    const int rc = posix_spawn(&server->pid_, exe.c_str(), &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        *error = std::string("cannot start named: ") + std::strerror(rc);
        server->pid_ = -1;
        return nullptr;
    }
    // Ready when it answers SOA for the first zone (bounded polling).
    const auto deadline = core::Deadline::after(std::chrono::seconds(30));
    dns::ResolverOptions ro;
    ro.servers = server->address();
    ro.recursion = dns::Recursion::off;
    ro.try_timeout = std::chrono::milliseconds(200);
    ro.tries = 1;
    auto resolver = dns::Resolver::create(ro);
    if (!resolver) {
        *error = resolver.error().message;
        return nullptr;
    }
    std::chrono::milliseconds delay(20);
    while (true) {
        int status = 0;
        if (::waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
            server->pid_ = -1;
            *error = "named exited during start-up:\n" + server->log();
            return nullptr;
        }
        auto answer = resolver->query(zones.front().name, dns::wire::RrType::soa, core::Deadline::after(delay * 10));
        if (answer && answer->rcode() == 0 && !answer->answers.empty()) {
            return server;
        }
        if (deadline.expired()) {
            *error = "named did not answer within 30 s:\n" + server->log();
            return nullptr;
        }
        (void)core::sleep_for(delay, deadline);
        delay = std::min(delay * 2, std::chrono::milliseconds(250));
    }
}

BindServer::~BindServer() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        const auto deadline = core::Deadline::after(std::chrono::seconds(10));
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (deadline.expired()) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            (void)core::sleep_for(std::chrono::milliseconds(20), deadline);
        }
    }
}

std::string BindServer::log() const { return read_text(dir_.file("named.log")); }

}  // namespace dns_test
