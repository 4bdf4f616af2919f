"""A replica whose data directory belongs to another cluster is never
replaced silently: the run stops with one line naming the flag, the data
stays where it was, and only postgresql_replica_force_reclone=true re-clones
it (keeping the old directory aside). Runs last: it leaves the replica
streaming again."""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from stack_helpers import run_playbook  # noqa: E402

DATA = '/var/lib/postgresql/15/main'


def _sysid(node):
    out = node.host.check_output('LC_ALL=C /usr/lib/postgresql/15/bin/pg_controldata %s' % DATA)
    return [line.split(':')[1].strip() for line in out.splitlines() if 'system identifier' in line][0]


def test_foreign_data_is_kept_until_the_flag_is_given(primary, replica):
    host = replica.host
    host.run_test('systemctl stop postgresql@15-main.service')
    host.run_test('rm -rf %s.foreign && mv %s %s.foreign' % (DATA, DATA, DATA))
    # A cluster of its own: same path, another system identifier.
    host.run_test('runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D %s >/dev/null' % DATA)
    foreign = _sysid(replica)
    assert foreign != primary.psql('SELECT system_identifier FROM pg_control_system()')

    refused = run_playbook('data_tier.yml')
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert 'holds data of another cluster' in said
    assert 'postgresql_replica_force_reclone=true' in said
    assert _sysid(replica) == foreign, 'the foreign data directory was touched'

    forced = run_playbook('data_tier.yml', '-e', 'postgresql_replica_force_reclone=true')
    assert forced.returncode == 0, forced.stdout[-3000:]
    assert _sysid(replica) == primary.psql('SELECT system_identifier FROM pg_control_system()')
    kept = host.check_output('ls -d %s.replaced-* | wc -l' % DATA)
    assert int(kept) >= 1, 'the replaced directory was not kept aside'

    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    deadline = time.monotonic() + 300     # a hang guard: the replica streams in seconds
    state = ''
    while time.monotonic() < deadline and state != 'streaming':
        state = primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = '%s'" % slot)
        time.sleep(0.5)
    assert state == 'streaming'
    host.run('rm -rf %s.foreign' % DATA)
