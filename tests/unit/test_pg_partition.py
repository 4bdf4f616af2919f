"""pg_partition against a real PostgreSQL server: partitions, default-row
moves, retention, check mode, standby, bad input, and the timer CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.path.join(REPO, 'roles', 'db_maintenance', 'files', 'odoo-scale-partitions')

IOT_COLUMNS = [
    {'name': 'id', 'type': 'bigint GENERATED ALWAYS AS IDENTITY'},
    {'name': 'device', 'type': 'text NOT NULL'},
    {'name': 'reading', 'type': 'numeric'},
    {'name': 'recorded_at', 'type': 'timestamptz NOT NULL'},
    'PRIMARY KEY (id, recorded_at)',
]


def args_for(db, **kw):
    server, name = db
    a = dict(server.params)
    a['login_db'] = name
    a.update(kw)
    return a


def partitions(db, parent, schema='public'):
    """{name: bound expression} of the parent's partitions."""
    server, name = db
    rows = server.sql("""
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = to_regclass(%s)::oid ORDER BY 1""",
                      ('%s.%s' % (quote(schema), quote(parent)),), dbname=name)
    return dict(rows)


def quote(ident):
    return '"' + ident.replace('"', '""') + '"'


def table_exists(db, schema, table):
    server, name = db
    return server.sql('SELECT to_regclass(%s) IS NOT NULL', ('%s.%s' % (quote(schema), quote(table)),),
                      dbname=name)[0][0]


def count(db, rel, where='true'):
    server, name = db
    return server.sql('SELECT count(*) FROM %s WHERE %s' % (rel, where), dbname=name)[0][0]


def iot(db, run, **kw):
    a = args_for(db, parent='iot', column='recorded_at', interval='month', premake=3,
                 create_parent=IOT_COLUMNS, now='2026-11-23')
    a.update(kw)
    return run('pg_partition', a)


# ------------------------------------------------------------- creation ---

def test_create_parent_premake_and_default_then_idempotent(db, run):
    res = iot(db, run)
    assert not res.failed, res
    assert res['changed'] is True
    parts = partitions(db, 'iot')
    assert sorted(parts) == ['iot_default', 'iot_p2026_11', 'iot_p2026_12', 'iot_p2027_01', 'iot_p2027_02']
    assert parts['iot_default'] == 'DEFAULT'
    assert parts['iot_p2026_12'] == "FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00')"
    assert any(q.startswith('CREATE TABLE "public"."iot" (') and 'PARTITION BY RANGE ("recorded_at")' in q
               for q in res['queries'])
    assert res['tables'][0]['parent_created'] is True
    # Inserts through the parent route to the right partition; identity works.
    server, name = db
    server.sql("INSERT INTO iot (device, reading, recorded_at) VALUES ('a', 1, '2026-12-05 10:00+00')",
               dbname=name)
    assert count(db, 'iot_p2026_12') == 1

    again = iot(db, run)
    assert not again.failed, again
    assert again['changed'] is False
    assert again['queries'] == [] and again['created'] == []
    assert again['unchanged'] == 4
    assert partitions(db, 'iot') == parts


def test_date_column_existing_parent_no_default(db, run):
    server, name = db
    server.sql('CREATE TABLE ev (id int, happened date NOT NULL) PARTITION BY RANGE (happened)', dbname=name)
    res = run('pg_partition', args_for(db, parent='ev', column='happened', interval='day', premake=2,
                                       default_partition=False, now='2026-11-23'))
    assert not res.failed, res
    parts = partitions(db, 'ev')
    assert sorted(parts) == ['ev_p2026_11_23', 'ev_p2026_11_24', 'ev_p2026_11_25']
    assert parts['ev_p2026_11_25'] == "FOR VALUES FROM ('2026-11-25') TO ('2026-11-26')"


