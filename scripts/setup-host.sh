#!/usr/bin/env bash
# Installs what the controller needs to run the bench: Debian packages (the
# -dev ones build Odoo's wheelhouse: psycopg2, python-ldap), a Docker
# engine (started here when none answers), Chromium and its driver for the
# browser checks, shellcheck for ansible-test sanity, and the local base
# image. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

need_pkgs=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in docker.io debootstrap postgresql-15 postgresql-contrib postgresql-15-partman \
         python3-venv python3-yaml \
         redis-tools make git ca-certificates iproute2 \
         gcc python3-dev libpq-dev libldap2-dev libsasl2-dev wrk \
         chromium chromium-driver shellcheck; do
  have "$p" || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
  echo "setup-host: installing ${need_pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # Debian starts the packaged cluster; the controller only needs
  # their binaries (unit tests start throwaway servers of their own).
  systemctl disable --now postgresql >/dev/null 2>&1 || true
  pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
fi

"$here/dockerd-up.sh"
