#!/usr/bin/env bash
# `make test`: every step, in two lanes, then the module benchmarks, then the
# summary.
#
#   stack lane: molecule-stack (the whole stack converged once; idempotence;
#               every stack check; the stack benchmarks)
#   side lane:  lint, unit, bad-input, molecule-lb
#
# Why two lanes: the CPUs are idle for about 40 % of the stack's checks while
# they wait on what they test (an alert's `for:`, a replica catching up, Odoo
# starting); the side lane's steps share nothing with the stack (their own
# containers, network and names, or none) and use that time. As written the
# side lane starts at once and so overlaps the converge, which keeps both
# CPUs busy (measured: the converge 4 min longer, the run 2 min shorter).
# No check has a wall-clock bound, so a slower step is never a failed one.
# The module benchmarks run alone afterwards: their figures are taken on a
# machine nothing else is using.
#
# Each lane's lines carry its name ([stack], [side]) as they come. The
# summary gives every step's own time and the run's wall-clock time.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -rf .cache/summary .cache/summary-stages .cache/summary-wall .cache/junit
mkdir -p .cache
start=$SECONDS

# Prefix each line with its lane; sed -u writes line by line, so lines of the
# two lanes never break into each other.
lane() {
  local name=$1
  shift
  { "$@" 2>&1; } | sed -u "s/^/[$name] /"
}

# `make test` did the set-up once; `-o setup -o host` keep the lanes from running
# it again, side by side.
step() { make --no-print-directory -o setup -o host "$@"; }

side() {
  step lint
  step unit
  step playbook-checks
  step molecule-lb
}

lane side side &
side_pid=$!
lane stack step molecule-stack
wait "$side_pid"
step bench
echo "wall $((SECONDS - start))s" >.cache/summary-wall
python3 scripts/summary.py