@pytest.mark.parametrize('interval,now,expected', [
    # 2026-11-23 is a Monday: weeks start there; 2026-11-25 (Wednesday) too.
    ('week', '2026-11-25', {'w_p2026w48': ('2026-11-23', '2026-11-30'),
                            'w_p2026w49': ('2026-11-30', '2026-12-07'),
                            'w_p2026w50': ('2026-12-07', '2026-12-14')}),
    ('quarter', '2026-11-23', {'w_p2026q4': ('2026-10-01', '2027-01-01'),
                               'w_p2027q1': ('2027-01-01', '2027-04-01'),
                               'w_p2027q2': ('2027-04-01', '2027-07-01')}),
    ('year', '2026-02-28', {'w_p2026': ('2026-01-01', '2027-01-01'),
                            'w_p2027': ('2027-01-01', '2028-01-01'),
                            'w_p2028': ('2028-01-01', '2029-01-01')}),
    # ISO week 53 of 2026 starts Monday 2026-12-28; 2027's week 1 on 2027-01-04.
    ('week', '2026-12-31', {'w_p2026w53': ('2026-12-28', '2027-01-04'),
                            'w_p2027w01': ('2027-01-04', '2027-01-11'),
                            'w_p2027w02': ('2027-01-11', '2027-01-18')}),
])
def test_interval_bounds(db, run, interval, now, expected):
    server, name = db
    server.sql('CREATE TABLE w (k date NOT NULL) PARTITION BY RANGE (k)', dbname=name)
    res = run('pg_partition', args_for(db, parent='w', column='k', interval=interval, premake=2,
                                       default_partition=False, now=now))
    assert not res.failed, res
    parts = partitions(db, 'w')
    assert parts == {n: "FOR VALUES FROM ('%s') TO ('%s')" % b for n, b in expected.items()}


def test_timestamp_without_tz_and_tables_list_share_one_call(db, run):
    server, name = db
    server.sql('CREATE TABLE a (t timestamp NOT NULL) PARTITION BY RANGE (t)', dbname=name)
    server.sql('CREATE TABLE b (d date NOT NULL) PARTITION BY RANGE (d)', dbname=name)
    res = run('pg_partition', args_for(db, now='2026-11-23', premake=1, tables=[
        dict(parent='a', column='t', interval='month'),
        dict(parent='b', column='d', interval='year', default_partition=False),
    ]))
    assert not res.failed, res
    assert sorted(partitions(db, 'a')) == ['a_default', 'a_p2026_11', 'a_p2026_12']
    assert partitions(db, 'a')['a_p2026_12'] == \
        "FOR VALUES FROM ('2026-12-01 00:00:00') TO ('2027-01-01 00:00:00')"
    assert sorted(partitions(db, 'b')) == ['b_p2026', 'b_p2027']
    assert [t['table'] for t in res['tables']] == ['public.a', 'public.b']


def test_hostile_identifiers_quoted(db, run):
    server, name = db
    server.sql('CREATE SCHEMA "Sch ""x"""', dbname=name)
    parent = 'Mixed"Case; DROP'
    res = run('pg_partition', args_for(db, schema='Sch "x"', parent=parent, column='When "ts"', premake=1,
                                       now='2026-11-23',
                                       create_parent=[{'name': 'When "ts"', 'type': 'date NOT NULL'},
                                                      {'name': 'v', 'type': 'int'}]))
    assert not res.failed, res
    parts = partitions(db, parent, schema='Sch "x"')
    assert sorted(parts) == sorted([parent + '_default', parent + '_p2026_11', parent + '_p2026_12'])
    server.sql('INSERT INTO "Sch ""x"""."Mixed""Case; DROP" VALUES (%s, 1)', (dt.date(2026, 12, 2),), dbname=name)
    assert count(db, '"Sch ""x"""."Mixed""Case; DROP_p2026_12"') == 1
    assert run('pg_partition', args_for(db, schema='Sch "x"', parent=parent, column='When "ts"', premake=1,
                                        now='2026-11-23'))['changed'] is False


# ------------------------------------------------------ default partition ---

