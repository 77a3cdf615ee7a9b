// The directory store at a path, for tests that need a Store and treat a
// configuration error as a broken test.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "secrets/store.hpp"

namespace test_fs {

inline std::unique_ptr<secrets::Store> dir_store(const std::string& path) {
    auto store = secrets::make_store("dir:" + path);
    if (!store) {
        throw std::runtime_error(store.error().message);
    }
    return std::move(store).value();
}

}  // namespace test_fs
