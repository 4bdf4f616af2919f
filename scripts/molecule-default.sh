#!/usr/bin/env bash
# The default molecule scenario: create, converge (playbooks/site.yml),
# idempotence, verify; then the stack benchmarks on the same containers,
# then destroy.
set -euo pipefail
rc=0
molecule destroy -s default >/dev/null 2>&1 || true
molecule test -s default --destroy never || rc=$?
if [[ $rc -eq 0 && ${ODOO_SCALE_BENCH:-1} == 1 ]]; then
  python bench/stack.py --scenario default --out bench/results/stack.json || rc=$?
fi
molecule destroy -s default >/dev/null 2>&1 || true
exit $rc
