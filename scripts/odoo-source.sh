#!/usr/bin/env bash
# Finds the Odoo tree the local stack and the tests run, in this order:
#   1. ODOO_SOURCE, when set and not empty (an error if it is no Odoo tree);
#   2. the cache, ~/.cache/odoo-scale/odoo-<series> (ODOO_SCALE_CACHE_DIR);
#   3. unless --no-clone: a shallow clone of the official repository at the
#      series' branch (ODOO_SCALE_ODOO_GIT_URL), made into the cache.
# Prints the tree's path on stdout and exits 0, or prints nothing, says why
# on stderr in one line and exits 3 when no tree can be had.
set -euo pipefail
series="${ODOO_SERIES:-17.0}"
url="${ODOO_SCALE_ODOO_GIT_URL:-https://github.com/odoo/odoo.git}"
cache="${ODOO_SCALE_CACHE_DIR:-${HOME}/.cache/odoo-scale}/odoo-${series}"
clone=1
[[ ${1:-} == --no-clone ]] && clone=0

if [[ -n ${ODOO_SOURCE:-} ]]; then
  if [[ -f ${ODOO_SOURCE}/odoo/release.py ]]; then
    echo "$ODOO_SOURCE"
    exit 0
  fi
  echo "odoo-source: ODOO_SOURCE=${ODOO_SOURCE} is not an Odoo tree (no odoo/release.py there)" >&2
  exit 2
fi
if [[ -f $cache/odoo/release.py ]]; then
  echo "$cache"
  exit 0
fi
if ((clone)); then
  echo "odoo-source: cloning ${url} (branch ${series}, shallow) into ${cache}" >&2
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache.part"
  # A stalled transfer gives up after a minute below 1 kB/s.
  if GIT_TERMINAL_PROMPT=0 GIT_HTTP_LOW_SPEED_LIMIT=1000 GIT_HTTP_LOW_SPEED_TIME=60 \
     git clone --quiet --depth 1 --single-branch --branch "$series" "$url" "$cache.part" >&2 &&
     [[ -f $cache.part/odoo/release.py ]]; then
    mv "$cache.part" "$cache"
    echo "$cache"
    exit 0
  fi
  rm -rf "$cache.part"
  echo "odoo-source: no Odoo ${series} tree: ODOO_SOURCE is not set, ${cache} is empty and the clone of ${url} failed" >&2
else
  echo "odoo-source: no Odoo ${series} tree: ODOO_SOURCE is not set and ${cache} is empty" >&2
fi
exit 3
