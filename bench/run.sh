#!/usr/bin/env bash
# The side-by-side benchmark, on demand (not part of scripts/test.sh):
# installs what is missing (bench/deps.sh), builds renewer + certfetch in
# Release into build-bench, runs every client x case (bench/bench.py) and
# writes bench/RESULTS.md and bench/results.png (bench/report.py).
#
#   bench/run.sh [bench.py options, e.g. --runs 5 --loop-certs 20]
#
# Needs root (or sudo) for apt-get and for uacme's private mount namespace.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build="${BUILD_DIR:-$src/build-bench}"

"$src/bench/deps.sh"

# Release (-O3). WERROR stays off here: GCC 12 reports a false -Wrestrict
# inside libstdc++'s std::string at -O3 (core/http.cpp); the test builds
# (RelWithDebInfo) keep -Werror.
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$src"
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWERROR=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target renewer certfetch

BUILD_DIR="$build" /usr/bin/python3 "$src/bench/bench.py" "$@"
# Supplementary: 100 certificates through RFC 2136 with --concurrency 16,
# next to uacme's loop measured again in the same (short) run.
BUILD_DIR="$build" /usr/bin/python3 "$src/bench/bench.py" --clients uacme,renewer_rfc2136_c16 \
  --out "$src/bench/results-concurrency.json"
# The pipelined run at real DNS speed (Route53 change delay 20 s, then 0);
# OLD_RENEWER=path adds the shape before it. The 1,000-certificate case gets
# a Pebble of its own (Debian's Pebble may deadlock under it,
# letsencrypt/pebble#554).
BUILD_DIR="$build" /usr/bin/python3 "$src/bench/bench.py" --clients pipeline --pipeline-cases thousand \
  --out "$src/bench/results-pipeline.json"
BUILD_DIR="$build" /usr/bin/python3 "$src/bench/bench.py" --clients pipeline \
  --pipeline-cases apex_wildcard,ten_names,many --append --out "$src/bench/results-pipeline.json"
/usr/bin/python3 "$src/bench/report.py" "$src/bench/results.json"
echo "bench: wrote $src/bench/RESULTS.md and $src/bench/results.png"
