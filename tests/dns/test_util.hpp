// Small helpers shared by the dns tests: temp dirs, free loopback ports, and a
// Debian bind9 (`named`) started in the foreground on a free port.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace dns_test {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    void write(const std::string& name, const std::string& content, int mode = 0644) const;

private:
    std::string path_;
};

std::string read_text(const std::string& path);

// A port free for both TCP and UDP on 127.0.0.1 (bound once to 0, then released).
int free_port();
// A loopback port nothing listens on (TCP and UDP closed): for "unreachable".
int closed_port();

struct TsigKeySpec {
    std::string name;
    std::string algorithm;  // "hmac-sha256" / "hmac-sha512"
    std::string secret;     // base64
};

struct ZoneSpec {
    std::string name;     // "example.test"
    std::string records;  // zone-file lines after SOA/NS (relative names)
};

// named -g -c <dir>/named.conf, primary for the given zones, updates allowed
// with the given keys. Stopped (SIGTERM, then SIGKILL) on destruction.
class BindServer {
public:
    static std::unique_ptr<BindServer> start(const std::vector<ZoneSpec>& zones, const std::vector<TsigKeySpec>& keys,
                                             std::string* error);
    ~BindServer();
    BindServer(const BindServer&) = delete;
    BindServer& operator=(const BindServer&) = delete;

    int port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    std::string log() const;

private:
    BindServer() = default;
    TempDir dir_;
    pid_t pid_ = -1;
    int port_ = 0;
};

// A random base64 secret of `bytes` bytes.
std::string random_secret(std::size_t bytes);

}  // namespace dns_test
