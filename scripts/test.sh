#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs the whole
# test suite through CTest. Extra arguments go to ctest (e.g. -L unit) and
# then only that main stage runs.
#
# Without arguments (CI) a lint stage comes first and two more stages follow
# the main suite:
#   lint     scripts/lint.sh: clang-format and clang-tidy at zero findings
#   asan     the clang build (build-clang, scripts/build-clang.sh) with ASan,
#            UBSan and libFuzzer coverage runs the unit, e2e and fuzz-replay
#            labels again; any ASan/UBSan report fails
#   fuzz     scripts/fuzz.sh: each libFuzzer target for FUZZ_SECONDS (30) s,
#            built from the same clang objects
#   (memcheck runs inside the main suite: label memcheck, valgrind)
# RENEWER_STAGES="lint main asan fuzz" picks stages; the time of each is
# printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

build_dir=${BUILD_DIR:-build}
clang_dir=${CLANG_BUILD_DIR:-build-clang}
jobs=$(nproc)
if (($# > 0)); then
  stages=${RENEWER_STAGES:-main}
else
  stages=${RENEWER_STAGES:-lint main asan fuzz}
fi
timings=()
stage_start=0
begin() { stage_start=$(date +%s); echo "test.sh: --- $1 ---"; }
finish() { timings+=("$(printf '%-12s %5d s' "$1" $(($(date +%s) - stage_start)))"); }
report() {
  echo "test.sh: stage times"
  for t in "${timings[@]}"; do echo "  $t"; done
}
trap report EXIT

# The same configuration as scripts/demo.sh, so the suite completes the build
# the demo started.
configure_main() { cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWERROR=ON; }

if [[ " $stages " == *" lint "* ]]; then
  begin lint
  configure_main >/dev/null
  BUILD_DIR=$build_dir scripts/lint.sh
  finish lint
fi

if [[ " $stages " == *" main "* ]]; then
  begin build
  configure_main
  cmake --build "$build_dir" -j"$jobs"
  finish build

  begin tests
  start=$(date +%s)
  ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j"$jobs" "$@"
  echo "test.sh: suite wall time $(( $(date +%s) - start )) s"
  finish tests
fi

if [[ " $stages " == *" asan "* ]]; then
  # One clang build for this stage and the fuzz stage. The AWS CLI fidelity
  # suite tests the fake, not our code: skipped here.
  begin asan-build
  CLANG_BUILD_DIR=$clang_dir JOBS=$jobs scripts/build-clang.sh
  finish asan-build

  begin asan-tests
  # Reports go to files, so one in a process a test expected to fail is still
  # seen: any file there fails the stage.
  reports=$(realpath -m "$clang_dir/sanitizer-reports")
  rm -rf "$reports"
  mkdir -p "$reports"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:log_path=$reports/asan \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan \
    ctest --test-dir "$clang_dir" --output-on-failure --timeout 600 -j"$jobs" -L 'unit|e2e|fuzz' -E 'fidelity|awscli'
  if [[ -n $(ls -A "$reports") ]]; then
    for f in "$reports"/*; do echo "--- $f ---"; head -60 "$f"; done
    echo "test.sh: sanitizer reports in $reports" >&2
    exit 1
  fi
  echo "test.sh: ASan/UBSan: 0 reports"
  finish asan-tests
fi

if [[ " $stages " == *" fuzz "* ]]; then
  begin fuzz
  FUZZ_BUILD_DIR=$clang_dir FUZZ_JOBS=$jobs scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
  finish fuzz
fi
