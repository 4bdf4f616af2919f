"""pg_partition under concurrency and interruption, against a real
PostgreSQL server: rows moved out of the default partition never vanish for
a reader, never cascade to or block referencing rows, concurrent inserts
never fail, a run interrupted at any statement is finished by the next one,
hostile names and SQL fragments reach the server as one statement, and check
mode runs nothing that can commit.

Synchronisation is deterministic: a hook called before every statement the
module runs (apply_plan's log callback) pauses the run at a chosen point
while another connection acts, and "is that session blocked" is read from
pg_stat_activity, never guessed from a sleep."""

from __future__ import annotations

import itertools
import threading
import time

import psycopg2
import psycopg2.extras
import pytest

from ansible_collections.odoo_scale.stack.plugins.module_utils import odoo_scale_partition as osp

from test_pg_partition import IOT_COLUMNS, args_for, count, partitions, table_exists

from dbutil import sql  # noqa: E402

NOW = '2026-11-23'
LATER = '2027-03-05'   # Jan..May 2027 wanted: Jan and Feb hold rows in the default


# ------------------------------------------------------------- helpers ---


def connect(db, autocommit=True):
    server, name = db
    return server.connect(name, autocommit=autocommit)


def apply_with_hook(db, hook, **kw):
    """Plan and apply one table spec step by step; hook(sql) runs before
    every statement the module executes (raising in it interrupts the run
    there, as a killed connection would)."""
    conn = connect(db)
    try:
        cur = conn.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        spec = osp.normalize_specs(single=kw)[0]
        cur.execute("SELECT current_setting('server_version_num')::int")
        version = cur.fetchone()[0]
        cur.execute('SET lock_timeout = %s', (spec['lock_timeout'],))
        plan = osp.plan_table(cur, spec, version)
        return osp.apply_plan(conn, cur, plan, hook)
    finally:
        conn.close()


def iot_spec(**kw):
    spec = dict(parent='iot', column='recorded_at', interval='month', premake=1, now=NOW,
                create_parent=IOT_COLUMNS)
    spec.update(kw)
    return spec


def make_iot(db, run, **kw):
    res = run('pg_partition', args_for(db, **iot_spec(**kw)))
    assert not res.failed, res
    return res


def fill_default(db, parent='iot', n_jan=40, n_feb=25):
    """Rows for January and February 2027, before their partitions exist:
    they land in the default partition."""
    sql(db, """INSERT INTO %s (device, reading, recorded_at)
               SELECT 'j' || g, g, '2027-01-01 00:00+00'::timestamptz + (g || ' minutes')::interval
                 FROM generate_series(1, %d) g""" % (parent, n_jan))
    sql(db, """INSERT INTO %s (device, reading, recorded_at)
               SELECT 'f' || g, g, '2027-02-01 00:00+00'::timestamptz + (g || ' minutes')::interval
                 FROM generate_series(1, %d) g""" % (parent, n_feb))
    return n_jan + n_feb


class Waiter(threading.Thread):
    """Runs one statement on its own connection; records rows or error."""

    def __init__(self, db, query, args=None):
        threading.Thread.__init__(self, daemon=True)
        self.conn = connect(db)
        self.pid = self.conn.get_backend_pid()
        self.query, self.args = query, args
        self.rows = self.error = None

    def run(self):
        try:
            with self.conn.cursor() as cur:
                cur.execute(self.query, self.args)
                self.rows = cur.fetchall() if cur.description else None
        except Exception as exc:  # recorded, asserted by the test
            self.error = str(exc).strip().splitlines()[0]
        finally:
            self.conn.close()


