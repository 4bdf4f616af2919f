#!/usr/bin/env bash
# `make test`: every step, in two lanes, then the module benchmarks, then the
# summary.
#
#   stack lane: molecule-stack (the whole stack converged once; idempotence;
#               every stack check; the stack benchmarks)
#   side lane:  lint, ansible-test (sanity and units on the collection),
#               unit, bad-input, molecule-lb
#
# Why two lanes: the CPUs are idle for about 40 % of the stack's checks while
# they wait on what they test (an alert's `for:`, a replica catching up, Odoo
# starting); the side lane's steps share nothing with the stack (their own
# containers, network and names, or none) and use that time. The side lane
# waits until the stack's checks begin (scripts/molecule-stack.sh touches
# .cache/stack-verifying), or until the stack lane ends, whichever is first:
# started at once it overlapped the converge and idempotence, which keep
# both CPUs busy (measured: the converge 4 min longer, the run only 2 min
# shorter).
# No check has a wall-clock bound, so a slower step is never a failed one.
# The module benchmarks run alone afterwards: their figures are taken on a
# machine nothing else is using.
#
# Each lane's lines carry its name ([stack], [side]) as they come. The
# summary gives every step's own time and the run's wall-clock time.
set -uo pipefail
cd "$(dirname "$0")/.."
rm -rf .cache/summary .cache/summary-stages .cache/summary-wall .cache/junit .cache/stack-verifying
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
  step ansible-test
  step unit
  step playbook-checks
  step molecule-lb
}

lane stack step molecule-stack &
stack_pid=$!
# No time bound: the stack lane either reaches its checks or ends.
while [[ ! -e .cache/stack-verifying ]] && kill -0 "$stack_pid" 2>/dev/null; do
  sleep 5
done
lane side side
wait "$stack_pid"
step bench
echo "wall $((SECONDS - start))s" >.cache/summary-wall
python3 scripts/summary.py
