#!/usr/bin/env bash
# Installs the Debian packages the side-by-side benchmark needs (on demand:
# these are not test-suite dependencies, so scripts/deps.sh does not list
# them). scripts/deps.sh does the installing: idempotent, non-interactive.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
packages=(
  # the other ACME clients, from Debian
  lego certbot python3-certbot-dns-rfc2136 uacme
  # measuring and reporting: rusage of the child tree, the chart, jq for the
  # user-data comparison, util-linux for unshare (uacme's CA bundle)
  time gnuplot-nox jq util-linux binutils
)
# Build tools, Pebble, bind9, awscli and fakeaws' Python modules, and these.
"$here/../scripts/deps.sh" "${packages[@]}"
