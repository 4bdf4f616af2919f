"""Bad input for the application services stops the run in preflight, before
any host is changed, with a one-line message naming the variable.

Like test_bad_input.py: each case writes a small inventory whose hosts are
the controller itself (ansible_connection=local) and runs
playbooks/app_services.yml in check mode; the run must fail, name the
problem, and reach no task of the redis or objectstore roles.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from playbook_runner import run_playbook  # noqa: E402

SECRETS = {
    'redis_odoo_password': 'redis-odoo-password-long-enough',
    'redis_admin_password': 'redis-admin-password-long-enough',
    'objectstore_admin_access_key': 'admin-access-key',
    'objectstore_admin_secret_key': 'admin-secret-key-long-enough',
    'objectstore_odoo_access_key': 'odoo-access-key',
    'objectstore_odoo_secret_key': 'odoo-secret-key-long-enough',
}
# The data-tier groups are declared but empty, as in inventories/local/hosts.yml.
GROUPS = {'redis': ['cache1'], 'objectstore': ['s3one'], 'pg_primary': [], 'pg_replica': [], 'pgbouncer': []}


def inventory(extra_vars=None, drop=()):
    hostvars = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                'odoo_scale_address': '127.0.0.1',
                'redis_memory_mb': 64, 'objectstore_backend': 'seaweedfs', 'objectstore_memory_max_mb': 256}
    hostvars.update({k: v for k, v in SECRETS.items() if k not in drop})
    hostvars.update(extra_vars or {})
    children = {name: {'hosts': {h: None for h in hosts}} for name, hosts in GROUPS.items()}
    return {'all': {'vars': hostvars, 'children': children}}




@pytest.mark.parametrize('case, extra, drop, expected', [
    ('unknown backend', {'objectstore_backend': 'ceph'}, (),
     'objectstore_backend ceph is not one of minio, seaweedfs, external'),
    ('missing redis odoo secret', {}, ('redis_odoo_password',),
     'secret redis_odoo_password is not set'),
    ('short redis admin secret', {'redis_admin_password': 'short'}, (),
     'secret redis_admin_password is not set or shorter than 12 characters'),
    ('missing objectstore odoo secret', {}, ('objectstore_odoo_secret_key',),
     'secret objectstore_odoo_secret_key is not set'),
    ('missing objectstore admin secret', {}, ('objectstore_admin_secret_key',),
     'secret objectstore_admin_secret_key is not set'),
    ('redis memory too small', {'redis_memory_mb': 8}, (),
     'redis_memory_mb 8 must be at least 32 MB'),
    ('minio without binary', {'objectstore_backend': 'minio'}, (),
     'minio: set objectstore_minio_binary_src'),
    ('external without endpoint', {'objectstore_backend': 'external'}, (),
     'objectstore_external_endpoint must be set'),
])
def test_bad_input_stops_before_any_change(tmp_path, case, extra, drop, expected):
    rc, out = run_playbook(tmp_path, inventory(extra, drop), 'app_services.yml')
    assert rc != 0, '%s: the run did not fail\n%s' % (case, out[-3000:])
    assert expected in out, '%s: message %r not found\n%s' % (case, expected, out[-3000:])
    for marker in ('TASK [redis : Install', 'TASK [objectstore : Install', 'TASK [objectstore : Create',
                   'PLAY [Redis]', 'PLAY [Object store]'):
        assert marker not in out, '%s: the run went past preflight (%s)' % (case, marker)


def test_a_secret_never_reaches_the_log(tmp_path):
    rc, out = run_playbook(tmp_path, inventory({'objectstore_backend': 'ceph', 'redis_memory_mb': 8}), 'app_services.yml')
    assert rc != 0
    for secret in SECRETS.values():
        assert secret not in out
