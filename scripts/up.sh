#!/usr/bin/env bash
# `make up`: the whole local stack in containers (inventories/local), Odoo
# included, converged with playbooks/site.yml, then how to reach it.
# Odoo's tree comes from scripts/odoo-source.sh (ODOO_SOURCE, the cache, a
# shallow clone). Without one, everything but the Odoo and HAProxy hosts is
# brought up and the last line says so and how to supply a tree.
set -euo pipefail
cd "$(dirname "$0")/.."
without_odoo=()
reason=
echo "up: looking for an Odoo ${ODOO_SERIES:-17.0} tree (ODOO_SOURCE, the cache, else a shallow clone: minutes on a first run)"
if src=$(scripts/odoo-source.sh 2>/tmp/odoo-scale-source.$$); then
  export ODOO_SOURCE="$src"
  echo "up: Odoo source ${ODOO_SOURCE}"
else
  rc=$?
  reason=$(tail -n1 /tmp/odoo-scale-source.$$)
  if [[ $rc -ne 3 ]]; then
    rm -f /tmp/odoo-scale-source.$$
    echo "$reason" >&2
    exit 2
  fi
  echo "up: ${reason#odoo-source: }; bringing up the stack without Odoo"
  without_odoo=(--limit 'all:!odoo_web:!odoo_cron:!lb')
fi
rm -f /tmp/odoo-scale-source.$$
ansible-playbook playbooks/local_stack.yml -e "{\"local_stack_odoo\": $([[ -n $reason ]] && echo false || echo true)}"
ansible-playbook playbooks/site.yml "${without_odoo[@]}"
scripts/local-endpoints.sh
if [[ -n $reason ]]; then
  echo "Odoo was left out (${reason#odoo-source: }): set ODOO_SOURCE to an Odoo ${ODOO_SERIES:-17.0} tree, or give this machine network access for the clone, and run make up again."
fi
