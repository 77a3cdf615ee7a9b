#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) in the clang build with ASan and
# UBSan (scripts/build-clang.sh, which the sanitizer stage of scripts/test.sh
# shares), then fuzzes each for a while, two at a time, and prints the
# executions per target.
#
#   scripts/fuzz.sh                 every target, 30 s each (scripts/test.sh: 15 s)
#   scripts/fuzz.sh 3600 pem        one target for an hour
#
# Env: FUZZ_BUILD_DIR (default $CLANG_BUILD_DIR, else build-clang), FUZZ_JOBS
# (targets at once, default 2).
# The corpus each run grows is kept in $FUZZ_BUILD_DIR/fuzz-work/<target>, so
# longer runs resume; a crash leaves its input in
# $FUZZ_BUILD_DIR/fuzz-artifacts/<target>/ and fails the script. Reproduce one
# with `$FUZZ_BUILD_DIR/bin/fuzz_<target> FILE`, fix it, and copy FILE to
# tests/fuzz/corpus/<target>/regress-<what>.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(acme_json aws_xml pem config dns_wire)
fi
build=${FUZZ_BUILD_DIR:-${CLANG_BUILD_DIR:-build-clang}}
jobs=${FUZZ_JOBS:-2}

CLANG_BUILD_DIR=$build scripts/build-clang.sh "${targets[@]/#/fuzz_}"

# PEM seeds with throwaway keys: generated here, in the build directory only.
seeds="$build/fuzz-seeds"
rm -rf "$seeds"
/usr/bin/python3 tests/fuzz/make_seeds.py keys "$seeds/pem"

run_one() {
  local t=$1
  local work="$build/fuzz-work/$t" artifacts="$build/fuzz-artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  local extra=()
  if [[ -d $seeds/$t ]]; then
    extra=("$seeds/$t")
  fi
  # -timeout: one input taking longer is a hang (a finding); -rss_limit_mb bounds memory.
  "$build/bin/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" "$work" "tests/fuzz/corpus/$t" "${extra[@]}" >"$build/fuzz-$t.log" 2>&1
}

status=0
pids=()
names=()
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do
    wait -n || true
  done
  run_one "$t" &
  pids+=($!)
  names+=("$t")
done
declare -A rc
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then rc[${names[$i]}]=0; else rc[${names[$i]}]=$?; fi
done

printf '%-10s %12s %10s %8s %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
  log="$build/fuzz-$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$build/fuzz-work/$t" -type f | wc -l)
  if [[ ${rc[$t]} == 0 ]]; then
    result=ok
  else
    result="FAILED (exit ${rc[$t]}, log $log)"
    status=1
  fi
  printf '%-10s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${speed:-?}" "$corpus" "$result"
done
if ((status != 0)); then
  for t in "${targets[@]}"; do
    if [[ ${rc[$t]} != 0 ]]; then
      echo "--- fuzz_$t (tail of $build/fuzz-$t.log) ---"
      tail -40 "$build/fuzz-$t.log"
      ls -l "$build/fuzz-artifacts/$t/"
    fi
  done
fi
exit $status
