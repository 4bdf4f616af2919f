"""The example production inventory (inventories/production) holds every
group of the stack and passes the whole preflight, so a user who copies it
starts from a shape the roles accept.

The example is copied as it is, with a vault file holding example secrets
for every name of vault.yml.example; only the connection is pointed at the
controller (every host is this machine, in check mode)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from playbook_runner import REPO, run_playbook  # noqa: E402

GROUPS = ('pg_primary', 'pg_replica', 'pgbouncer', 'redis', 'objectstore', 'odoo_web', 'odoo_cron', 'lb')


def test_the_production_example_has_every_group_and_passes_the_preflight(tmp_path):
    inv = tmp_path / 'production'
    shutil.copytree(os.path.join(REPO, 'inventories', 'production'), inv)
    with open(inv / 'group_vars' / 'all' / 'vault.yml.example') as fh:
        names = sorted(yaml.safe_load(fh))
    assert names, 'vault.yml.example names no secret'
    (inv / 'group_vars' / 'all' / 'vault.yml').write_text(
        yaml.safe_dump({name: 'example-%s-0123456789' % name.replace('_', '-') for name in names}))
    with open(inv / 'hosts.yml') as fh:
        children = yaml.safe_load(fh)['all']['children']
    hosts = {group: sorted((children.get(group) or {}).get('hosts') or {}) for group in GROUPS}
    assert all(hosts.values()), 'groups without a host: %s' % [g for g, h in hosts.items() if not h]

    local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable, 'ansible_become': False}
    rc, out = run_playbook(tmp_path, None, 'preflight.yml', inventory_path=str(inv / 'hosts.yml'),
                           extra=['-e', json.dumps(local)])
    assert rc == 0, out[-4000:]
    for host in sorted({h for names_ in hosts.values() for h in names_}):
        m = re.search(r'^%s\s*:\s*ok=(\d+).*failed=(\d+)' % re.escape(host), out, re.M)
        assert m and int(m.group(1)) > 0 and m.group(2) == '0', '%s: %s' % (host, out[-3000:])
