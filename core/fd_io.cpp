#include "core/fd_io.hpp"

#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace core::fd_io {

Error io_error(const std::string& path, const char* step, int err) {
    return make_error(ErrorKind::io, path + ": " + step + ": " + std::strerror(err));
}

Status write_all(int fd, std::string_view content, const std::string& path, const char* step) {
    while (!content.empty()) {
        const ssize_t n = ::write(fd, content.data(), content.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return io_error(path, step, errno);
        }
        content.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

}  // namespace core::fd_io
