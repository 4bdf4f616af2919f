"""playbooks/switchover.yml swaps primary and replica under load through
PgBouncer without losing a committed transaction: every id whose COMMIT
returned is on the new primary, the old primary streams from the new one,
writes through PgBouncer land on the new primary and reach the new replica.
Then it switches back with a swapped inventory, leaving the original
topology (primary in pg_primary, replica streaming from it). playbooks/failover.yml,
after the primary crashed: promotes the replica, fences the old primary
(masked, marker), rejoins it only with failover_rejoin=true."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2
import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from conftest import paused_databases, pgbouncer_databases  # noqa: E402
from stack_helpers import INVENTORY, PGBENCH, PROJECT, PgbenchLoop, run_playbook  # noqa: E402

CLIENTS = 20
WRITERS = 4
PGBENCH_TABLES = ('pgbench_accounts', 'pgbench_branches', 'pgbench_history', 'pgbench_tellers')
RESULTS = os.path.join(PROJECT, 'bench', 'results', 'switchover.json')
INI = '/etc/pgbouncer/pgbouncer.ini'


def _slot(node):
    return 'odoo_scale_' + node.name.replace('-', '_')


def _wait(check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def _streams_from(primary, replica):
    return primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = '%s'"
                        % _slot(replica)) == 'streaming'


def _run_swapped(name, *extra):
    """ansible-playbook with molecule's inventory, pg_primary and pg_replica
    swapped (what the operator does after a switchover)."""
    with open(INVENTORY) as fh:
        inv = yaml.safe_load(fh)
    inv['pg_primary']['hosts'], inv['pg_replica']['hosts'] = inv['pg_replica']['hosts'], inv['pg_primary']['hosts']
    with tempfile.TemporaryDirectory(prefix='switchover-inv-') as tmp:
        # group_vars beside the inventory file, as in molecule's inventory.
        os.symlink(os.path.join(os.path.dirname(INVENTORY), 'group_vars'), os.path.join(tmp, 'group_vars'))
        path = os.path.join(tmp, 'swapped.yml')
        with open(path, 'w') as fh:
            yaml.safe_dump(inv, fh)
        return run_playbook(name, *extra, inventory=path)


class Writers:
    """Clients inserting into switchover_probe through PgBouncer, one row per
    transaction; an id is recorded only once its COMMIT returned."""

    def __init__(self, connect, count):
        self.connect = connect
        self.count = count
        self.committed = []
        self.errors = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(count)]

    def _loop(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.connect()
                with conn.cursor() as cur:
                    cur.execute('INSERT INTO switchover_probe (at) VALUES (clock_timestamp()) RETURNING id')
                    row_id = cur.fetchone()[0]
                conn.commit()
                with self.lock:
                    self.committed.append(row_id)
            except psycopg2.Error as exc:
                with self.lock:
                    self.errors.append(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - the connection is gone either way
                    pass
                conn = None
                time.sleep(0.2)
        if conn is not None:
            conn.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


@pytest.fixture()
def probe(bouncer, connect, settings):
    """switchover_probe and pgbench's tables for the test, dropped after
    (pgbench's only when the test created them) on whichever is the primary."""
    if not os.path.exists(PGBENCH):
        pytest.skip('%s is not installed on the controller' % PGBENCH)
    db = settings.get('postgresql_app_database', 'odoo')
    conn = connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS switchover_probe')
        cur.execute('CREATE TABLE switchover_probe (id bigserial PRIMARY KEY, at timestamptz NOT NULL)')
        cur.execute("SELECT to_regclass('public.pgbench_accounts') IS NOT NULL")
        existed = cur.fetchone()[0]
    conn.close()
    conninfo = 'host=%s port=6432 dbname=%s user=%s connect_timeout=10' % (
        bouncer.address, db, settings.get('postgresql_app_user', 'odoo'))
    env = dict(os.environ, PGPASSWORD=settings['postgresql_app_password'])
    if not existed:
        subprocess.run([PGBENCH, '-i', '-q', '-s', '1', '-I', 'dtgvp', conninfo],
                       env=env, check=True, capture_output=True, text=True, timeout=120)
    yield conninfo, env
    conn = connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS switchover_probe')
        if not existed:
            cur.execute('DROP TABLE IF EXISTS %s' % ', '.join(PGBENCH_TABLES))
    conn.close()


def test_a_replica_outside_pg_replica_stops_the_run_before_any_change(primary, bouncer):
    run = run_playbook('switchover.yml', '-e', 'switchover_to=%s' % bouncer.name)
    assert run.returncode != 0
    assert 'in group pg_replica' in run.stdout + run.stderr, run.stdout[-3000:]
    assert 'PAUSE' not in run.stdout
    assert primary.psql('SELECT pg_is_in_recovery()') == 'f'


def test_a_replica_that_cannot_catch_up_leaves_writes_on_the_old_primary(primary, replica, bouncer, connect,
                                                                        settings, probe):
    """The replica's replay is paused, so it cannot reach the old primary's
    shutdown checkpoint within switchover_catchup_timeout (3 s). The run
    stops before the promotion and says so; the old primary was started
    again before PgBouncer's RESUME, so writers through PgBouncer lose no
    commit and see no error, and the replica streams again once its replay
    resumes."""
    db = settings.get('postgresql_app_database', 'odoo')
    replica.psql('SELECT pg_wal_replay_pause()')
    try:
        with Writers(connect, WRITERS) as writers:
            assert _wait(lambda: len(writers.committed) > 20), 'the writers committed nothing before the switchover'
            run = run_playbook('switchover.yml', '-e', 'switchover_catchup_timeout=3')
            after = len(writers.committed)
            assert _wait(lambda: len(writers.committed) > after + 20), 'no write committed after the run'
    finally:
        replica.psql('SELECT pg_wal_replay_resume()')
    out = ' '.join((run.stdout + run.stderr).split())
    assert run.returncode != 0, out[-3000:]
    assert re.search(r'switchover stopped before the promotion \(Wait until the replica replayed.{0,400}?nothing was '
                     r'promoted: %s was started again and PgBouncer resumed toward it' % re.escape(primary.name), out), \
        out[-3000:]
    assert primary.psql('SELECT pg_is_in_recovery()') == 'f'
    assert replica.psql('SELECT pg_is_in_recovery()') == 't'
    assert not any(paused_databases(connect, settings).values()), 'a PgBouncer database was left paused'
    assert not _staged_left(bouncer), 'the pgbouncer.ini staged for the replica was left behind'
    assert 'host=%s ' % primary.address in _bouncer_ini(bouncer)
    assert not writers.errors, writers.errors[:5]
    present = set(int(x) for x in primary.psql('SELECT id FROM switchover_probe', db=db).split())
    assert not set(writers.committed) - present
    assert _wait(lambda: _streams_from(primary, replica)), 'the replica does not stream again'


def _bouncer_ini(bouncer):
    return bouncer.host.file(INI).content_string


def _staged_left(bouncer):
    return bouncer.host.file(INI + '.next').exists


def test_switchover_under_load_loses_no_commit_and_switches_back(primary, replica, bouncer, connect, settings, probe):
    conninfo, env = probe
    db = settings.get('postgresql_app_database', 'odoo')
    switched = False
    ini_converged = _bouncer_ini(bouncer)
    # pgbench runs back to back for as long as the playbook takes.
    with PgbenchLoop(conninfo, env, CLIENTS) as load:
        with Writers(connect, WRITERS) as writers:
            time.sleep(3)
            assert writers.committed, 'the writers committed nothing before the switchover'
            started = time.monotonic()
            run = run_playbook('switchover.yml')
            elapsed = time.monotonic() - started
            switched = run.returncode == 0
            time.sleep(2)
    fig = load.figures()

    try:
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        new, old = replica, primary
        summary = re.search(r'NEW PRIMARY: (\S+)', run.stdout)
        assert summary and summary.group(1) == new.name, run.stdout[-3000:]
        assert 'SWAP THE INVENTORY' in run.stdout

        # Roles reversed: the new primary writes, the old one streams from it.
        assert new.psql('SELECT pg_is_in_recovery()') == 'f'
        assert old.psql('SELECT pg_is_in_recovery()') == 't'
        assert _wait(lambda: _streams_from(new, old)), 'the old primary does not stream from the new one'
        assert new.psql("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % _slot(old)) == 't'

        # Zero lost commits: every id whose COMMIT returned is on the new primary.
        present = set(int(x) for x in new.psql('SELECT id FROM switchover_probe', db=db).split())
        lost = sorted(set(writers.committed) - present)
        # A write through PgBouncer lands on the new primary and reaches the new replica.
        conn = connect()
        with conn.cursor() as cur:
            cur.execute('INSERT INTO switchover_probe (at) VALUES (now()) RETURNING id, host(inet_server_addr())')
            marker, server = cur.fetchone()
        conn.commit()
        conn.close()

        pause = re.search(r'writes paused on PgBouncer \(.*?\) for ([\d.]+) s', run.stdout)
        lsn = re.search(r"switchover LSN: old primary's shutdown checkpoint ([0-9A-F]+/[0-9A-F]+)", run.stdout.replace("''", "'"))
        result = {
            'write_unavailable_seconds': float(pause.group(1)) if pause else None,
            'playbook_seconds': round(elapsed, 1),
            'switchover_lsn': lsn.group(1) if lsn else None,
            'committed_probe_rows': len(writers.committed),
            'lost_probe_rows': len(lost),
            'probe_writer_errors': len(writers.errors),
            'probe_writers': WRITERS,
            'pgbench_clients': CLIENTS,
            'pgbench_runs': fig['runs'],
            'pgbench_transactions': fig['transactions'],
            'pgbench_failed': fig['failed'],
            'pgbench_aborted_clients': fig['aborted_clients'],
            'new_primary': new.name,
        }
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, 'w') as fh:
            json.dump(result, fh, indent=2)
            fh.write('\n')
        print('\nswitchover.yml: %s' % json.dumps(result))

        assert not lost, 'committed ids missing on the new primary: %s' % lost[:20]
        assert server == new.address, 'a write through PgBouncer went to %s, not %s' % (server, new.address)
        assert new.psql('SELECT count(*) FROM switchover_probe WHERE id = %d' % marker, db=db) == '1'
        assert _wait(lambda: old.psql('SELECT count(*) FROM switchover_probe WHERE id = %d' % marker, db=db) == '1'), \
            'the write did not reach the new replica'
        assert pause, run.stdout[-2000:]
        load.assert_clean()
        assert not writers.errors, writers.errors[:5]
        assert not any(paused_databases(connect, settings).values()), 'a PgBouncer database was left paused'
        # pgbouncer.ini is the role's own file for the new topology: every
        # database on the new primary or, for the read-only alias, on the
        # new replica; nothing staged is left behind.
        ini = _bouncer_ini(bouncer)
        app_db = settings.get('pgbouncer_app_database', db)
        assert re.search(r'^%s = host=%s ' % (re.escape(app_db), re.escape(new.address)), ini, re.M), ini
        assert re.search(r'^postgres = host=%s ' % re.escape(new.address), ini, re.M), ini
        assert re.search(r'^\S+_ro = host=%s ' % re.escape(old.address), ini, re.M), ini
        assert not _staged_left(bouncer)
    finally:
        if switched:
            # Back to the original topology, with the inventory swapped as the
            # operator would: the stack ends as it started.
            back = _run_swapped('switchover.yml')
            assert back.returncode == 0, back.stdout[-4000:] + back.stderr[-2000:]

    assert primary.psql('SELECT pg_is_in_recovery()') == 'f'
    assert replica.psql('SELECT pg_is_in_recovery()') == 't'
    assert _wait(lambda: _streams_from(primary, replica)), 'the replica does not stream after switching back'
    assert re.search(r'NEW PRIMARY: %s' % re.escape(primary.name), back.stdout)
    assert not any(paused_databases(connect, settings).values()), 'a PgBouncer database was left paused'
    # There and back: byte for byte the file the converge wrote.
    assert _bouncer_ini(bouncer) == ini_converged
    assert not _staged_left(bouncer)


def test_failover_refuses_while_the_primary_answers(primary, replica):
    run = run_playbook('failover.yml')
    assert run.returncode != 0
    assert 'accepts connections: use playbooks/switchover.yml' in run.stdout + run.stderr, run.stdout[-3000:]
    assert replica.psql('SELECT pg_is_in_recovery()') == 't'
    assert primary.psql('SELECT pg_is_in_recovery()') == 'f'


def _start_primary_again(primary, replica, unit):
    primary.host.run('systemctl start %s' % unit)
    assert _wait(lambda: primary.host.run('runuser -u postgres -- pg_isready -q').rc == 0), 'the primary did not start'
    assert _wait(lambda: _streams_from(primary, replica)), 'the replica does not stream again'


def test_failover_refuses_a_primary_that_rejects_connections(primary, replica):
    """A primary in a smart shutdown (a session still open) answers
    pg_isready with "rejecting connections" (exit 1): it is alive and may
    come back, so the failover refuses and promotes nothing."""
    unit = 'postgresql@15-main.service'
    primary.host.run("runuser -u postgres -- sh -c \"nohup psql -X -c 'SELECT pg_sleep(600)' >/dev/null 2>&1 &\"")
    assert _wait(lambda: primary.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%'") == '1')
    try:
        primary.host.run('runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D /var/lib/postgresql/15/main '
                         '-m smart -W')
        assert _wait(lambda: primary.host.run('runuser -u postgres -- pg_isready -q').rc == 1), \
            'pg_isready did not report the primary as rejecting connections'
        run = run_playbook('failover.yml')
        out = ' '.join((run.stdout + run.stderr).split())
        assert run.returncode != 0, out[-3000:]
        assert 'answers but rejects connections' in out, out[-3000:]
        assert replica.psql('SELECT pg_is_in_recovery()') == 't'
        assert primary.unit_property(unit, 'LoadState') == 'loaded'
    finally:
        primary.host.run('runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D /var/lib/postgresql/15/main '
                         '-m fast')
        _start_primary_again(primary, replica, unit)


def test_a_primary_that_cannot_be_fenced_stops_the_failover_before_the_promotion(primary, replica, connect, settings):
    """The primary's server is down but its host answers and its unit cannot
    be masked (a unit file in /etc/systemd/system is in the way): the run
    stops naming the fence that failed, the replica is not promoted and
    PgBouncer still points at the old primary."""
    unit = 'postgresql@15-main.service'
    path = '/etc/systemd/system/%s' % unit
    primary.host.run('systemctl stop %s' % unit)
    primary.host.run('cp /lib/systemd/system/postgresql@.service %s && systemctl daemon-reload' % path)
    try:
        run = run_playbook('failover.yml')
        out = ' '.join((run.stdout + run.stderr).split())
        assert run.returncode != 0, out[-3000:]
        assert re.search(r'the old primary %s answers but could not be fenced \(Stop and mask the PostgreSQL unit'
                         % re.escape(primary.name), out), out[-3000:]
        assert 'NEW PRIMARY' not in out
        assert replica.psql('SELECT pg_is_in_recovery()') == 't'
    finally:
        primary.host.run('rm -f %s && systemctl daemon-reload' % path)
        primary.host.run('systemctl unmask %s' % unit)
        _start_primary_again(primary, replica, unit)
    # PgBouncer still sends the app database to the old primary (its own
    # answer; a query through the pool right after the restart may meet a
    # server connection the restart closed, which is not what this checks).
    hosts = {row['name']: row['host'] for row in pgbouncer_databases(connect, settings)}
    assert hosts[settings.get('postgresql_app_database', 'odoo')] == primary.address, hosts


def test_failover_fences_the_old_primary_and_rejoins_it_only_on_request(primary, replica, bouncer, connect, settings):
    unit = 'postgresql@15-main.service'
    ini_converged = _bouncer_ini(bouncer)
    killed = time.time()
    primary.host.run('systemctl kill --signal=SIGKILL %s' % unit)  # the primary is gone
    assert _wait(lambda: primary.host.run('runuser -u postgres -- pg_isready -q').rc != 0, 30)
    started = time.time()
    run = run_playbook('failover.yml')
    finished = time.time()
    try:
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        # The first write accepted through PgBouncer after the failover, as a
        # client that retries would see it; a refusal in between is counted.
        refused = []

        def write_once():
            try:
                conn = connect()
            except psycopg2.OperationalError as exc:
                refused.append(str(exc).strip())
                return False
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute('CREATE TABLE IF NOT EXISTS failover_probe (at timestamptz)')
                cur.execute('INSERT INTO failover_probe VALUES (now())')
                cur.execute('DROP TABLE failover_probe')
            conn.close()
            return True
        assert _wait(write_once, 120), 'no write accepted through PgBouncer after the failover: %s' % refused[-3:]
        figures = {'seconds_from_kill_to_first_accepted_write': round(time.time() - killed, 1),
                   'connections_refused_after_the_playbook': len(refused),
                   'failover_playbook_seconds': round(finished - started, 1),
                   'note': 'the playbook is started by hand here right after the kill; detection time is not included'}
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(os.path.join(os.path.dirname(RESULTS), 'failover.json'), 'w') as fh:
            json.dump(figures, fh, indent=2)
        print('\nfailover.yml: %s' % json.dumps(figures))
        assert 'NEW PRIMARY: %s' % replica.name in run.stdout
        assert replica.psql('SELECT pg_is_in_recovery()') == 'f'
        # Fenced: masked, marked, and it does not start.
        assert primary.unit_property(unit, 'LoadState') == 'masked'
        assert primary.host.file('/etc/postgresql/15/main/FENCED').exists
        assert primary.host.run('systemctl start %s' % unit).rc != 0, 'a fenced primary started'
        # Writes through PgBouncer land on the new primary.
        conn = connect()
        with conn.cursor() as cur:
            cur.execute('SELECT host(inet_server_addr()), pg_is_in_recovery()')
            server, in_recovery = cur.fetchone()
        conn.close()
        assert (server, in_recovery) == (replica.address, False)
        assert not any(paused_databases(connect, settings).values())
        # Every database, the read-only alias too, on the new primary.
        lines = [line for line in _bouncer_ini(bouncer).splitlines() if ' = host=' in line]
        assert len(lines) == 3 and all(' = host=%s ' % replica.address in line for line in lines), lines
        assert not _staged_left(bouncer)

        rejoin = _run_swapped('failover.yml', '-e', 'failover_rejoin=true')
        assert rejoin.returncode == 0, rejoin.stdout[-4000:] + rejoin.stderr[-2000:]
        assert primary.psql('SELECT pg_is_in_recovery()') == 't'
        assert _wait(lambda: _streams_from(replica, primary)), 'the old primary does not stream after the rejoin'
        assert not primary.host.file('/etc/postgresql/15/main/FENCED').exists
        assert primary.unit_property(unit, 'LoadState') == 'loaded'
        assert re.search(r'^\S+_ro = host=%s ' % re.escape(primary.address), _bouncer_ini(bouncer), re.M)
        assert not _staged_left(bouncer)
    finally:
        if run.returncode == 0:
            if not _streams_from(replica, primary):
                _run_swapped('failover.yml', '-e', 'failover_rejoin=true')
            back = _run_swapped('switchover.yml')
            assert back.returncode == 0, back.stdout[-4000:] + back.stderr[-2000:]
    assert primary.psql('SELECT pg_is_in_recovery()') == 'f'
    assert _wait(lambda: _streams_from(primary, replica)), 'the replica does not stream after switching back'
    assert _bouncer_ini(bouncer) == ini_converged
