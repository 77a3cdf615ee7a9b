#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs the whole
# test suite through CTest. Extra arguments go to ctest (e.g. -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

build_dir=${BUILD_DIR:-build}
jobs=$(nproc)
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWERROR=ON
cmake --build "$build_dir" -j"$jobs"

start=$(date +%s)
ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j"$jobs" "$@"
echo "test.sh: suite wall time $(( $(date +%s) - start )) s"
