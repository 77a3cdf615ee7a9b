// Not a test: the crash matrix (test_certfetch_crash.py) runs this under
// strace to SIGKILL the directory store's put() at each of its file-system
// calls. It puts the bundle in $CERTFETCH_TEST_BUNDLE (JSON) into
// dir:$CERTFETCH_TEST_STORE, the folder nginx reads. A program of its own,
// not a test executable's filter, so the uninstrumented build that runs the
// crash matrix builds it in seconds (scripts/test.sh).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/atomic_file.hpp"
#include "secrets/bundle.hpp"
#include "secrets/store.hpp"

namespace {

int fail(const std::string& message) {
    std::fprintf(stderr, "dir_store_put: %s\n", message.c_str());
    return 1;
}

}  // namespace

int main() {
    const char* dir = std::getenv("CERTFETCH_TEST_STORE");
    const char* bundle_path = std::getenv("CERTFETCH_TEST_BUNDLE");
    if (dir == nullptr || bundle_path == nullptr) {
        return fail("CERTFETCH_TEST_STORE and CERTFETCH_TEST_BUNDLE must be set");
    }
    auto text = core::read_file(bundle_path);
    if (!text) {
        return fail(text.error().message);
    }
    auto bundle = secrets::parse_bundle(*text);
    if (!bundle) {
        return fail(bundle.error().message);
    }
    auto store = secrets::make_store(std::string("dir:") + dir);
    if (!store) {
        return fail(store.error().message);
    }
    if (auto put = (*store)->put(*bundle); !put) {
        return fail(put.error().message);
    }
    return 0;
}