def test_rows_in_default_moved_when_time_advances(db, run):
    # With a retention, partitions start at the retention boundary: rows
    # older than that stay in the default partition.
    assert not iot(db, run, premake=1, move_batch_size=7, retention='24 months').failed
    server, name = db
    # 50 rows for January and 20 for March 2027: no partition for them yet,
    # so they land in the default partition, plus 5 rows that stay there
    # (older than the retention boundary).
    server.sql("""INSERT INTO iot (device, reading, recorded_at)
                  SELECT 'd' || g, g, '2027-01-01 00:00+00'::timestamptz + (g || ' hours')::interval
                    FROM generate_series(0, 49) g""", dbname=name)
    server.sql("""INSERT INTO iot (device, reading, recorded_at)
                  SELECT 'm' || g, g, '2027-03-31 23:00+00'::timestamptz - (g || ' minutes')::interval
                    FROM generate_series(1, 20) g""", dbname=name)
    server.sql("INSERT INTO iot (device, reading, recorded_at) SELECT 'old', g, '2020-01-01+00' "
               "FROM generate_series(1, 5) g", dbname=name)
    before = server.sql('SELECT id, device, reading, recorded_at FROM iot ORDER BY id', dbname=name)
    assert count(db, 'iot_default') == 75

    res = iot(db, run, premake=1, move_batch_size=7, now='2027-02-10', retention='24 months')
    assert not res.failed, res
    assert res['changed'] is True
    moved = {a['partition']: a for a in res['attached_from_default']}
    assert moved['public.iot_p2027_01']['rows'] == 50
    assert moved['public.iot_p2027_01']['lock'] == 'ACCESS EXCLUSIVE on the parent'
    assert moved['public.iot_p2027_03']['rows'] == 20
    assert 'public.iot_p2027_02' in res['created'] and 'public.iot_p2027_02' not in moved
    assert set(moved) == {'public.iot_p2027_01', 'public.iot_p2027_03'}
    assert count(db, 'iot_p2027_01') == 50
    assert count(db, 'iot_p2027_03') == 20
    assert count(db, 'iot_default') == 5
    assert count(db, 'iot_default', "recorded_at >= '2027-01-01+00'") == 0
    after = server.sql('SELECT id, device, reading, recorded_at FROM iot ORDER BY id', dbname=name)
    assert after == before
    # The helper CHECK is gone and the partitions are attached with the right bounds.
    assert server.sql("SELECT count(*) FROM pg_constraint WHERE conname = 'odoo_scale_partition_bounds'",
                      dbname=name)[0][0] == 0
    parts = partitions(db, 'iot')
    assert parts['iot_p2027_03'] == "FOR VALUES FROM ('2027-03-01 00:00:00+00') TO ('2027-04-01 00:00:00+00')"
    # The primary key index was attached, not duplicated.
    idx = server.sql("SELECT count(*) FROM pg_index WHERE indrelid = 'iot_p2027_01'::regclass", dbname=name)
    assert idx[0][0] == 1
    # Each range moves in the transaction that attaches its partition,
    # under ACCESS EXCLUSIVE on the parent, with FK/ordinary triggers off.
    q = res['queries']
    lock = q.index('LOCK TABLE ONLY "public"."iot" IN ACCESS EXCLUSIVE MODE')
    move = next(i for i, s in enumerate(q) if s.startswith('WITH moved AS (DELETE FROM "public"."iot_default"'))
    attach = next(i for i, s in enumerate(q)
                  if s.startswith('ALTER TABLE "public"."iot" ATTACH PARTITION "public"."iot_p2027_01"'))
    assert q[lock - 2] == 'BEGIN' and lock < move < attach and 'COMMIT' not in q[lock:attach]
    assert q[move - 1] == 'SET LOCAL session_replication_role = replica'
    assert iot(db, run, premake=1, move_batch_size=7, now='2027-02-10', retention='24 months')['changed'] is False


