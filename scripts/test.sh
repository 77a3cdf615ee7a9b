#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs the whole
# test suite through CTest, every test once. Extra arguments go to ctest (e.g.
# -L unit) and then only the build and tests stages run.
#
# Two builds (docs: CONTRIBUTING.md, "The stages of scripts/test.sh"):
#   build        gcc, RelWithDebInfo: the two shipped binaries (what
#                scripts/demo.sh builds; the tests are not built here)
#   build-clang  clang with ASan, UBSan and libFuzzer coverage (-O0,
#                scripts/build-clang.sh): every test and fuzz target
# Stages:
#   lint     scripts/lint.sh: clang-format (first) and clang-tidy (beside the
#            builds and the sanitizer tests, at the lowest priority) at zero
#            findings
#   build    both builds
#   tests    the suite on build-clang under the sanitizers (any ASan/UBSan
#            report fails), except what needs the shipped, uninstrumented
#            binaries: the crash and fault matrices (label faults), valgrind
#            (label memcheck) and the deployment checks (label deploy: the
#            image's libraries, IAM, units) run on build
#   fuzz     scripts/fuzz.sh: each libFuzzer target for FUZZ_SECONDS (15) s
# RENEWER_STAGES="lint build tests fuzz" picks stages; the time of each is
# printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

build_dir=${BUILD_DIR:-build}
clang_dir=${CLANG_BUILD_DIR:-build-clang}
jobs=$(nproc)
if (($# > 0)); then
  stages=${RENEWER_STAGES:-build tests}
else
  stages=${RENEWER_STAGES:-lint build tests fuzz}
fi
timings=()
script_start=$(date +%s)
stage_start=0
begin() { stage_start=$(date +%s); echo "test.sh: --- $1 ---"; }
finish() { timings+=("$(printf '%-12s %5d s' "$1" $(($(date +%s) - stage_start)))"); }
report() {
  echo "test.sh: stage times"
  for t in "${timings[@]}"; do echo "  $t"; done
  echo "  total        $(($(date +%s) - script_start)) s"
}

# The same configuration as scripts/demo.sh, so a demo's build is reused.
configure_main() { cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON -DWERROR=ON; }
# CTest names of the suites that run on the uninstrumented gcc build.
uninstrumented='^(faults_.*|e2e_memcheck|deploy_.*)$'

# clang-format first (seconds); clang-tidy (about 260 s of CPU in unity
# batches, scripts/lint.sh) runs at the lowest priority beside the builds and
# the tests, on the cycles they leave (links, tests waiting on their peers),
# and is waited for at the end.
tidy_pid=
tidy_log=$(mktemp)
trap 'report; [[ -n $tidy_pid ]] && kill "$tidy_pid" 2>/dev/null; rm -f "$tidy_log"' EXIT
if [[ " $stages " == *" lint "* ]]; then
  begin lint-format
  scripts/lint.sh format
  finish lint-format
fi
start_tidy() {
  tidy_start=$(date +%s)
  nice -n 19 scripts/lint.sh tidy >"$tidy_log" 2>&1 &
  tidy_pid=$!
}
wait_tidy() {
  local status=0
  wait "$tidy_pid" || status=$?
  tidy_pid=
  cat "$tidy_log"
  timings+=("$(printf '%-12s %5d s (beside the builds and tests)' lint-tidy $(($(date +%s) - tidy_start)))")
  return "$status"
}

if [[ " $stages " == *" lint "* ]]; then
  start_tidy
  if [[ " $stages " != *" tests "* ]]; then
    wait_tidy
  fi
fi

if [[ " $stages " == *" build "* ]]; then
  begin build-gcc
  configure_main
  cmake --build "$build_dir" -j"$jobs" --target renewer certfetch faults_dir_store_put
  finish build-gcc

  begin build-clang
  CLANG_BUILD_DIR=$clang_dir JOBS=$jobs scripts/build-clang.sh
  finish build-clang
fi

# Sanitizer reports go to files, so one from a process a test expected to
# fail is still seen: any file there fails the stage. Most of these tests wait
# on peers (Pebble, bind9, fakeaws, timeouts) rather than compute: two per
# core. The crash and fault matrices below kill at log lines: one per core.
sanitized_ctest() {
  local reports
  reports=$(realpath -m "$clang_dir/sanitizer-reports")
  rm -rf "$reports"
  mkdir -p "$reports"
  local status=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:log_path=$reports/asan \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan \
    ctest --test-dir "$clang_dir" --output-on-failure --timeout 600 -j"$((jobs * 2))" -E "$uninstrumented" "$@" || status=$?
  if [[ -n $(ls -A "$reports") ]]; then
    for f in "$reports"/*; do echo "--- $f ---"; head -60 "$f"; done
    echo "test.sh: sanitizer reports in $reports" >&2
    return 1
  fi
  echo "test.sh: ASan/UBSan: 0 reports"
  return "$status"
}

if [[ " $stages " == *" tests "* ]]; then
  begin tests-clang
  sanitized_ctest "$@"
  finish tests-clang

  # Beside clang-tidy too: it runs at nice 19, so these kill-at-a-log-line
  # matrices still get the CPU when they need it.
  begin tests-gcc
  ctest --test-dir "$build_dir" --output-on-failure --timeout 600 -j"$jobs" -R "$uninstrumented" "$@"
  finish tests-gcc
fi

if [[ " $stages " == *" fuzz "* ]]; then
  begin fuzz
  FUZZ_BUILD_DIR=$clang_dir FUZZ_JOBS=$jobs scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
  finish fuzz
fi

if [[ -n $tidy_pid ]]; then
  wait_tidy
fi
