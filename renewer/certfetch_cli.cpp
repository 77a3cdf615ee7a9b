#include "renewer/certfetch_cli.hpp"

#include <exception>
#include <iostream>
#include <string>

#include <cxxopts.hpp>

#include "renewer/exit_codes.hpp"
#include "version.hpp"

namespace renewer {
namespace {

constexpr const char* k_usage_tail = R"(
certfetch runs on every web host at boot (before nginx) and on a timer: it
fetches the certificate secret, verifies it, writes the PEM files atomically
and runs --reload only when something changed.

Exit codes:
  0  files written, or unchanged
  1  failure; existing files were left exactly as they were
  2  bad flags
)";

}  // namespace

int certfetch_main(int argc, char** argv) {
    try {
        cxxopts::Options options("certfetch", "Fetch a certificate secret and write it for nginx.");
        options.add_options()
            ("h,help", "show this help")
            ("version", "print the version")
            ("secret-id", "Secrets Manager secret name or ARN", cxxopts::value<std::string>())
            ("out", "folder for fullchain.pem, privkey.pem and chain.pem", cxxopts::value<std::string>())
            ("expect-name", "a name the certificate must cover", cxxopts::value<std::string>())
            ("owner", "owner of the written files", cxxopts::value<std::string>())
            ("group", "group of the written files", cxxopts::value<std::string>())
            ("mode", "mode of the private key file", cxxopts::value<std::string>()->default_value("0600"))
            ("reload", "command to run when something changed (e.g. 'systemctl reload nginx')",
             cxxopts::value<std::string>());
        auto args = options.parse(argc, argv);
        if (args.count("help") != 0U) {
            std::cout << options.help() << k_usage_tail;
            return k_exit_ok;
        }
        if (args.count("version") != 0U) {
            std::cout << "certfetch " << RENEWER_VERSION << "\n";
            return k_exit_ok;
        }
        std::cerr << "certfetch: fetching is not available in this build yet (see README)\n";
        return k_exit_failed;
    } catch (const cxxopts::exceptions::exception& e) {
        std::cerr << "certfetch: " << e.what() << "\n";
        return k_exit_bad_config;
    } catch (const std::exception& e) {
        std::cerr << "certfetch: " << e.what() << "\n";
        return k_exit_failed;
    }
}

}  // namespace renewer
