#include "core/unique_fd.hpp"

#include <fcntl.h>

namespace core {

Pipe make_pipe() {
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return {};
    }
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace core