def test_leftover_of_interrupted_move_is_resumed(db, run):
    assert not iot(db, run, premake=1).failed
    server, name = db
    server.sql("INSERT INTO iot (device, reading, recorded_at) VALUES ('x', 1, '2027-01-15+00')", dbname=name)
    # What a run killed after its first steps leaves behind.
    server.sql('CREATE TABLE iot_p2027_01 (LIKE iot INCLUDING ALL EXCLUDING IDENTITY)', dbname=name)
    server.sql("ALTER TABLE iot_p2027_01 ADD CONSTRAINT odoo_scale_partition_bounds CHECK "
               "(recorded_at IS NOT NULL AND recorded_at >= '2027-01-01+00' AND recorded_at < '2027-02-01+00')",
               dbname=name)
    res = iot(db, run, premake=1, now='2027-01-10')
    assert not res.failed, res
    assert 'iot_p2027_01' in partitions(db, 'iot')
    assert count(db, 'iot_p2027_01') == 1 and count(db, 'iot_default') == 0


def test_name_taken_by_foreign_table_refused(db, run):
    assert not iot(db, run, premake=1).failed
    server, name = db
    server.sql('CREATE TABLE iot_p2027_01 (x int)', dbname=name)
    res = iot(db, run, premake=1, now='2027-01-10')
    assert res.failed
    assert 'iot_p2027_01 already exists and is not a partition' in res['msg']
    assert 'iot_p2027_02' not in partitions(db, 'iot')


# ------------------------------------------------------------- retention ---

def _ev_table(db, default=False):
    server, name = db
    server.sql('CREATE TABLE ev (id int, at timestamptz NOT NULL) PARTITION BY RANGE (at)', dbname=name)
    return dict(parent='ev', column='at', interval='month', premake=1, default_partition=default)


def test_retention_drop_uses_concurrently(db, run):
    spec = _ev_table(db)
    res = run('pg_partition', args_for(db, now='2026-01-15', retention='3 months', **spec))
    assert not res.failed, res
    assert sorted(partitions(db, 'ev')) == ['ev_p2025_10', 'ev_p2025_11', 'ev_p2025_12', 'ev_p2026_01',
                                            'ev_p2026_02']
    server, name = db
    server.sql("INSERT INTO ev SELECT g, '2025-10-01+00'::timestamptz + g * interval '1 day' "
               "FROM generate_series(0, 61) g", dbname=name)
    res = run('pg_partition', args_for(db, now='2026-03-05', retention='3 months', **spec))
    assert not res.failed, res
    # boundary 2025-12-05: October and November (upper <= boundary) go.
    assert res['dropped'] == ['public.ev_p2025_10', 'public.ev_p2025_11']
    assert all(d['method'] == 'CONCURRENTLY' for d in res['detached'])
    assert any(q.endswith('DETACH PARTITION "public"."ev_p2025_10" CONCURRENTLY') for q in res['queries'])
    assert not table_exists(db, 'public', 'ev_p2025_10')
    assert sorted(partitions(db, 'ev')) == ['ev_p2025_12', 'ev_p2026_01', 'ev_p2026_02', 'ev_p2026_03',
                                            'ev_p2026_04']
    assert count(db, 'ev') == 1  # 62 days from 2025-10-01: only 2025-12-01 is left


def test_retention_detach_and_keep_with_default_partition(db, run):
    spec = _ev_table(db, default=True)
    spec.update(retention='2 months', retention_mode='detach', retention_schema='archive')
    assert not run('pg_partition', args_for(db, now='2026-01-15', **spec)).failed
    server, name = db
    server.sql("INSERT INTO ev VALUES (1, '2025-11-20+00')", dbname=name)
    res = run('pg_partition', args_for(db, now='2026-03-10', **spec))
    assert not res.failed, res
    assert res['dropped'] == []
    det = {d['partition']: d for d in res['detached']}
    assert sorted(det) == ['public.ev_p2025_11', 'public.ev_p2025_12']
    # A default partition exists: CONCURRENTLY is refused by PostgreSQL, so plain and said so.
    assert det['public.ev_p2025_11']['method'] == 'plain'
    assert 'default partition' in det['public.ev_p2025_11']['note']
    assert det['public.ev_p2025_11']['kept_as'] == 'archive.ev_p2025_11'
    assert table_exists(db, 'archive', 'ev_p2025_11')
    assert not table_exists(db, 'public', 'ev_p2025_11')
    assert count(db, 'archive.ev_p2025_11') == 1
    assert 'ev_p2025_11' not in partitions(db, 'ev')
    assert server.sql("SELECT relispartition FROM pg_class WHERE oid = 'archive.ev_p2025_11'::regclass",
                      dbname=name)[0][0] is False
    assert run('pg_partition', args_for(db, now='2026-03-10', **spec))['changed'] is False


