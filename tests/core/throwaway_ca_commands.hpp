// The openssl CLI command lines that make a throwaway TLS setup for a test
// server on 127.0.0.1: a self-signed P-256 root valid two days, a server key
// and request, and the root's signature on it. Each caller runs them its own
// way (and keeps its own log); they differ only in file names and subjects.
#pragma once

#include <string>
#include <vector>

namespace test_tls {

using Command = std::vector<std::string>;

// A self-signed CA: `key` and `cert` written, `subject` like "/CN=test CA".
inline Command root_command(const std::string& openssl, const std::string& key, const std::string& cert,
                            const std::string& subject) {
    return {openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key,
            "-out",
            cert,
            "-subj",
            subject,
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign"};
}

// A server key and its request for CN=127.0.0.1 (the names go in the
// extensions file given to sign_command).
inline Command server_request_command(const std::string& openssl, const std::string& key, const std::string& csr) {
    return {openssl,  "req",     "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", key,    "-out",    csr,  "-subj",    "/CN=127.0.0.1"};
}

// The CA's signature on `csr` with the extensions of `extfile`, valid two days.
inline Command sign_command(const std::string& openssl, const std::string& csr, const std::string& ca_cert,
                            const std::string& ca_key, const std::string& out, const std::string& extfile) {
    return {openssl,           "x509", "-req", "-in",   csr, "-CA",      ca_cert, "-CAkey", ca_key,
            "-CAcreateserial", "-out", out,    "-days", "2", "-extfile", extfile};
}

}  // namespace test_tls
