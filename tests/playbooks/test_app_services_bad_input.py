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


def inventory(extra_vars=None, drop=(), groups=None):
    hostvars = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                'odoo_scale_address': '127.0.0.1',
                'redis_memory_mb': 64, 'objectstore_backend': 'seaweedfs', 'objectstore_memory_max_mb': 256}
    hostvars.update({k: v for k, v in SECRETS.items() if k not in drop})
    hostvars.update(extra_vars or {})
    children = {name: {'hosts': {h: None for h in hosts}} for name, hosts in (groups or GROUPS).items()}
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


def test_every_bad_setting_of_a_service_is_named_in_one_run(tmp_path):
    """A role's checks are one task (a task per check cost every run about
    0.15 s): each failing check still gets its own line, and a user with
    three mistakes sees all three in the first run, not one per run."""
    rc, out = run_playbook(tmp_path, inventory({'redis_memory_mb': 8, 'redis_maxmemory_policy': 'lru',
                                                'redis_appendfsync': 'sometimes'}), 'app_services.yml')
    assert rc != 0, out[-3000:]
    for expected in ('redis_memory_mb 8 must be at least 32 MB',
                     'redis_maxmemory_policy lru is not one of',
                     'redis_appendfsync sometimes is not one of always, everysec, no'):
        assert expected in out, '%r not found\n%s' % (expected, out[-3000:])
    assert 'TASK [redis : Install' not in out


def test_a_monitoring_host_needs_the_redis_exporter_secret(tmp_path):
    """With a monitoring host, Redis gets an ACL user for the exporter: its
    password is checked in preflight like the others."""
    groups = dict(GROUPS, monitoring=['mon1'])
    rc, out = run_playbook(tmp_path, inventory(groups=groups), 'app_services.yml')
    assert rc != 0, out[-3000:]
    assert 'secret redis_monitor_password is not set' in out, out[-3000:]
    assert 'PLAY [Redis]' not in out, out[-3000:]


# Redis and the object store on one host: their limits add up.
SHARED = {'redis': ['box1'], 'objectstore': ['box1'], 'pg_primary': [], 'pg_replica': [], 'pgbouncer': []}
# The whole shape with Odoo nodes; ODOO_GROUPS(**changes) replaces groups.
ODOO = {'pg_primary': ['db1'], 'pg_replica': [], 'pgbouncer': ['pool1'], 'redis': ['cache1'],
        'objectstore': ['s3one'], 'odoo_web': ['web1', 'web2'], 'odoo_cron': ['cron1'], 'lb': ['lb1']}
DATA_TIER_SECRETS = {
    'postgresql_app_password': 'app-password-long-enough',
    'pgbouncer_admin_password': 'admin-password-long-enough',
    'pgbouncer_stats_password': 'stats-password-long-enough',
    'postgresql_memory_mb': 2048, 'postgresql_cpus': 2,
    'odoo_admin_password': 'odoo-master-password-long-enough',
    'odoo_admin_user_password': 'odoo-admin-user-password-long',
    'haproxy_stats_password': 'haproxy-stats-password-long',
    'odoo_memory_mb': 2048,
}


def odoo_groups(**changes):
    return dict(ODOO, **changes)


BACKUP_KEYS = {'objectstore_backup_bucket': 'odoo-backup', 'objectstore_backup_access_key': 'backup-access-key',
               'objectstore_backup_secret_key': 'backup-secret-key-long-enough'}
BACKUPS = dict(BACKUP_KEYS, pgbackrest_enabled=True,
               pgbackrest_repo_cipher_pass='a-cipher-passphrase-long-enough')