def _interrupted_detach(db, partition):
    """Leave `partition` "detach pending": DETACH ... CONCURRENTLY waits for
    an older snapshot, and is cancelled by statement_timeout meanwhile."""
    server, name = db
    holder = server.connect(name, autocommit=False)
    try:
        with holder.cursor() as cur:
            cur.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
            cur.execute('SELECT count(*) FROM ev')
            detacher = server.connect(name)
            try:
                with detacher.cursor() as dcur:
                    dcur.execute("SET statement_timeout = '1s'")
                    with pytest.raises(Exception, match='statement timeout'):
                        dcur.execute('ALTER TABLE ev DETACH PARTITION %s CONCURRENTLY' % partition)
            finally:
                detacher.close()
    finally:
        holder.rollback()
        holder.close()
    assert server.sql("SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = %s::regclass",
                      (partition,), dbname=name) == [(True,)]


def test_interrupted_concurrent_detach_is_finalized(db, run):
    spec = _ev_table(db)
    assert not run('pg_partition', args_for(db, now='2026-01-15', retention='3 months', **spec)).failed
    _interrupted_detach(db, 'ev_p2025_10')
    # Within retention someone else's detach is left alone, and its range is not re-created.
    res = run('pg_partition', args_for(db, now='2026-01-15', retention='3 months', **spec))
    assert not res.failed, res
    assert res['changed'] is False and 'detach pending' in res['skipped'][0]['reason']
    # Past retention: FINALIZE, then drop.
    res = run('pg_partition', args_for(db, now='2026-02-20', retention='3 months', **spec))
    assert not res.failed, res
    assert 'ALTER TABLE "public"."ev" DETACH PARTITION "public"."ev_p2025_10" FINALIZE' in res['queries']
    assert res['dropped'] == ['public.ev_p2025_10']
    assert not table_exists(db, 'public', 'ev_p2025_10')
    assert 'ev_p2025_11' in partitions(db, 'ev')


def test_refuses_to_drop_partition_holding_young_rows(db, run):
    spec = _ev_table(db)
    assert not run('pg_partition', args_for(db, now='2026-01-15', **spec)).failed
    server, name = db
    # A partition whose rows contradict its bounds: attached on the strength
    # of a CHECK constraint that was marked valid without being checked (a
    # hand-made "fast attach" gone wrong). Only max(column) reveals it.
    server.sql("CREATE TABLE ev_old (LIKE ev)", dbname=name)
    server.sql("INSERT INTO ev_old VALUES (1, '2025-06-10+00'), (2, '2026-01-20+00')", dbname=name)
    server.sql("ALTER TABLE ev_old ADD CONSTRAINT c CHECK (at IS NOT NULL AND at >= '2025-06-01+00' "
               "AND at < '2025-07-01+00') NOT VALID", dbname=name)
    server.sql("UPDATE pg_constraint SET convalidated = true WHERE conname = 'c' "
               "AND conrelid = 'ev_old'::regclass", dbname=name)
    server.sql("ALTER TABLE ev ATTACH PARTITION ev_old FOR VALUES FROM ('2025-06-01+00') TO ('2025-07-01+00')",
               dbname=name)
    res = run('pg_partition', args_for(db, now='2026-01-15', retention='3 months', **spec))
    assert not res.failed, res
    assert res['dropped'] == []
    assert res['refused'][0]['partition'] == 'public.ev_old'
    assert 'younger than the retention boundary' in res['refused'][0]['reason']
    assert 'ev_old' in partitions(db, 'ev')
    assert count(db, 'ev_old') == 2


