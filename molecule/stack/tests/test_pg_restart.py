"""A converge never restarts a running PostgreSQL: a reload-only setting is
in force after a reload, a setting that needs a restart (shared_buffers) is
reported as pending with playbooks/pg_restart.yml named, and a new memory
limit reaches the running unit's cgroup; the postmaster start time never moves.

playbooks/pg_restart.yml restarts the replica, then the primary behind
PgBouncer PAUSE / RESUME, while pgbench writes through PgBouncer: no client
sees an error, both servers really restarted, the replica streams again and
PgBouncer is left resumed."""

from __future__ import annotations

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from conftest import paused_databases  # noqa: E402
from stack_helpers import PgbenchLoop, recap_changed, run_playbook  # noqa: E402

CLIENTS = 20


def _start_time(node):
    return node.psql('SELECT pg_postmaster_start_time()')


def _pending_restart(node):
    return node.psql("SELECT string_agg(name, ',' ORDER BY name) FROM pg_settings WHERE pending_restart")


def _converge_data_tier(*extra):
    run = run_playbook('data_tier.yml', *extra)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return run


def _memory_limit_in_cgroup(node, unit):
    """The memory limit the kernel enforces on a unit (cgroup v2 or v1)."""
    path = node.unit_property(unit, 'ControlGroup')
    return node.host.check_output(
        'cat /sys/fs/cgroup%s/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory%s/memory.limit_in_bytes'
        % (path, path)).strip()


def test_a_converge_reloads_reports_and_limits_without_a_restart(primary, replica):
    """One converge changes three things at once, and neither server is
    restarted:
    - log_min_duration_statement (reload only): in force on both servers;
    - shared_buffers (needs a restart): pending on both, the running value
      unchanged, a WARNING naming it and playbooks/pg_restart.yml;
    - MemoryMax: the running unit's cgroup has the new limit (daemon-reload).
    Then one converge puts the original settings back (a reload suffices:
    shared_buffers returns to the value in force)."""
    unit = 'postgresql@15-main.service'
    nodes = (primary, replica)
    before = {node.name: _start_time(node) for node in nodes}
    original_log = primary.psql('SHOW log_min_duration_statement')
    original_buffers = primary.psql('SHOW shared_buffers')
    original_limit = _memory_limit_in_cgroup(primary, unit)
    changed_log = '1234ms' if original_log != '1234ms' else '4321ms'
    changed_buffers = '144MB' if original_buffers != '144MB' else '160MB'
    expected_limit = str(972 * 1024 * 1024)  # 95% of postgresql_memory_mb 1024, in whole MB
    restarted = False
    try:
        run = _converge_data_tier('-e', json.dumps({
            'postgresql_log_min_duration_statement': changed_log,
            'postgresql_settings': {'shared_buffers': changed_buffers},
            'postgresql_memory_max_percent': 95}))
        assert recap_changed(run.stdout, primary.name) > 0, run.stdout[-3000:]
        assert 'Restart postgresql' not in run.stdout
        for node in nodes:
            assert _start_time(node) == before[node.name], '%s was restarted' % node.name
            assert node.psql('SHOW log_min_duration_statement') == changed_log, node.name
            assert 'shared_buffers' in (_pending_restart(node) or '').split(','), node.name
            assert node.psql('SHOW shared_buffers') == original_buffers, node.name
            # The result printer may fold a long message: compare with whitespace collapsed.
            warning = (r'WARNING: %s needs a restart to apply [\w, .]*shared_buffers.{0,300}?playbooks/pg_restart\.yml'
                       % re.escape(node.name))
            assert re.search(warning, ' '.join(run.stdout.split())), run.stdout[-3000:]
        assert primary.unit_property(unit, 'MemoryMax') == expected_limit
        assert _memory_limit_in_cgroup(primary, unit) == expected_limit
    finally:
        _converge_data_tier()
        if any(_pending_restart(node) for node in nodes):
            restarted = True
            restart = run_playbook('pg_restart.yml')
            assert restart.returncode == 0, restart.stdout[-3000:] + restart.stderr[-2000:]
    assert not restarted, 'converging back left a setting pending; pg_restart.yml was needed'
    assert primary.psql('SHOW log_min_duration_statement') == original_log
    assert primary.psql('SHOW shared_buffers') == original_buffers
    assert _memory_limit_in_cgroup(primary, unit) == original_limit
    assert {node.name: _start_time(node) for node in nodes} == before


