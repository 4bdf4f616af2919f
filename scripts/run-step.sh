#!/usr/bin/env bash
# run-step.sh NAME CMD...: runs one test step, records "NAME passed|failed|
# skipped secs" in .cache/summary for scripts/summary.sh, and exits with the
# step's status. A step that cannot run here (no Odoo source, say) prints
# its SKIPPED line and exits 75: recorded as skipped, never as passed.
set -uo pipefail
name="$1"; shift
mkdir -p .cache
start=$(date +%s)
echo "==> $name: $*"
"$@"
rc=$?
secs=$(( $(date +%s) - start ))
if [[ $rc -eq 0 ]]; then state=passed; elif [[ $rc -eq 75 ]]; then state=skipped; rc=0; else state=failed; fi
echo "$name $state ${secs}s" >>.cache/summary
echo "==> $name $state in ${secs}s"
exit $rc
