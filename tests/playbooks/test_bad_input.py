"""Bad input stops the run in preflight, before any host is changed, with a
one-line message naming the group or variable.

Each case writes a small inventory whose hosts are the controller itself
(ansible_connection=local) and runs playbooks/site.yml in check mode; the
run must fail, name the problem, and reach no task past the preflight plays.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from playbook_runner import run_playbook  # noqa: E402

SECRETS = {
    'postgresql_app_password': 'app-password-long-enough',
    'postgresql_replication_password': 'repl-password-long-enough',
    'pgbouncer_admin_password': 'admin-password-long-enough',
    'pgbouncer_stats_password': 'stats-password-long-enough',
}


def inventory(groups, extra_vars=None, drop=()):
    hostvars = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                'postgresql_memory_mb': 2048, 'postgresql_cpus': 2}
    hostvars.update({k: v for k, v in SECRETS.items() if k not in drop})
    hostvars.update(extra_vars or {})
    children = {name: {'hosts': {h: None for h in hosts}} for name, hosts in groups.items()}
    return {'all': {'vars': hostvars, 'children': children}}


FULL = {'pg_primary': ['db1'], 'pg_replica': ['db2'], 'pgbouncer': ['pool1']}


@pytest.mark.parametrize('case, groups, extra, drop, expected', [
    ('no primary', {'pg_primary': [], 'pg_replica': [], 'pgbouncer': ['pool1']}, {}, (),
     'inventory group pgbouncer lists hosts but group pg_primary must hold exactly one host, it holds 0'),
    ('two primaries', {'pg_primary': ['db1', 'db3'], 'pg_replica': ['db2'], 'pgbouncer': ['pool1']}, {}, (),
     'inventory group pg_primary must hold exactly one host, it holds 2'),
    ('replica without primary', {'pg_replica': ['db2']}, {}, (),
     'inventory group pg_replica lists hosts but group pg_primary must hold exactly one host'),
    ('primary also a replica', {'pg_primary': ['db1'], 'pg_replica': ['db1']}, {}, (),
     'is in both pg_primary and pg_replica'),
    ('pools over max_connections', FULL, {'pgbouncer_app_pool_size': 150, 'postgresql_max_connections': 100}, (),
     'lower pgbouncer_*_pool_size or raise postgresql_max_connections'),
    ('missing app secret', FULL, {}, ('postgresql_app_password',),
     'secret postgresql_app_password is not set'),
    ('missing replication secret', FULL, {}, ('postgresql_replication_password',),
     'secret postgresql_replication_password is not set'),
    ('missing console secret', FULL, {}, ('pgbouncer_stats_password',),
     'secret pgbouncer_stats_password is not set'),
    ('unknown version', FULL, {'postgresql_version': 11}, (),
     'postgresql_version 11 is not supported'),
    ('bad memory budget', FULL, {'postgresql_memory_mb': 100}, (),
     'memory_mb 100 is below the 256 MB'),
    ('postgresql over the host RAM', FULL, {'odoo_scale_host_memory_mb': 2048}, (),
     'memory budget on host db1: postgresql 2048 MB exceeds 1792 MB (RAM 2048 MB - 256 MB reserved for the OS);'
     ' lower these limits or set odoo_scale_host_memory_mb'),
    ('pgbouncer beside postgresql over the host RAM', {'pg_primary': ['db1'], 'pgbouncer': ['db1']},
     {'odoo_scale_host_memory_mb': 2304, 'postgresql_memory_max_percent': 100}, (),
     'memory budget on host db1: pgbouncer 256 + postgresql 2048 = 2304 MB exceeds 2048 MB'
     ' (RAM 2304 MB - 256 MB reserved for the OS)'),
    ('host memory not a number', FULL, {'odoo_scale_host_memory_mb': '8G'}, (),
     'odoo_scale_host_memory_mb 8G must be the host\'s RAM in MB'),
])
def test_bad_input_stops_before_any_change(tmp_path, case, groups, extra, drop, expected):
    rc, out = run_playbook(tmp_path, inventory(groups, extra, drop), 'site.yml')
    assert rc != 0, '%s: the run did not fail\n%s' % (case, out[-3000:])
    assert expected in out, '%s: message %r not found\n%s' % (case, expected, out[-3000:])
    # Nothing past the preflight plays ran: no role task of the tiers.
    for marker in ('TASK [postgresql : Install', 'TASK [pgbouncer : Install', 'PLAY [PostgreSQL primary]'):
        assert marker not in out, '%s: the run went past preflight (%s)' % (case, marker)


def test_a_secret_never_reaches_the_log(tmp_path):
    rc, out = run_playbook(tmp_path, inventory(FULL, {'pgbouncer_app_pool_size': 500}), 'site.yml')
    assert rc != 0
    for secret in SECRETS.values():
        assert secret not in out