def wait_until_blocked(db, waiter):
    """Until `waiter` waits on a lock (or finished). A hang guard only."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not waiter.is_alive():
            return False
        state = sql(db, 'SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s', (waiter.pid,))
        if state and state[0][0] == 'Lock':
            return True
        time.sleep(0.01)
    raise AssertionError('session %s neither blocked nor finished' % waiter.pid)


def at_commit_of_attach(action):
    """A hook that calls action() just before the COMMIT that follows an
    ATTACH PARTITION (the attach transaction still holds its locks)."""
    state = dict(attach=False, fired=0)

    def hook(statement):
        if ' ATTACH PARTITION ' in statement:
            state['attach'] = True
        elif statement == 'COMMIT' and state['attach']:
            state['attach'] = False
            state['fired'] += 1
            action()
    hook.state = state
    return hook


def leftovers(db):
    """Tables our runs leave behind when interrupted: helper CHECKs and
    marker comments."""
    helper = sql(db, "SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = %s",
                 (osp.HELPER_CONSTRAINT,))
    marked = sql(db, """SELECT objoid::regclass::text FROM pg_description
                         WHERE classoid = 'pg_class'::regclass AND description LIKE 'odoo-scale pg_partition%%'""")
    return sorted(r[0] for r in helper + marked)


# -------------------------------------------- 1. foreign keys, triggers ---

@pytest.mark.parametrize('action', ['ON DELETE CASCADE', 'ON DELETE SET NULL', ''])
def test_move_leaves_referencing_rows_alone(db, run, action):
    make_iot(db, run)
    total = fill_default(db)
    sql(db, 'CREATE TABLE note (iot_id bigint, iot_at timestamptz, body text, '
            'FOREIGN KEY (iot_id, iot_at) REFERENCES iot %s)' % action)
    sql(db, "INSERT INTO note SELECT id, recorded_at, 'n' FROM iot")
    res = make_iot(db, run, now=LATER)
    assert {a['partition']: a['rows'] for a in res['attached_from_default']} == \
        {'public.iot_p2027_01': 40, 'public.iot_p2027_02': 25}
    assert count(db, 'iot') == total and count(db, 'iot_default') == 0
    # Every note still points at its row, now in the new partitions.
    assert count(db, 'note', 'iot_id IS NOT NULL') == total
    assert count(db, 'note n JOIN iot i ON i.id = n.iot_id AND i.recorded_at = n.iot_at') == total
    # The foreign key is enforced on the new partitions like on the old ones.
    with pytest.raises(psycopg2.Error, match='foreign key'):
        sql(db, "INSERT INTO note VALUES (-1, '2027-01-05+00', 'dangling')")
    if action == 'ON DELETE CASCADE':
        sql(db, "DELETE FROM iot WHERE device = 'j1'")
        assert count(db, 'note') == total - 1
    elif action == '':
        with pytest.raises(psycopg2.Error, match='violates foreign key'):
            sql(db, "DELETE FROM iot WHERE device = 'j1'")


def test_move_fires_no_user_delete_trigger(db, run):
    make_iot(db, run)
    total = fill_default(db)
    sql(db, 'CREATE TABLE audit (op text, device text)')
    sql(db, """CREATE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS $f$
               BEGIN INSERT INTO audit VALUES (TG_OP, OLD.device); RETURN OLD; END $f$""")
    sql(db, 'CREATE TRIGGER audit_del AFTER DELETE ON iot FOR EACH ROW EXECUTE FUNCTION audit_fn()')
    make_iot(db, run, now=LATER)
    assert count(db, 'iot') == total
    assert count(db, 'audit') == 0, 'a move is not a delete'
    sql(db, "DELETE FROM iot WHERE device = 'j1'")   # the trigger still works on the new partition
    assert count(db, 'audit') == 1


def test_move_refused_when_a_delete_trigger_always_fires(db, run):
    make_iot(db, run)
    fill_default(db)
    sql(db, """CREATE FUNCTION nope() RETURNS trigger LANGUAGE plpgsql AS $f$
               BEGIN RETURN OLD; END $f$""")
    sql(db, 'CREATE TRIGGER keep AFTER DELETE ON iot_default FOR EACH ROW EXECUTE FUNCTION nope()')
    sql(db, 'ALTER TABLE iot_default ENABLE ALWAYS TRIGGER keep')
    before = partitions(db, 'iot')
    res = run('pg_partition', args_for(db, **iot_spec(now=LATER)))
    assert res.failed and '\n' not in res['msg']
    assert 'trigger keep' in res['msg'] and 'iot_default' in res['msg']
    assert partitions(db, 'iot') == before and count(db, 'iot_default') == 65


def test_without_superuser_a_referenced_parent_is_refused_and_others_move(db, run):
    server, name = db
    role = 'owner_' + name
    sql(db, 'CREATE ROLE %s LOGIN' % role)
    try:
        sql(db, 'GRANT CREATE ON SCHEMA public TO %s' % role)
        a = args_for(db, **iot_spec())
        a['login_user'] = role
        assert not run('pg_partition', a).failed
        fill_default(db)
        a['now'] = LATER
        plain = dict(a, parent='plain', create_parent=IOT_COLUMNS, now=NOW)
        assert not run('pg_partition', plain).failed
        fill_default(db, 'plain')
        # Referenced by a foreign key: the move needs session_replication_role.
        sql(db, 'CREATE TABLE note (iot_id bigint, iot_at timestamptz, '
                'FOREIGN KEY (iot_id, iot_at) REFERENCES iot ON DELETE CASCADE)')
        sql(db, 'INSERT INTO note SELECT id, recorded_at FROM iot')
        res = run('pg_partition', a)
        assert res.failed and '\n' not in res['msg']
        assert 'note_iot_id_iot_at_fkey' in res['msg'] and 'session_replication_role' in res['msg']
        assert count(db, 'iot_default') == 65 and count(db, 'note') == 65
        # Not referenced: the owner moves rows without any superuser setting.
        res = run('pg_partition', dict(plain, now=LATER))
        assert not res.failed, res
        assert count(db, 'plain_default') == 0 and count(db, 'plain') == 65
    finally:
        sql(db, 'DROP OWNED BY %s CASCADE' % role)
        sql(db, 'DROP ROLE %s' % role)


# ------------------------------------------------ 2. rows never vanish ---

def test_reader_counts_every_row_at_every_statement_of_the_move(db, run):
    make_iot(db, run)
    total = fill_default(db) + 3
    sql(db, "INSERT INTO iot (device, reading, recorded_at) VALUES ('n', 1, '2026-11-25+00'), "
            "('n', 2, '2026-12-02+00'), ('n', 3, '2020-01-01+00')")
    seen = []

    def hook(statement):
        # Another session counts the parent before each statement runs; a
        # session blocked by our locks is fine (it will count later), a
        # lower count is rows that vanished.
        conn = connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = '20ms'")
                try:
                    cur.execute('SELECT count(*) FROM iot')
                    seen.append((statement, cur.fetchone()[0]))
                except psycopg2.errors.LockNotAvailable:
                    seen.append((statement, 'blocked'))
        finally:
            conn.close()

    # With a retention, partitions start 24 months back (premade next to
    # the default) and the 2020 row stays in the default partition.
    apply_with_hook(db, hook, **iot_spec(now=LATER, retention='24 months'))
    assert seen and all(n in (total, 'blocked') for _when, n in seen), [s for s in seen if s[1] != total]
    assert count(db, 'iot') == total and count(db, 'iot_default') == 1


def test_reader_blocked_by_the_attach_counts_every_row(db, run):
    make_iot(db, run)
    total = fill_default(db)
    readers = []

    def start_reader():
        # Plans while the attach transaction holds its locks; must not
        # come back with the pre-attach partition list and a post-commit
        # snapshot (which is what loses the moved rows).
        r = Waiter(db, 'SELECT count(*) FROM iot')
        r.start()
        wait_until_blocked(db, r)
        readers.append(r)

    hook = at_commit_of_attach(start_reader)
    apply_with_hook(db, hook, **iot_spec(now=LATER))
    assert hook.state['fired'] >= 2   # January and February
    for r in readers:
        r.join()
        assert r.error is None and r.rows == [(total,)]


def test_insert_blocked_by_the_attach_lands_in_the_new_partition(db, run):
    make_iot(db, run)
    fill_default(db)
    writers = []

    def start_writer():
        # Rows for every month attached in this run, routed while the
        # attach transaction holds its locks.
        for month in ('2027-01-20', '2027-02-20', '2027-03-20', '2027-04-20'):
            w = Waiter(db, "INSERT INTO iot (device, reading, recorded_at) VALUES ('late', 1, %s) "
                           "RETURNING tableoid::regclass::text", (month + ' 12:00+00',))
            w.start()
            wait_until_blocked(db, w)
            writers.append((month, w))

    hook = at_commit_of_attach(start_writer)
    apply_with_hook(db, hook, **iot_spec(now=LATER))
    assert hook.state['fired'] == 4   # Jan and Feb moved, Mar and Apr premade
    for month, w in writers:
        w.join()
        assert w.error is None, (month, w.error)
    late = sql(db, "SELECT tableoid::regclass::text, count(*) FROM iot WHERE device = 'late' GROUP BY 1 ORDER BY 1")
    # Four writers per attach, each inserting into all four months.
    assert late == [('iot_p2027_01', 4), ('iot_p2027_02', 4), ('iot_p2027_03', 4), ('iot_p2027_04', 4)]


class Load:
    """A reader counting the parent in a loop and writers inserting through
    it, each on its own connection, until stopped."""

    def __init__(self, db, months, writers=2):
        self.db = db
        self.months = months
        self.stop = threading.Event()
        self.counts = []
        self.ok = [0] * writers
        self.failed = []
        self.threads = [threading.Thread(target=self.reader, daemon=True)]
        self.threads += [threading.Thread(target=self.writer, args=(i,), daemon=True) for i in range(writers)]
        self.iterations = [0] * (writers + 1)

    def reader(self):
        conn = connect(self.db)
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    cur.execute('SELECT count(*) FROM iot')
                    self.counts.append(cur.fetchone()[0])
                    self.iterations[0] += 1
        finally:
            conn.close()

    def writer(self, i):
        conn = connect(self.db)
        n = 0
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    month = self.months[n % len(self.months)]
                    n += 1
                    try:
                        cur.execute("INSERT INTO iot (device, reading, recorded_at) VALUES (%s, %s, %s)",
                                    ('w%d' % i, n, '%s %02d:%02d+00' % (month, n % 24, n % 60)))
                        self.ok[i] += 1
                    except psycopg2.Error as exc:
                        self.failed.append(str(exc).strip().splitlines()[0])
                    self.iterations[i + 1] += 1
        finally:
            conn.close()

    def wait_iterations(self, n):
        target = [x + n for x in self.iterations]
        deadline = time.monotonic() + 120
        while any(x < t for x, t in zip(self.iterations, target)):
            assert time.monotonic() < deadline, 'load threads stalled'
            assert all(t.is_alive() for t in self.threads), 'a load thread died'
            time.sleep(0.01)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def test_concurrent_readers_and_writers_around_every_move_and_attach(db, run):
    """Required check: a reader counting the parent never sees the count
    drop, and no concurrent insert fails, while rows move out of the default
    partition and new partitions are attached next to it."""
    make_iot(db, run)
    total = fill_default(db, n_jan=3000, n_feb=2000)
    # Writers aim at the months being moved/attached, the current month,
    # and a month that stays in the default partition.
    months = ['2027-01-15', '2027-02-15', '2027-03-15', '2027-04-15', '2026-12-15', '2030-06-15']
    with Load(db, months) as load:
        load.wait_iterations(30)
        res = run('pg_partition', args_for(db, **iot_spec(now=LATER)))
        assert not res.failed, res
        load.wait_iterations(30)
    assert not load.failed, load.failed[:5]
    drops = [(a, b) for a, b in zip(load.counts, load.counts[1:]) if b < a]
    assert not drops, drops[:5]
    assert count(db, 'iot') == total + sum(load.ok)
    assert {a['partition'] for a in res['attached_from_default']} >= {'public.iot_p2027_01', 'public.iot_p2027_02'}
    assert count(db, 'iot_default', "recorded_at < '2030-01-01+00'") == 0


# ------------------------------------------------ 3. lock waits, retries ---

def test_attach_retries_after_lock_timeout(db, run):
    make_iot(db, run)
    fill_default(db)
    blocker = connect(db, autocommit=False)
    bcur = blocker.cursor()
    bcur.execute('SELECT count(*) FROM iot_default')   # ACCESS SHARE, held
    attempts = []

    def hook(statement):
        if statement == 'ROLLBACK':
            attempts.append(statement)
            blocker.rollback()   # the blocker goes away after the first timeout
    try:
        res = apply_with_hook(db, hook, **iot_spec(now=LATER, lock_timeout='100ms', lock_retries=2))
    finally:
        blocker.rollback()
        blocker.close()
    assert attempts, 'the first attempt should have hit lock_timeout'
    assert count(db, 'iot_default') == 0 and count(db, 'iot') == 65
    assert {a['partition'] for a in res['attached_from_default']} == {'public.iot_p2027_01', 'public.iot_p2027_02'}


# ----------------------------------------------------------- 4. names ---

@pytest.mark.parametrize('parent', ['m%s', 'pct%(x)s%%', "q'%\\x;--$$"])
def test_percent_and_quotes_in_names_with_rows_in_default(db, run, parent):
    res = run('pg_partition', args_for(db, **iot_spec(parent=parent)))
    assert not res.failed, res
    qp = '"%s"' % parent.replace('"', '""')
    sql(db, """INSERT INTO %s (device, reading, recorded_at)
               SELECT 'j', g, '2027-01-02+00'::timestamptz + g * interval '1 hour' FROM generate_series(1, 30) g"""
        % qp)
    res = run('pg_partition', args_for(db, **iot_spec(parent=parent, now=LATER)))
    assert not res.failed, res
    assert res['attached_from_default'][0]['rows'] == 30
    assert count(db, '"%s"' % (parent + '_p2027_01').replace('"', '""')) == 30


def test_hostile_names_with_standard_conforming_strings_off(db, run):
    server, name = db
    sql(db, 'ALTER DATABASE %s SET standard_conforming_strings = off' % name)
    sql(db, 'ALTER DATABASE %s SET escape_string_warning = off' % name)
    schema = "s\\'; DROP TABLE canary; --"
    parent = "p\\' || $$x$$ /* %s"
    archive = "a\\'%; --"
    sql(db, 'CREATE TABLE canary (x int)')
    sql(db, 'CREATE SCHEMA "%s"' % schema)
    spec = dict(schema=schema, parent=parent, column='k', interval='month', premake=1, now='2026-01-15',
                retention='2 months', retention_mode='detach', retention_schema=archive, default_partition=False,
                create_parent=[{'name': 'k', 'type': 'date NOT NULL'}, {'name': 'v', 'type': 'text'}])
    res = run('pg_partition', args_for(db, **spec))
    assert not res.failed, res
    qp = '"%s"."%s"' % (schema.replace('"', '""'), parent.replace('"', '""'))
    conn = connect(db)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO %s VALUES ('2025-11-20', 'old'), ('2026-01-20', 'new')" % qp)
    conn.close()
    res = run('pg_partition', args_for(db, **{**spec, 'now': '2026-03-10'}))
    assert not res.failed, res
    assert [d['partition'] for d in res['detached']] == ['%s.%s_p2025_11' % (schema, parent),
                                                         '%s.%s_p2025_12' % (schema, parent)]
    assert all(d['method'] == 'CONCURRENTLY' for d in res['detached'])
    assert table_exists(db, archive, parent + '_p2025_11')
    assert table_exists(db, 'public', 'canary')
    assert leftovers(db) == []


# ------------------------------------- interruption at every statement ---

def _scenario(db, run, tag, with_default):
    """A table with the work of one run waiting: rows in the default (with
    a default) or none (without), new partitions to make, old ones past
    retention. Returns (spec for the run, rows that must stay visible)."""
    parent = 'x_%s' % tag
    spec = dict(parent=parent, column='recorded_at', interval='month', premake=1, now='2026-10-10',
                retention='3 months', retention_mode='detach' if tag.endswith('k') else 'drop',
                retention_schema='arch' if tag.endswith('k') else None,
                default_partition=with_default, create_parent=IOT_COLUMNS)
    res = run('pg_partition', args_for(db, **spec))
    assert not res.failed, res
    rows = [('2026-07-15', 3), ('2026-08-15', 3), ('2026-11-15', 4)]
    if with_default:
        rows += [('2027-01-10', 20), ('2027-02-03', 7), ('2019-05-05', 2)]
    for day, n in rows:
        sql(db, "INSERT INTO %s (device, reading, recorded_at) SELECT 'd', g, '%s 10:00+00' "
                "FROM generate_series(1, %d) g" % (parent, day, n))
    spec['now'] = '2027-02-10'   # boundary 2026-11-10: July..October retire
    keep = count(db, parent, "recorded_at >= '2026-11-01+00' OR recorded_at < '2020-01-01+00'")
    return spec, keep


def _statements_of(db, run, with_default, tag):
    spec, _rows = _scenario(db, run, tag, with_default)
    ran = []
    apply_with_hook(db, ran.append, **spec)
    return ran


@pytest.mark.parametrize('with_default,mode', [(True, 'drop'), (False, 'drop'), (False, 'keep')])
def test_run_interrupted_at_any_statement_is_finished_by_the_next(db, run, with_default, mode):
    suffix = 'k' if mode == 'keep' else 'd'
    ran = _statements_of(db, run, with_default, 'ref' + suffix)
    expected = partitions(db, 'x_ref' + suffix)
    assert ran and leftovers(db) == []
    for i, stop_at in enumerate(ran):
        tag = '%d%s' % (i, suffix)
        spec, keep = _scenario(db, run, tag, with_default)
        parent = spec['parent']

        def hook(statement, _i=i, _seen=itertools.count().__next__):
            if _seen() == _i:
                raise RuntimeError('interrupted before: ' + statement)
        with pytest.raises(Exception, match='interrupted before'):
            apply_with_hook(db, hook, **spec)
        # Whatever the interruption left, no row younger than retention vanished.
        assert count(db, parent, "recorded_at >= '2026-11-01+00' OR recorded_at < '2020-01-01+00'") == keep, \
            'rows vanished when interrupted before #%d: %s' % (i, stop_at)
        res = run('pg_partition', args_for(db, **spec))
        assert not res.failed, ('after interruption before #%d (%s)' % (i, stop_at), res)
        got = partitions(db, parent)
        assert sorted(got) == sorted(n.replace('x_ref' + suffix, parent) for n in expected), (i, stop_at)
        assert count(db, parent) == keep
        assert not [t for t in leftovers(db) if parent + '_' in t], (i, stop_at, leftovers(db))
        for month in ('07', '08', '09', '10'):
            old = '%s_p2026_%s' % (parent, month)
            assert not table_exists(db, 'public', old), (i, stop_at, old)
            assert table_exists(db, 'arch', old) == (mode == 'keep'), (i, stop_at, old)
        assert run('pg_partition', args_for(db, **spec))['changed'] is False, (i, stop_at)


def test_stale_pending_attach_table_is_dropped_when_empty(db, run):
    make_iot(db, run)
    sql(db, 'CREATE TABLE iot_p2019_01 (LIKE iot INCLUDING ALL EXCLUDING IDENTITY)')
    sql(db, "ALTER TABLE iot_p2019_01 ADD CONSTRAINT %s CHECK (recorded_at >= '2019-01-01+00' "
            "AND recorded_at < '2019-02-01+00')" % osp.HELPER_CONSTRAINT)
    sql(db, "COMMENT ON TABLE iot_p2019_01 IS %s", (osp.pending_marker('public', 'iot'),))
    res = make_iot(db, run)
    assert 'public.iot_p2019_01' in res['dropped']
    assert not table_exists(db, 'public', 'iot_p2019_01')


# ------------------------------------------------- SQL fragments, check ---

HOSTILE_BODIES = [
    'k date NOT NULL) PARTITION BY RANGE (k); COMMIT; CREATE TABLE pwned (x int); CREATE TABLE np2 (k date',
    "k date NOT NULL, v text DEFAULT 'a' -- ) PARTITION BY LIST (v); CREATE TABLE pwned (x int",
    'k date NOT NULL, v text DEFAULT $x$;$x$',
    "k date NOT NULL, v text DEFAULT E'\\'); CREATE TABLE pwned (x int); --'",
    'k date NOT NULL /* ; */',
    'k date NOT NULL) WITH (fillfactor = 50',
]


@pytest.mark.parametrize('check_mode', [True, False])
@pytest.mark.parametrize('body', HOSTILE_BODIES)
def test_create_parent_fragment_is_one_statement_or_refused(db, run, body, check_mode):
    res = run('pg_partition', args_for(db, parent='np', column='k', now=NOW, create_parent=body),
              check_mode=check_mode)
    assert res.failed, res
    assert 'create_parent' in res['msg'] and '\n' not in res['msg']
    assert sql(db, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace")[0][0] == 0


def test_create_parent_quotes_and_semicolons_inside_literals_are_data(db, run):
    body = [{'name': 'k', 'type': 'date NOT NULL'},
            {'name': 'v; --', 'type': "text DEFAULT 'a;b -- /* $x$ '' \"'"}]
    res = run('pg_partition', args_for(db, parent='np', column='k', now=NOW, create_parent=body))
    assert not res.failed, res
    sql(db, "INSERT INTO np (k) VALUES ('2026-11-24')")
    assert sql(db, 'SELECT "v; --" FROM np') == [("a;b -- /* $x$ ' \"",)]


def test_check_mode_runs_only_inside_a_rolled_back_transaction(db, run):
    make_iot(db, run, retention='6 months')
    fill_default(db)
    server, name = db
    conn = psycopg2.connect(host=server.sockdir, port=server.port, user='postgres', dbname=name,
                            connection_factory=psycopg2.extras.LoggingConnection)
    conn.autocommit = True
    ran = []

    class Log:
        def write(self, text):
            ran.append(text.decode() if isinstance(text, bytes) else text)
    conn.initialize(Log())
    specs = osp.normalize_specs(tables=[iot_spec(now=LATER, retention='3 months'),
                                        dict(parent='newp', column='k', create_parent='k date NOT NULL',
                                             now=LATER)])
    before = sql(db, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1")
    try:
        res = osp.maintain(dict(_conn=conn), specs, check_mode=True)
    finally:
        conn.close()
    assert res['changed'] is True
    assert sql(db, "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1") == before
    assert count(db, 'iot_default') == 65
    stmts = [s.strip() for s in ran]
    assert 'COMMIT' not in stmts and not any(s.upper().startswith('COMMIT') for s in stmts)
    begin, rollback = stmts.index('BEGIN'), len(stmts) - 1 - stmts[::-1].index('ROLLBACK')
    outside = stmts[:begin] + stmts[rollback + 1:]
    assert all(s.startswith(('SET ', 'SELECT pg_is_in_recovery()', "SELECT current_setting('server_version_num')"))
               for s in outside), outside