# ------------------------------------------------------ check mode, diff ---

def test_check_mode_changes_nothing_and_lists_sql(db, run):
    assert not iot(db, run, premake=1).failed
    server, name = db
    server.sql("INSERT INTO iot (device, reading, recorded_at) VALUES ('x', 1, '2027-01-15+00')", dbname=name)
    before = partitions(db, 'iot')
    a = args_for(db, parent='iot', column='recorded_at', interval='month', premake=1, now='2027-03-10',
                 retention='3 months')
    res = run('pg_partition', a, check_mode=True, diff=True)
    assert not res.failed, res
    assert res['changed'] is True
    assert partitions(db, 'iot') == before
    assert count(db, 'iot_default') == 1
    q = res['queries']
    assert ('CREATE TABLE "public"."iot_p2027_01" (LIKE "public"."iot" INCLUDING ALL EXCLUDING IDENTITY '
            'EXCLUDING INDEXES)') in q
    assert any(s.startswith('ALTER TABLE "public"."iot" ATTACH PARTITION "public"."iot_p2027_01" FOR VALUES '
                            "FROM ('2027-01-01 00:00:00') TO ('2027-02-01 00:00:00')") for s in q)
    assert any(s.startswith('WITH moved AS (DELETE FROM "public"."iot_default"') for s in q)
    assert 'ALTER TABLE "public"."iot" DETACH PARTITION "public"."iot_p2026_11"' in q
    assert 'DROP TABLE "public"."iot_p2026_11"' in q
    assert res['attached_from_default'][0]['rows'] == 1
    assert res['dropped'] == ['public.iot_p2026_11']
    assert 'DROP TABLE "public"."iot_p2026_11"' in res['diff']['after']
    # Check mode on a parent that does not exist yet: DDL validated, nothing left.
    res = run('pg_partition', args_for(db, parent='newp', column='recorded_at', create_parent=IOT_COLUMNS,
                                       now='2026-11-23'), check_mode=True)
    assert not res.failed, res
    assert res['changed'] is True and res['queries'][0].startswith('CREATE TABLE "public"."newp"')
    assert not table_exists(db, 'public', 'newp')


def test_standby_is_a_reported_noop(pg, db, run):
    server, name = db
    server.sql('CREATE TABLE ev (at date NOT NULL) PARTITION BY RANGE (at)', dbname=name)
    # pg_basebackup waits for a spread checkpoint: an immediate one first
    # leaves it nearly nothing to write.
    server.sql('CHECKPOINT')
    standby = pg.make_standby()
    try:
        a = dict(standby.params, login_db=name, parent='ev', column='at', now='2026-11-23')
        res = run('pg_partition', a)
        assert not res.failed, res
        assert res['changed'] is False and res['standby'] is True
        assert res['queries'] == []
    finally:
        standby.destroy()
    assert partitions(db, 'ev') == {}


# ------------------------------------------------------------- bad input ---

def _bad(db, run, setup=None, **kw):
    server, name = db
    if setup:
        server.sql(setup, dbname=name)
    tables_before = server.sql("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
                               dbname=name)[0][0]
    a = args_for(db, **kw)
    res = run('pg_partition', a)
    assert res.failed, res
    assert '\n' not in res['msg']
    assert server.sql("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
                      dbname=name)[0][0] == tables_before
    return res['msg']


PART = 'CREATE TABLE t (k date NOT NULL, n int, s text) PARTITION BY RANGE (k)'


def test_bad_unknown_interval(db, run):
    assert 'fortnight' in _bad(db, run, PART, parent='t', column='k', interval='fortnight')


@pytest.mark.parametrize('premake', [0, -2])
def test_bad_premake(db, run, premake):
    assert 'premake must be an integer >= 1' in _bad(db, run, PART, parent='t', column='k', premake=premake)


