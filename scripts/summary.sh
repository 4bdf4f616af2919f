#!/usr/bin/env bash
# Prints one line per test step (scenario) and a closing count; non-zero
# exit when any step failed or none ran.
set -uo pipefail
file=.cache/summary
[[ -s $file ]] || { echo "summary: no test step ran"; exit 1; }
passed=0; failed=0; skipped=0
echo "---------------- odoo-scale test summary ----------------"
while read -r name state secs; do
  printf '%-22s %-7s %s\n' "$name" "$state" "$secs"
  case $state in
    passed) passed=$((passed + 1)) ;;
    skipped) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
done <"$file"
echo "summary: $passed passed, $skipped skipped, $failed failed"
[[ $failed -eq 0 ]]
