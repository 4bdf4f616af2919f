#!/usr/bin/env bash
# yamllint over every YAML file, ansible-lint (production profile, no skips),
# and ansible-doc rendering of every custom module by its FQCN
# (odoo_scale.stack.<name>, the collection of galaxy.yml).
set -euo pipefail
yamllint -s .
ansible-lint --profile production --strict
mods=$(ls plugins/modules/*.py 2>/dev/null | xargs -rn1 basename | sed 's/\.py$//; s/^/odoo_scale.stack./')
if [[ -n $mods ]]; then
  # shellcheck disable=SC2086
  ansible-doc $mods >/dev/null
  echo "ansible-doc: rendered $(echo $mods | wc -w) modules"
fi