@pytest.mark.parametrize('retention', ['soon', '12 parsecs', '0 days', '-3 months'])
def test_bad_retention(db, run, retention):
    assert 'retention' in _bad(db, run, PART, parent='t', column='k', retention=retention)


def test_bad_not_partitioned(db, run):
    assert 'not a partitioned table' in _bad(db, run, 'CREATE TABLE t (k date)', parent='t', column='k')


def test_bad_other_column(db, run):
    msg = _bad(db, run, 'CREATE TABLE t (k date, j date) PARTITION BY RANGE (j)', parent='t', column='k')
    assert 'partitioned by column j, not by k' in msg


@pytest.mark.parametrize('strategy', ['LIST', 'HASH'])
def test_bad_list_or_hash(db, run, strategy):
    msg = _bad(db, run, 'CREATE TABLE t (k date) PARTITION BY %s (k)' % strategy, parent='t', column='k')
    assert 'not by range' in msg


@pytest.mark.parametrize('coltype', ['integer', 'text'])
def test_bad_column_type(db, run, coltype):
    msg = _bad(db, run, 'CREATE TABLE t (k %s) PARTITION BY RANGE (k)' % coltype, parent='t', column='k')
    assert 'only date, timestamp and timestamptz' in msg and coltype in msg


def test_bad_missing_parent_without_create(db, run):
    assert 'does not exist' in _bad(db, run, parent='nope', column='k')


def test_bad_partition_name_too_long_nothing_created(db, run):
    parent = 'p' * 58  # the parent fits in 63 bytes, "<parent>_p2026_11" does not
    msg = _bad(db, run, parent=parent, column='k', now='2026-11-23',
               create_parent=[{'name': 'k', 'type': 'date'}])
    assert 'over PostgreSQL\'s 63-byte limit' in msg
    assert not table_exists(db, 'public', parent)


def test_bad_create_parent_wrong_type_nothing_created(db, run):
    msg = _bad(db, run, parent='np', column='k', create_parent=[{'name': 'k', 'type': 'integer'}])
    assert 'only date, timestamp and timestamptz' in msg
    assert not table_exists(db, 'public', 'np')


def test_bad_second_table_blocks_first(db, run):
    server, name = db
    server.sql(PART, dbname=name)
    msg = _bad(db, run, now='2026-11-23', tables=[dict(parent='t', column='k'),
                                                  dict(parent='t2', column='k', interval='month',
                                                       retention='soonish')])
    assert 'retention' in msg
    assert partitions(db, 't') == {}


@pytest.mark.parametrize('option,value,needle', [
    ('lock_retries', -1, 'lock_retries must be an integer >= 0'),
    ('lock_timeout', "5s'; DROP TABLE t; --", 'lock_timeout'),
    ('move_batch_size', 0, 'move_batch_size must be an integer >= 1'),
    ('timezone', "UTC'; --", 'timezone'),
])
def test_bad_option_values(db, run, option, value, needle):
    assert needle in _bad(db, run, PART, parent='t', column='k', **{option: value})
    assert partitions(db, 't') == {}


def test_bad_name_pattern_token(db, run):
    assert 'token' in _bad(db, run, PART, parent='t', column='k', name_pattern='{parent}_{YYYYMM}')


# ------------------------------------------------------------- timer CLI ---

