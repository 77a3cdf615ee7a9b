// unique_ptr for C library handles (OpenSSL, libcurl, c-ares, libidn2): the
// free function is the template argument, so each handle type is one alias
// instead of a hand-written deleter struct.
//   using Bio = core::CHandle<BIO, BIO_free_all>;
#pragma once

#include <memory>

namespace core {

template <auto Free>
struct CDeleter {
    template <class T>
    void operator()(T* handle) const {
        if (handle != nullptr) {
            Free(handle);
        }
    }
};

template <class T, auto Free>
using CHandle = std::unique_ptr<T, CDeleter<Free>>;

}  // namespace core
