#!/usr/bin/env bash
# The house style and clang-tidy, both at zero findings (a stage of
# scripts/test.sh; run it before sending a change):
#   format  clang-format --dry-run --Werror over every tracked C/C++ file
#           (.clang-format); `clang-format -i FILE` fixes one
#   tidy    clang-tidy (.clang-tidy) over the product sources, not the tests,
#           with the compile commands of $LINT_BUILD_DIR (default build-lint,
#           configured here, nothing built)
#
#   scripts/lint.sh              both
#   scripts/lint.sh format       one of them
#   scripts/lint.sh tidy FILE... clang-tidy on these files only
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
shift || true
build_dir=${LINT_BUILD_DIR:-build-lint}

check_format() {
  local files
  mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.h' '*.cc')
  clang-format --dry-run --Werror "${files[@]}" || return 1
  echo "lint: clang-format: ${#files[@]} files, 0 findings"
}

check_tidy() {
  local files=("$@")
  if ((${#files[@]} == 0)); then
    # The product: every layer's sources; their headers are checked through
    # them (HeaderFilterRegex in .clang-tidy).
    mapfile -t files < <(git ls-files '*.cpp' | grep -Ev '^(tests|bench)/')
  fi
  # A compile database of its own: the builds of scripts/test.sh are unity
  # builds, whose database names the batches, not the sources. Configuring
  # takes seconds and builds nothing.
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=OFF -DBUILD_TESTING=OFF >/dev/null
  # run-clang-tidy takes regular expressions: anchor each path.
  local patterns=()
  for f in "${files[@]}"; do
    patterns+=("^$(realpath "$f" | sed 's/[.+]/\\&/g')\$")
  done
  local log
  log=$(mktemp)
  trap 'rm -f "$log"' RETURN
  # run-clang-tidy 14 always asks for colours: strip them for the log.
  if ! run-clang-tidy -quiet -p "$build_dir" -j"$(nproc)" "${patterns[@]}" 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g' >"$log"; then
    grep -Ev '^(clang-tidy-?[0-9]* |Running clang-tidy|[0-9]+ warnings? generated|Suppressed [0-9]+ warnings|Use -header-filter)' "$log" >&2
    echo "lint: clang-tidy: $(grep -cE ' (error|warning): ' "$log") findings" >&2
    return 1
  fi
  echo "lint: clang-tidy: ${#files[@]} files, 0 findings"
}

case "$what" in
  all)
    check_format
    check_tidy
    ;;
  format) check_format ;;
  tidy) check_tidy "$@" ;;
  *) echo "usage: $0 [all|format|tidy [FILE...]]" >&2; exit 2 ;;
esac