def test_restart_under_load_without_client_errors(primary, replica, connect, settings, pgbench_env):
    conninfo, env = pgbench_env
    before = {node.name: _start_time(node) for node in (primary, replica)}

    # Simple protocol (transaction pooling), one try per transaction: any
    # error aborts the client ("client N aborted") or counts as failed.
    # pgbench runs back to back for as long as the playbook takes.
    with PgbenchLoop(conninfo, env, CLIENTS) as load:
        time.sleep(3)
        run = run_playbook('pg_restart.yml')
    fig = load.figures()

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    after = {node.name: _start_time(node) for node in (primary, replica)}
    assert after[primary.name] != before[primary.name], 'primary was not restarted'
    assert after[replica.name] != before[replica.name], 'replica was not restarted'
    # Replica first, then the primary.
    assert after[replica.name] < after[primary.name]

    pause = re.search(r'writes paused on PgBouncer \(.*?\) for ([\d.]+) s', run.stdout)
    print('\npg_restart.yml: writes paused %s s; pgbench %d clients, %d runs: %d transactions, %d failed, '
          '%d aborted clients' % (pause.group(1) if pause else '?', CLIENTS, fig['runs'], fig['transactions'],
                                  fig['failed'], fig['aborted_clients']))
    load.assert_clean()
    assert pause, run.stdout[-2000:]

    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    assert primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = '%s'" % slot) == 'streaming'
    assert replica.psql('SELECT pg_is_in_recovery()') == 't'
    assert not any(paused_databases(connect, settings).values()), 'a PgBouncer database was left paused'


def test_a_pause_that_times_out_resumes_and_leaves_the_primary_alone(primary, connect, settings):
    """A transaction longer than pg_restart_pause_timeout: PAUSE gives up,
    RESUME still runs, the run fails and the primary is not restarted."""
    before = _start_time(primary)
    holder = connect()
    cur = holder.cursor()
    cur.execute('SELECT 1')  # opens a transaction that holds a server connection
    try:
        run = run_playbook('pg_restart.yml', '-e', 'pg_restart_pause_timeout=3')
    finally:
        holder.rollback()
        holder.close()
    assert run.returncode != 0
    assert re.search(r'PAUSE \S+ on \S+ did not finish within 3 s', run.stdout + run.stderr), run.stderr[-3000:]
    db = settings.get('postgresql_app_database', 'odoo')
    assert re.search(r'RESUME %s\]' % db, run.stdout), run.stdout[-3000:]
    assert _start_time(primary) == before
    assert not any(paused_databases(connect, settings).values()), 'a PgBouncer database was left paused'


def test_a_replica_that_does_not_stream_stops_the_run_before_any_change(primary, replica):
    """Pre-checks: a stopped replica stops the run; nothing is restarted."""
    before = _start_time(primary)
    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    replica.host.run_test('systemctl stop postgresql@15-main.service')
    try:
        run = run_playbook('pg_restart.yml')
    finally:
        replica.host.run_test('systemctl start postgresql@15-main.service')
        deadline = time.monotonic() + 600     # a hang guard: the replica reconnects in seconds
        while time.monotonic() < deadline and primary.psql(
                "SELECT count(*) FROM pg_stat_replication WHERE application_name = '%s' AND state = 'streaming'"
                % slot) != '1':
            time.sleep(1)
    assert run.returncode != 0
    assert 'replica %s is not streaming' % replica.name in run.stdout + run.stderr, run.stderr[-3000:]
    assert 'Restart PostgreSQL' not in run.stdout
    assert _start_time(primary) == before
    assert primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = '%s'" % slot) == 'streaming'
