#!/usr/bin/env bash
# The renewer demo on one machine: installs what is missing (scripts/deps.sh),
# builds the two binaries the demo runs with warnings as errors, then
# scripts/demo.py tells the story with Pebble, tests/fakeaws and nginx on
# loopback. Exit status 0 when every step worked; everything it starts is
# stopped again. The build folder and its configuration are scripts/test.sh's,
# which reuses the binaries (a unity build: a few sources per compiler run,
# CONTRIBUTING.md).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON -DWERROR=ON
cmake --build "$build_dir" -j"$(nproc)" --target renewer certfetch

# Debian's interpreter: tests/fakeaws needs python3-botocore and python3-dnslib.
exec /usr/bin/python3 scripts/demo.py "$build_dir"