@pytest.mark.parametrize('case, groups, extra, expected', [
    ('redis and objectstore over the host RAM', SHARED, {'odoo_scale_host_memory_mb': 512},
     'memory budget on host box1: objectstore 256 + redis 224 = 480 MB exceeds 256 MB'
     ' (RAM 512 MB - 256 MB reserved for the OS); lower these limits or set odoo_scale_host_memory_mb'),
    ('a bigger OS reserve', SHARED, {'odoo_scale_host_memory_mb': 1024, 'odoo_scale_os_reserve_mb': 600},
     'memory budget on host box1: objectstore 256 + redis 224 = 480 MB exceeds 424 MB'
     ' (RAM 1024 MB - 600 MB reserved for the OS)'),
    ('two cron nodes', odoo_groups(odoo_cron=['cron1', 'cron2']), {},
     'inventory group odoo_cron must hold exactly one host, it holds 2'),
    ('cron without web nodes', odoo_groups(odoo_web=[], lb=[]), {},
     'inventory group odoo_cron has hosts but group odoo_web is empty'),
    ('load balancer without web nodes', odoo_groups(odoo_web=[], odoo_cron=[]), {},
     'inventory group lb has hosts but group odoo_web is empty'),
    ('web nodes without redis', odoo_groups(redis=[]), {},
     'inventory group odoo_web needs a host in group redis'),
    ('web nodes without object store', odoo_groups(objectstore=[]), {},
     'inventory group odoo_web needs a host in group objectstore'),
    ('web nodes without pgbouncer', odoo_groups(pgbouncer=[]), {},
     'inventory group odoo_web needs a host in group pgbouncer'),
    ('cron node also a web node', odoo_groups(odoo_cron=['web2']), {},
     'host web2 is in both odoo_web and odoo_cron'),
    ('unknown odoo series', ODOO, {'odoo_series': '15.0'},
     'odoo_series 15.0 is not one of 16.0, 17.0, 18.0'),
    ('odoo over the host RAM', ODOO, {'odoo_memory_mb': 3072, 'odoo_scale_host_memory_mb': 3072},
     ': odoo 3072 MB exceeds 2816 MB (RAM 3072 MB - 256 MB reserved for the OS)'),
    ('odoo memory too small', ODOO, {'odoo_memory_mb': 256},
     'odoo_memory_mb 256 is below the 512 MB one Odoo worker needs'),
    ('more workers than the pool holds', ODOO, {'odoo_workers': 30},
     'PgBouncer pools too small for Odoo: 60 web workers + 2 cron workers'),
    ('cron node without cron threads', ODOO, {'odoo_max_cron_threads': 0},
     'the cron node needs max_cron_threads >= 1'),
    ('hostile database name', ODOO, {'odoo_database': "odoo; DROP DATABASE x"},
     "odoo_database odoo; DROP DATABASE x must be letters, digits"),
    ('connect timeout under its old name', ODOO, {'haproxy_timeout_connect': 5},
     'haproxy_timeout_connect (seconds) was replaced by haproxy_timeout_connect_ms'),
    ('odoo source dir without odoo', ODOO, {'odoo_source_dir': '/tmp'},
     'odoo_source_dir /tmp holds no Odoo tree'),
    ('backups without https to the object store', ODOO, dict(BACKUPS, objectstore_tls=False),
     "pgbackrest_repo_s3_url '' is not an https://host[:port] endpoint"),
    ('backups without a cipher passphrase', ODOO, dict(BACKUPS, pgbackrest_repo_cipher_pass='short'),
     'secret pgbackrest_repo_cipher_pass is not set or too short (20 characters'),
    ('backups without a backup bucket', ODOO, dict(BACKUPS, objectstore_backup_bucket=''),
     "pgbackrest_repo_s3_bucket '' is not a bucket name"),
    ('backup bucket is the odoo bucket', ODOO, dict(BACKUPS, objectstore_backup_bucket='odoo-filestore'),
     'objectstore_backup_bucket odoo-filestore must be a valid S3 bucket name'),
    ('backup key is the odoo key', ODOO, dict(BACKUPS, objectstore_backup_access_key='odoo-access-key'),
     "objectstore_backup_access_key must differ from Odoo's and the admin's keys"),
    ('backup bucket without its key', ODOO, dict(BACKUPS, objectstore_backup_secret_key=''),
     'secret objectstore_backup_secret_key is not set'),
    ('attachments collected before the oldest backup', ODOO, dict(BACKUPS, odoo_attachment_gc_grace_days=10),
     'odoo_attachment_gc_grace_days 10 is shorter than the oldest backup pgBackRest keeps (up to 14 days)'),
    ('time retention longer than the grace', ODOO,
     dict(BACKUPS, pgbackrest_retention_full_type='time', pgbackrest_retention_full=30),
     'odoo_attachment_gc_grace_days 35 is shorter than the oldest backup pgBackRest keeps (up to 37 days)'),
])
def test_bad_shape_or_budget_stops_before_any_change(tmp_path, case, groups, extra, expected):
    rc, out = run_playbook(tmp_path, inventory(dict(DATA_TIER_SECRETS, **extra), groups=groups), 'app_services.yml')
    assert rc != 0, '%s: the run did not fail\n%s' % (case, out[-3000:])
    assert expected in out, '%s: message %r not found\n%s' % (case, expected, out[-3000:])
    for marker in ('TASK [redis : Install', 'TASK [objectstore : Install', 'TASK [objectstore : Create',
                   'PLAY [Redis]', 'PLAY [Object store]', 'PLAY [Odoo'):
        assert marker not in out, '%s: the run went past preflight (%s)' % (case, marker)


@pytest.mark.parametrize('secret', ['odoo_admin_password', 'odoo_admin_user_password', 'haproxy_stats_password'])
def test_a_missing_odoo_or_haproxy_secret_stops_the_run(tmp_path, secret):
    secrets = {k: v for k, v in DATA_TIER_SECRETS.items() if k != secret}
    rc, out = run_playbook(tmp_path, inventory(secrets, groups=ODOO), 'app_services.yml')
    assert rc != 0
    assert ('secret %s is not set' % secret) in out or ("'%s'" % secret) in out, out[-3000:]
    assert 'PLAY [Odoo' not in out and 'PLAY [HAProxy' not in out


def test_the_whole_shape_passes_preflight(tmp_path):
    """Every group filled, services on their own hosts: the memory budget of
    each host (web, cron and lb hosts claim nothing yet) fits."""
    rc, out = run_playbook(tmp_path, inventory(DATA_TIER_SECRETS, groups=ODOO), 'preflight.yml')
    assert rc == 0, out[-3000:]
    assert 'memory budget on host' not in out
    assert 'TASK [preflight : Check the services placed on this host fit in its memory]' in out


def test_odoo_checks_the_pools_pgbouncer_hosts_set_not_its_own_view(tmp_path):
    """Pool sizes set for the pgbouncer group only (as group_vars/pgbouncer
    would): the Odoo nodes' check reads what the PgBouncer host published in
    the preflight, not the role defaults as an Odoo host sees them (which
    said 40 + 5 and let the run go on)."""
    inv = inventory(DATA_TIER_SECRETS, groups=ODOO)
    inv['all']['children']['pgbouncer']['vars'] = {'pgbouncer_app_pool_size': 3, 'pgbouncer_app_reserve_pool_size': 0}
    rc, out = run_playbook(tmp_path, inv, 'preflight.yml')
    assert rc != 0, out[-3000:]
    assert 'PgBouncer pools too small for Odoo' in out and '(now 3)' in out, out[-3000:]


def test_a_secret_never_reaches_the_log(tmp_path):
    rc, out = run_playbook(tmp_path, inventory({'objectstore_backend': 'ceph', 'redis_memory_mb': 8}), 'app_services.yml')
    assert rc != 0
    for secret in SECRETS.values():
        assert secret not in out
