"""The data tier as a user sees it, from outside the hosts: replication,
PgBouncer pooling and routing, authentication, limits and file modes."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg2
import pytest


# -- PostgreSQL primary and replica ------------------------------------------

def test_primary_is_not_in_recovery(primary):
    assert primary.psql('SELECT pg_is_in_recovery()') == 'f'


def test_replica_is_a_hot_standby(replica):
    assert replica.psql('SELECT pg_is_in_recovery()') == 't'
    assert replica.psql('SHOW hot_standby') == 'on'


def test_replica_streams_from_its_own_active_slot(primary, replica):
    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    assert primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = '%s'" % slot) == 'streaming'
    assert primary.psql("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % slot) == 't'
    assert primary.psql("SELECT slot_type FROM pg_replication_slots WHERE slot_name = '%s'" % slot) == 'physical'


def test_wal_kept_for_a_dead_replica_is_bounded(primary, settings):
    assert primary.psql('SHOW max_slot_wal_keep_size') == settings['postgresql_max_slot_wal_keep_size']


def test_settings_are_derived_from_the_memory_budget(primary, settings):
    # The local inventory's 1024 MB budget: a quarter for shared_buffers.
    assert settings['postgresql_memory_mb'] == 1024, 'the expected values are for the local inventory'
    assert primary.psql('SHOW shared_buffers') == '256MB'
    assert primary.psql('SHOW max_connections') == str(settings['postgresql_max_connections'])
    assert primary.psql('SHOW password_encryption') == 'scram-sha-256'
    assert primary.psql('SHOW log_min_duration_statement') == settings['postgresql_log_min_duration_statement']


def test_pg_stat_statements_is_loaded_and_created(primary, settings):
    assert 'pg_stat_statements' in primary.psql('SHOW shared_preload_libraries')
    db = settings.get('postgresql_app_database', 'odoo')
    # A statement of ours shows up in it: it is tracking, not just loaded.
    primary.psql('SELECT 1 AS odoo_scale_pss_probe', db=db)
    assert int(primary.psql("SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%odoo_scale_pss_probe%'",
                            db=db)) >= 1


def test_postgresql_unit_carries_memory_limits(primary, settings):
    out = primary.host.check_output('systemctl show postgresql@15-main.service -p MemoryMax -p MemoryHigh')
    # 1024 MB: MemoryMax 100 % = 1073741824 bytes, MemoryHigh 90 % = 921 MB = 965738496 bytes.
    assert settings['postgresql_memory_mb'] == 1024, 'the expected values are for the local inventory'
    assert 'MemoryMax=1073741824' in out
    assert 'MemoryHigh=965738496' in out


def test_postgres_runs_as_postgres(primary, replica):
    for node in (primary, replica):
        users = {p.user for p in node.host.process.filter(comm='postgres')}
        assert users == {'postgres'}


# -- Replication seen through PgBouncer --------------------------------------

def test_a_row_committed_through_pgbouncer_reaches_the_replica(connect, settings):
    """The row shows up on the read-only alias. How soon is a figure (printed
    here, and the replica-lag alert's business), not a bound a loaded machine
    could miss."""
    token = uuid.uuid4().hex
    rw = connect()
    with rw, rw.cursor() as cur:
        cur.execute('CREATE TABLE IF NOT EXISTS replication_probe (token text PRIMARY KEY, at timestamptz DEFAULT now())')
        cur.execute('INSERT INTO replication_probe (token) VALUES (%s)', (token,))
    rw.close()
    committed = time.monotonic()
    ro = connect(dbname=settings.get('postgresql_app_database', 'odoo') + '_ro')
    ro.autocommit = True
    seen = None
    with ro.cursor() as cur:
        while time.monotonic() - committed < 120:
            try:
                cur.execute('SELECT 1 FROM replication_probe WHERE token = %s', (token,))
                if cur.fetchone():
                    seen = time.monotonic() - committed
                    break
            except psycopg2.errors.UndefinedTable:
                pass  # the CREATE TABLE has not been replayed yet
            time.sleep(0.01)
    ro.close()
    assert seen is not None, 'row not visible on the replica 120 s after commit'
    print('replica visibility after commit: %.3f s' % seen)


def test_read_only_alias_reaches_the_replica(connect, settings):
    ro = connect(dbname=settings.get('postgresql_app_database', 'odoo') + '_ro')
    with ro.cursor() as cur:
        cur.execute('SELECT pg_is_in_recovery()')
        assert cur.fetchone()[0] is True
    ro.close()


def test_a_write_on_the_replica_fails(connect, settings):
    ro = connect(dbname=settings.get('postgresql_app_database', 'odoo') + '_ro')
    with pytest.raises(psycopg2.errors.ReadOnlySqlTransaction):
        with ro.cursor() as cur:
            cur.execute('CREATE TABLE odoo_scale_must_fail (x int)')
    ro.close()


# -- PgBouncer ---------------------------------------------------------------

def test_200_clients_share_at_most_the_pool(connect, primary, settings):
    clients = 200
    ceiling = settings['pgbouncer_app_pool_size'] + settings['pgbouncer_app_reserve_pool_size']
    user = settings.get('postgresql_app_user', 'odoo')
    db = settings.get('postgresql_app_database', 'odoo')
    errors = []
    ready = threading.Barrier(clients + 1)

    def client():
        try:
            conn = connect()
            conn.autocommit = True
            ready.wait(timeout=300)
            with conn.cursor() as cur:
                cur.execute('SELECT pg_sleep(0.5)')
            conn.close()
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
            try:
                ready.abort()
            except threading.BrokenBarrierError:
                pass

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    ready.wait(timeout=300)
    peak = 0
    while any(t.is_alive() for t in threads):
        count = int(primary.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' AND datname = '%s' "
                                 "AND backend_type = 'client backend'" % (user, db)))
        peak = max(peak, count)
    for t in threads:
        t.join()
    assert errors == []
    assert peak <= ceiling, 'PostgreSQL saw %d server connections for a pool of %d' % (peak, ceiling)
    # The sampler must have seen the pool busy, or the check above proves nothing.
    assert peak >= settings['pgbouncer_app_pool_size'] // 2


def test_listen_notify_works_through_the_session_mode_postgres_entry(connect):
    listener = connect(dbname='postgres')
    listener.autocommit = True
    sender = connect(dbname='postgres')
    sender.autocommit = True
    channel = 'odoo_scale_' + uuid.uuid4().hex[:8]
    with listener.cursor() as cur:
        cur.execute('LISTEN %s' % channel)
    with sender.cursor() as cur:
        cur.execute('SELECT pg_notify(%s, %s)', (channel, 'hello'))
    deadline = time.monotonic() + 120     # a hang guard: delivery takes milliseconds
    got = []
    while time.monotonic() < deadline and not got:
        listener.poll()
        got.extend(n.payload for n in listener.notifies)
        time.sleep(0.05)
    listener.close()
    sender.close()
    assert got == ['hello']


def test_a_wrong_password_is_refused(connect):
    with pytest.raises(psycopg2.OperationalError, match='authentication failed'):
        connect(password='not-the-password')


def test_console_users_reach_the_admin_console(connect, settings):
    stats = connect(dbname='pgbouncer', user=settings.get('pgbouncer_stats_user', 'pgbouncer_stats'),
                    password=settings['pgbouncer_stats_password'])
    stats.autocommit = True
    with stats.cursor() as cur:
        cur.execute('SHOW POOLS')
        pools = {row[0]: row for row in cur.fetchall()}
    stats.close()
    assert {'odoo', 'postgres', 'odoo_ro'} <= set(pools)


def test_pgbouncer_runs_as_its_own_user_with_limits(bouncer, settings):
    assert {p.user for p in bouncer.host.process.filter(comm='pgbouncer')} == {'pgbouncer'}
    out = bouncer.host.check_output('systemctl show pgbouncer -p MemoryMax')
    assert out == 'MemoryMax=%d' % (settings['pgbouncer_memory_max_mb'] * 1024 * 1024)


def test_userlist_holds_only_scram_verifiers(bouncer, settings):
    userlist = bouncer.host.file('/etc/pgbouncer/userlist.txt')
    assert userlist.user == 'pgbouncer'
    assert userlist.mode == 0o600
    content = bouncer.host.check_output('cat /etc/pgbouncer/userlist.txt')
    for secret in ('postgresql_app_password', 'pgbouncer_admin_password', 'pgbouncer_stats_password'):
        assert settings[secret] not in content
    entries = [line for line in content.splitlines() if line.startswith('"')]
    assert entries and all('"SCRAM-SHA-256$' in line for line in entries)


# -- pg_hba ------------------------------------------------------------------

def test_replication_is_refused_from_a_non_replica_host(bouncer, primary, settings):
    cmd = bouncer.host.run(
        "PGPASSWORD='%s' psql 'host=%s user=%s dbname=postgres replication=true connect_timeout=5' "
        "-c IDENTIFY_SYSTEM" % (settings['postgresql_replication_password'], primary.address,
                                settings.get('postgresql_replication_user', 'replicator')))
    assert cmd.rc != 0
    assert 'no pg_hba.conf entry' in cmd.stderr or 'rejects connection' in cmd.stderr


def test_the_application_role_is_refused_from_outside_pgbouncer(primary, settings):
    with pytest.raises(psycopg2.OperationalError, match='pg_hba.conf'):
        psycopg2.connect(host=primary.address, port=5432, dbname='odoo', user='odoo',
                         password=settings['postgresql_app_password'], connect_timeout=5)


def test_the_replication_password_file_is_private(replica):
    pgpass = replica.host.file('/var/lib/postgresql/.pgpass')
    assert pgpass.user == 'postgres'
    assert pgpass.mode == 0o600
