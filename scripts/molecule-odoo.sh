#!/usr/bin/env bash
# The odoo molecule scenario (whole stack with real Odoo processes). Odoo's
# code is never in this repository: it comes from ODOO_SOURCE, else from
# ~/.cache/odoo-scale/odoo-17.0 (see README: Odoo source). Without one, the
# scenario is not run and one SKIPPED line says why; the other scenarios
# still deploy and verify everything but Odoo.
set -euo pipefail
cache="${HOME}/.cache/odoo-scale/odoo-17.0"
if [[ -z "${ODOO_SOURCE:-}" && -f "$cache/odoo/release.py" ]]; then
  export ODOO_SOURCE="$cache"
fi
if [[ -z "${ODOO_SOURCE:-}" || ! -f "${ODOO_SOURCE}/odoo/release.py" ]]; then
  echo "SKIPPED: molecule odoo: no Odoo source (set ODOO_SOURCE to an Odoo 17.0 tree or put one in $cache)"
  exit 75
fi
echo "molecule odoo: Odoo source ${ODOO_SOURCE}"
rc=0
molecule destroy -s odoo >/dev/null 2>&1 || true
molecule test -s odoo --destroy never || rc=$?
if [[ $rc -eq 0 && -n "${ODOO_SCALE_BENCH_WEB:-1}" ]]; then
  python bench/web.py || rc=$?
fi
molecule destroy -s odoo >/dev/null 2>&1 || true
exit $rc
