// A main() for the fuzz targets in builds without libFuzzer (gcc, the ASan
// build): runs LLVMFuzzerTestOneInput once over every file given, or every
// file of every directory given, so the seed corpora and the regression
// inputs of earlier crashes are checked by every build.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/atomic_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg(argv[i]);
        if (fs::is_directory(arg)) {
            for (const auto& entry : fs::directory_iterator(arg)) {
                if (entry.is_regular_file()) {
                    files.push_back(entry.path());
                }
            }
        } else {
            files.push_back(arg);
        }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) {
        std::fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    for (const auto& path : files) {
        const auto data = core::read_file(path.string());
        if (!data) {
            std::fprintf(stderr, "replay: %s\n", data.error().message.c_str());
            return 1;
        }
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data->data()), data->size());
    }
    std::printf("replay: %zu inputs ran without a crash\n", files.size());
    return 0;
}
