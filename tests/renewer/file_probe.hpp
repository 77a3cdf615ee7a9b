// What the certificate folders hold, as the certfetch and directory-store
// tests inspect them.
#pragma once

#include <filesystem>
#include <string>

#include "core/atomic_file.hpp"

namespace test_files {

// The file's content, or "<missing>".
inline std::string read(const std::string& path) {
    auto text = core::read_file(path);
    return text ? *text : std::string("<missing>");
}

// A symbolic link's text, or "" when `path` is not one.
inline std::string link_of(const std::string& path) {
    std::error_code ec;
    return std::filesystem::read_symlink(path, ec).string();
}

}  // namespace test_files
