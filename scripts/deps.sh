#!/usr/bin/env bash
# Installs every Debian package the project, its tests and its demo need.
# Idempotent and non-interactive: packages already present are skipped, so a
# second run costs one dpkg query.
#   --build-only  only what configuring and building the binaries with
#                 -DBUILD_TESTING=OFF needs (the container image's build stage,
#                 deploy/Dockerfile)
#   PACKAGE...    these too (bench/deps.sh adds the other ACME clients)
set -euo pipefail

build_only=0
extra=()
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    -*) echo "usage: $0 [--build-only] [PACKAGE...]" >&2; exit 2 ;;
    *) extra+=("$arg") ;;
  esac
done

build_packages=(
  build-essential cmake pkg-config
  libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libcxxopts-dev libfmt-dev
  libpugixml-dev libc-ares-dev libidn2-dev
)
packages=(
  "${build_packages[@]}"
  # the unit tests, and the compiler cache the scripts use when it is there
  libgtest-dev libgmock-dev ccache
  # test peers: ACME CA, DNS, web server, AWS reference implementations
  pebble bind9 bind9-utils bind9-dnsutils nginx curl openssl ca-certificates
  python3 python3-botocore python3-dnslib awscli
  # reliability and deploy checks: libFuzzer, sanitizers, memcheck,
  # systemd-analyze for the units, YAML for the infrastructure template,
  # scripts/lint.sh's formatter and linter
  clang libclang-rt-14-dev llvm valgrind systemd python3-yaml clang-format clang-tidy
  # the sanitizer build links its ~20 test and fuzz executables with lld
  # (scripts/build-clang.sh)
  lld
  # the certfetch crash matrix kills it at each system call (strace fault injection)
  strace
  # the Debian packages' checks (tests/deploy/test_packages.py; cpack and
  # dpkg-shlibdeps come with cmake and build-essential)
  lintian
)

if ((build_only)); then
  packages=("${build_packages[@]}")
fi
packages+=("${extra[@]}")

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) != 0 ]]; then
  sudo="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian's bind9 and nginx start services on install where an init system runs;
# the tests start their own instances on loopback ports, so stop the system ones.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  $sudo systemctl disable --now named nginx >/dev/null 2>&1 || true
fi