def test_cli_runs_config(db, tmp_path):
    server, name = db
    server.sql(PART, dbname=name)
    conf = tmp_path / 'partitions.json'
    conf.write_text(json.dumps(dict(
        connection=dict(server.params, login_db=name),
        defaults=dict(premake=2, now='2026-11-23'),
        tables=[dict(parent='t', column='k', interval='month'),
                dict(parent='iot', column='recorded_at', interval='week', create_parent=IOT_COLUMNS,
                     retention='4 weeks')],
    )))
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, 'plugins', 'module_utils'))
    proc = subprocess.run([sys.executable, CLI, '--config', str(conf)], env=env, capture_output=True, check=False,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('public.t: created 4 ')
    assert 'parent created' in lines[1]
    assert sorted(partitions(db, 't')) == ['t_default', 't_p2026_11', 't_p2026_12', 't_p2027_01']
    assert 'iot_p2026w48' in partitions(db, 'iot')
    # Re-run: nothing to do, still exit 0.
    proc = subprocess.run([sys.executable, CLI, '--config', str(conf)], env=env, capture_output=True, check=False,
                          text=True, timeout=120)
    assert proc.returncode == 0 and 'created 0 ' in proc.stdout
    # Bad config: non-zero exit and a one-line error on stderr.
    conf.write_text(json.dumps(dict(connection=dict(server.params, login_db=name),
                                    tables=[dict(parent='t', column='k', interval='hourly')])))
    proc = subprocess.run([sys.executable, CLI, '--config', str(conf)], env=env, capture_output=True, check=False,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert 'hourly' in proc.stderr


# ------------------------------------------------------ shipped catalog ---

def test_inventory_catalog_applies_and_is_idempotent(db, run):
    import yaml
    path = os.path.join(REPO, 'inventories', 'local', 'group_vars', 'pg_primary', 'partition_catalog.yml')
    with open(path) as fh:
        catalog = yaml.safe_load(fh)['db_maintenance_partition_catalog']
    res = run('pg_partition', args_for(db, tables=catalog, now='2026-11-23'))
    assert not res.failed, res
    parts = partitions(db, 'odoo_scale_iot_reading')
    assert 'odoo_scale_iot_reading_default' in parts
    assert 'odoo_scale_iot_reading_p2027_02' in parts      # premake 3 ahead of November
    assert 'odoo_scale_iot_reading_p2025_11' in parts      # 12 months of retention kept
    server, name = db
    server.sql("INSERT INTO odoo_scale_iot_reading (device, reading) VALUES ('x', 1)", dbname=name)
    assert run('pg_partition', args_for(db, tables=catalog, now='2026-11-23'))['changed'] is False
    # A year later the oldest months are detached into the archive schema, not dropped.
    res = run('pg_partition', args_for(db, tables=catalog, now='2027-01-15'))
    assert not res.failed, res
    assert res['dropped'] == [] and res['detached']
    assert table_exists(db, 'odoo_scale_archive', 'odoo_scale_iot_reading_p2025_11')


def test_busy_parent_fails_fast_under_lock_timeout_then_resumes(db, run):
    assert not iot(db, run, premake=1).failed
    server, name = db
    server.sql("INSERT INTO iot (device, reading, recorded_at) VALUES ('x', 1, '2027-01-15+00')", dbname=name)
    blocker = server.connect(name, autocommit=False)
    try:
        with blocker.cursor() as cur:
            # EXCLUSIVE lets planning read the default partition but blocks
            # the row moves out of it.
            cur.execute('LOCK TABLE iot_default IN EXCLUSIVE MODE')
            res = iot(db, run, premake=1, now='2027-01-10', lock_timeout='300ms', lock_retries=1)
        assert res.failed
        assert 'lock timeout' in res['msg'] and '\n' not in res['msg']
        assert res['changed'] is True
        assert res['queries'][2].startswith('CREATE TABLE "public"."iot_p2027_01" (LIKE')
        # Tried twice (lock_retries=1), each attempt rolled back.
        assert res['queries'].count('LOCK TABLE "public"."iot_default" IN ACCESS EXCLUSIVE MODE') == 2
        assert res['queries'].count('ROLLBACK') == 2
        assert 'iot_p2027_01' not in partitions(db, 'iot')
    finally:
        blocker.rollback()
        blocker.close()
    # The standalone table was created before the lock wait: the next run resumes it.
    res = iot(db, run, premake=1, now='2027-01-10', lock_timeout='300ms')
    assert not res.failed, res
    assert count(db, 'iot_p2027_01') == 1 and count(db, 'iot_default') == 0
    assert 'iot_p2027_01' in partitions(db, 'iot')
