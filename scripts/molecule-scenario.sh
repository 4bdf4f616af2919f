#!/usr/bin/env bash
# molecule-scenario.sh NAME: one molecule scenario from fresh containers
# (create, prepare, converge, idempotence, verify), destroyed afterwards
# whatever the outcome. `--destroy never` also skips molecule's first destroy.
set -euo pipefail
scenario="$1"
rc=0
molecule destroy -s "$scenario" >/dev/null 2>&1 || true
molecule test -s "$scenario" --destroy never || rc=$?
molecule destroy -s "$scenario" >/dev/null 2>&1 || true
exit $rc
