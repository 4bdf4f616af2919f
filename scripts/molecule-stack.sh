#!/usr/bin/env bash
# The stack scenario: the whole stack (data tier, Redis, object store, real
# Odoo web and cron nodes, HAProxy) converged once with playbooks/site.yml,
# idempotence, then every check of molecule/stack/tests on those containers,
# then the data-tier, web, monitoring-cost and backup benchmarks on the same
# stack, then destroy.
#
# Odoo's code is never in this repository: it comes from ODOO_SOURCE, else
# from ~/.cache/odoo-scale/odoo-17.0 (scripts/odoo-source.sh; the tests never
# clone). Without one, nothing can be checked against real Odoo and the step
# prints one SKIPPED line (exit 75, counted as skipped, never as passed).
set -euo pipefail
cd "$(dirname "$0")/.."
src_rc=0
ODOO_SOURCE=$(scripts/odoo-source.sh --no-clone 2>/tmp/odoo-scale-source.$$) || src_rc=$?
if ((src_rc == 2)); then           # ODOO_SOURCE names no Odoo tree: a mistake, not a skip
  cat /tmp/odoo-scale-source.$$ >&2
  rm -f /tmp/odoo-scale-source.$$
  exit 1
fi
if ((src_rc)); then
  echo "SKIPPED: molecule stack: $(tail -n1 /tmp/odoo-scale-source.$$ | sed 's/^odoo-source: //') (set ODOO_SOURCE to an Odoo 17.0 tree)"
  rm -f /tmp/odoo-scale-source.$$
  exit 75
fi
rm -f /tmp/odoo-scale-source.$$
export ODOO_SOURCE
echo "molecule stack: Odoo source ${ODOO_SOURCE}"
mkdir -p .cache/junit bench/results
rm -f .cache/junit/molecule-stack.xml
rc=0
stages=.cache/summary-stages
# Each stage and benchmark timed, for the closing summary (where the time goes).
timed() {
  local name=$1 t0=$SECONDS r=0
  shift
  "$@" || r=$?
  echo "molecule-stack $name $((SECONDS - t0))s" >>"$stages"
  echo "==> molecule-stack: $name took $((SECONDS - t0)) s"
  return $r
}
molecule destroy -s stack >/dev/null 2>&1 || true
for stage in syntax create converge idempotence verify; do
  # scripts/test.sh starts its side lane when the checks begin (the CPUs
  # are busy until then).
  [[ $stage == verify ]] && touch .cache/stack-verifying
  timed "$stage" molecule "$stage" -s stack || { rc=$?; break; }
done
# Benchmarks sized to answer their question in seconds (their defaults run
# longer, for a machine of your own): figures, never pass/fail on time.
if [[ $rc -eq 0 && ${ODOO_SCALE_BENCH:-1} == 1 ]]; then
  timed bench-stack python bench/stack.py --seconds 8 --scale 10 --out bench/results/stack.json || rc=$?
  timed bench-web python bench/web.py --rounds 2 || rc=$?
  timed bench-monitoring python bench/monitoring.py --seconds 10 --rounds 2 || rc=$?
  timed bench-backup python bench/backup.py --scale 10 --lag-seconds 10 || rc=$?
fi
if ((rc != 0)); then
  # Before the containers go: what each host's services went through (units
  # restarted or failed, the last lines of their journals), so a failure
  # that depends on luck can still be read from the CI log.
  echo "==> molecule-stack failed: service state of every host"
  for c in $(docker ps --format '{{.Names}}' | grep "^${ODOO_SCALE_MOL_PREFIX:-mol-s}-" | sort); do
    echo "--- $c"
    docker exec "$c" systemctl --failed --no-legend --plain 2>/dev/null | sed 's/^/failed: /' || true
    for u in postgresql@15-main pgbouncer redis-server seaweedfs odoo haproxy; do
      n=$(docker exec "$c" systemctl show -p NRestarts --value "$u" 2>/dev/null || true)
      [[ -n $n && $n != 0 ]] && echo "$u restarted $n times" && \
        docker exec "$c" journalctl -u "$u" --no-pager -n 30 2>/dev/null | sed "s/^/$u: /"
    done
  done
fi
molecule destroy -s stack >/dev/null 2>&1 || true
exit $rc
