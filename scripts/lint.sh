#!/usr/bin/env bash
# The house style and clang-tidy, both at zero findings (a stage of
# scripts/test.sh; run it before sending a change):
#   format  clang-format --dry-run --Werror over every tracked C/C++ file
#           (.clang-format); `clang-format -i FILE` fixes one
#   tidy    clang-tidy (.clang-tidy) over the product sources, not the tests,
#           in CMake's unity batches of $LINT_UNITY_BATCH (default 8) sources
#           (compile commands of $LINT_BUILD_DIR/unity; LINT_BUILD_DIR
#           defaults to build-lint; configured here, nothing built)
#
#   scripts/lint.sh              both
#   scripts/lint.sh format       one of them
#   scripts/lint.sh tidy FILE... clang-tidy on these files only, each on
#                                its own ($LINT_BUILD_DIR, not unity)
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

# run-clang-tidy over the compile database in $1 (the files matching the
# patterns after it, all when none); prints the findings and fails on any.
run_tidy() {
  local db=$1
  shift
  local log
  log=$(mktemp)
  # The configuration is given, not looked up beside each file: the unity
  # sources live in the build folder, which may be outside the repository.
  # As one line of JSON (Debian's python3 has yaml, scripts/deps.sh), so the
  # command run-clang-tidy echoes stays one line the filter below drops.
  local config
  config=$(/usr/bin/python3 -c 'import json, yaml; print(json.dumps(yaml.safe_load(open(".clang-tidy"))))')
  # run-clang-tidy 14 always asks for colours: strip them for the log.
  if run-clang-tidy -quiet -p "$db" -j"$(nproc)" -config="$config" "$@" 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g' >"$log"; then
    rm -f "$log"
    return 0
  fi
  grep -Ev '^(clang-tidy-?[0-9]* |Running clang-tidy|[0-9]+ warnings? generated|Suppressed [0-9]+ warnings|Use -header-filter)' "$log" >&2
  echo "lint: clang-tidy: $(grep -cE ' (error|warning): ' "$log") findings" >&2
  rm -f "$log"
  return 1
}

# Single files, each as its own translation unit, with the compile commands
# of $LINT_BUILD_DIR (configured here, nothing built).
check_tidy_files() {
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=OFF -DBUILD_TESTING=OFF >/dev/null
  # run-clang-tidy takes regular expressions: anchor each path.
  local patterns=()
  for f in "$@"; do
    patterns+=("^$(realpath "$f" | sed 's/[.+]/\\&/g')\$")
  done
  run_tidy "$build_dir" "${patterns[@]}" || return 1
  echo "lint: clang-tidy: $# files, 0 findings"
}

# The whole product (every layer's sources, not the tests: BUILD_TESTING=OFF;
# the headers are checked through them, HeaderFilterRegex in .clang-tidy),
# in CMake's unity batches (docs: CONTRIBUTING.md, "The stages of
# scripts/test.sh"). Per source, clang-tidy spent most of its time on the
# std, nlohmann/json and fmt headers, parsing them and running every check's
# matchers over their declarations; a batch does that once for up to
# $LINT_UNITY_BATCH sources (the builds' unity batches, already proven to
# compile together). The sources are headers of the batch there, hence
# `.cpp` in HeaderFilterRegex; findings still name the source file and line.
# What a batch cannot see, like the builds: a source that compiles only
# thanks to an #include of an earlier source of its batch (`tidy FILE`, or a
# plain non-unity build, reports it).
check_tidy_product() {
  local dir=$build_dir/unity
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
    -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE="${LINT_UNITY_BATCH:-8}" \
    -DCMAKE_PROJECT_INCLUDE="$PWD/scripts/lint-unity.cmake" >/dev/null
  run_tidy "$dir" || return 1
  local mains sources=0
  mapfile -t mains < <(sed -n 's/^ *"file": "\(.*\)",\{0,1\}$/\1/p' "$dir/compile_commands.json")
  for f in "${mains[@]}"; do
    if [[ $f == */Unity/unity_* ]]; then
      sources=$((sources + $(grep -c '^#include ' "$f")))
    else
      sources=$((sources + 1))
    fi
  done
  echo "lint: clang-tidy: $sources files in ${#mains[@]} batches, 0 findings"
}

check_tidy() {
  if (($# == 0)); then
    check_tidy_product
  else
    check_tidy_files "$@"
  fi
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
