#!/usr/bin/env bash
# run-step.sh NAME CMD...: runs one test step, records "NAME ok|FAILED secs"
# in .cache/summary for scripts/summary.sh, and exits with the step's status.
set -uo pipefail
name="$1"; shift
mkdir -p .cache
start=$(date +%s)
echo "==> $name: $*"
"$@"
rc=$?
secs=$(( $(date +%s) - start ))
if [[ $rc -eq 0 ]]; then state=passed; else state=failed; fi
echo "$name $state ${secs}s" >>.cache/summary
echo "==> $name $state in ${secs}s"
exit $rc
