#!/usr/bin/env bash
# Installs the Debian packages the side-by-side benchmark needs (on demand:
# these are not test-suite dependencies, so scripts/deps.sh does not list
# them). Idempotent and non-interactive: packages already present are
# skipped, so a second run costs one dpkg query.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
"$here/../scripts/deps.sh"   # build tools, Pebble, bind9, awscli, fakeaws' Python modules

packages=(
  # the other ACME clients, from Debian
  lego certbot python3-certbot-dns-rfc2136 uacme
  # measuring and reporting: rusage of the child tree, the chart, jq for the
  # user-data comparison, util-linux for unshare (uacme's CA bundle)
  time gnuplot-nox jq util-linux binutils
)

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
echo "bench deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
