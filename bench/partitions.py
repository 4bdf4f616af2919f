#!/usr/bin/env python3
"""Partition maintenance benchmark: pg_partition (odoo_scale_partition) vs
pg_partman 4.7 (create_parent + run_maintenance), on a throwaway PostgreSQL
server started here. Not a timed test: it writes figures to --out (JSON) and
prints a short summary.

Figures:
  monthly   - same table shape, monthly interval, premake 4, 4 months back:
              first creation and a no-op re-run, ours vs pg_partman.
  scale     - daily interval with a wide retention window, 10 / 100 / 1000
              partitions: creation and no-op re-run times (ours, and
              pg_partman's for the same set of partitions).
  move      - rows waiting in the default partition moved into their new
              partition while writers insert through the parent and a
              reader counts it in a loop, ours (pg_partition) against
              pg_partman 4.7's partition_data_proc: rows moved per second,
              inserts failed (bar: 0), the longest an insert waited, the
              longest a reader query waited, and the longest time the
              reader saw fewer rows than it had seen before (bar: never).
              Also whether rows of a table referencing the parent with ON
              DELETE CASCADE survived the move.

Usage: python bench/partitions.py [--small] [--out bench/results/partitions.json]
Runs as root (the server runs as postgres) or as a user that can initdb.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests', 'unit'))
sys.path.insert(0, os.path.join(REPO, 'plugins', 'module_utils'))

import psycopg2  # noqa: E402
from pgserver import PgServer  # noqa: E402
import odoo_scale_partition as osp  # noqa: E402

SHAPE = ('(id bigint GENERATED ALWAYS AS IDENTITY, device text NOT NULL, reading numeric, '
         'recorded_at timestamptz NOT NULL, PRIMARY KEY (id, recorded_at))')


def ms(t0):
    return (time.perf_counter() - t0) * 1000.0


class Bench:
    def __init__(self, server, dbname):
        self.server = server
        self.conn = server.connect(dbname)
        self.cur = self.conn.cursor()
        self.cur.execute("SET TimeZone = 'UTC'")

    def sql(self, q, args=None):
        self.cur.execute(q, args)
        return self.cur.fetchall() if self.cur.description else None

    def make_parent(self, name):
        self.sql('CREATE TABLE %s %s PARTITION BY RANGE (recorded_at)' % (name, SHAPE))

    def count_parts(self, name):
        return self.sql('SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass', (name,))[0][0]

    # -- ours ------------------------------------------------------------
    def ours(self, spec):
        specs = osp.normalize_specs(single=spec)
        t0 = time.perf_counter()
        res = osp.maintain(dict(_conn=self.conn), specs)
        return ms(t0), res

    # -- pg_partman -------------------------------------------------------
    def partman_create(self, name, interval, premake, start=None, retention=None):
        t0 = time.perf_counter()
        self.sql("SELECT partman.create_parent(p_parent_table := %s, p_control := 'recorded_at', "
                 "p_type := 'native', p_interval := %s, p_premake := %s, p_start_partition := %s, "
                 "p_jobmon := false)", ('public.' + name, interval, premake, start))
        if retention:
            self.sql("UPDATE partman.part_config SET retention = %s, retention_keep_table = false "
                     "WHERE parent_table = %s", (retention, 'public.' + name))
        # create_parent only makes the first set; run_maintenance is the job.
        self.sql("SELECT partman.run_maintenance(p_parent_table := %s, p_analyze := false, p_jobmon := false)",
                 ('public.' + name,))
        return ms(t0)

    def partman_noop(self, name):
        t0 = time.perf_counter()
        self.sql("SELECT partman.run_maintenance(p_parent_table := %s, p_analyze := false, p_jobmon := false)",
                 ('public.' + name,))
        return ms(t0)


def median(xs):
    return round(statistics.median(xs), 2)


def bench_monthly(b, repeats):
    out = dict(interval='month', premake=4, months_back=4, repeats=repeats)
    oc, on, pc, pn = [], [], [], []
    for i in range(repeats):
        o, p = 'm_ours_%d' % i, 'm_pm_%d' % i
        b.make_parent(o)
        b.make_parent(p)
        # '4 months' of retention puts our first partition 4 months back,
        # which is what pg_partman's premake also creates behind now.
        spec = dict(parent=o, column='recorded_at', interval='month', premake=4, retention='4 months',
                    retention_mode='drop')
        t, res = b.ours(spec)
        assert not res['refused']
        oc.append(t)
        pc.append(b.partman_create(p, '1 month', 4))
        for _ in range(3):
            t, res = b.ours(spec)
            assert not res['changed'], res
            on.append(t)
            pn.append(b.partman_noop(p))
        out['partitions'] = dict(ours=b.count_parts(o), partman=b.count_parts(p))
    out['ours'] = dict(create_ms=median(oc), noop_ms=median(on))
    out['partman'] = dict(create_ms=median(pc), noop_ms=median(pn))
    return out


def bench_scale(b, sizes, with_partman, budget_end):
    rows = []
    today = dt.date.today()
    for n in sizes:
        if time.time() > budget_end:
            rows.append(dict(partitions=n, skipped='time budget'))
            continue
        back = n - 5  # n - 5 days back + today + 4 ahead = n partitions
        o = 'd_ours_%d' % n
        b.make_parent(o)
        spec = dict(parent=o, column='recorded_at', interval='day', premake=4, retention='%d days' % back)
        t_create, res = b.ours(spec)
        noops = []
        for _ in range(5):
            t, res2 = b.ours(spec)
            assert not res2['changed'], res2
            noops.append(t)
        row = dict(partitions=n, ours=dict(count=b.count_parts(o), create_ms=round(t_create, 2),
                                           noop_ms=median(noops),
                                           create_ms_per_partition=round(t_create / n, 3)))
        if with_partman and time.time() < budget_end:
            p = 'd_pm_%d' % n
            b.make_parent(p)
            start = (today - dt.timedelta(days=back)).isoformat()
            t_pc = b.partman_create(p, '1 day', 4, start=start, retention='%d days' % (back + 1))
            pn = [b.partman_noop(p) for _ in range(5)]
            row['partman'] = dict(count=b.count_parts(p), create_ms=round(t_pc, 2), noop_ms=median(pn))
        rows.append(row)
        print('  scale %5d partitions: ours create %8.1f ms, no-op %7.1f ms%s' % (
            n, row['ours']['create_ms'], row['ours']['noop_ms'],
            ('; partman create %8.1f ms, no-op %7.1f ms' % (row['partman']['create_ms'], row['partman']['noop_ms'])
             if 'partman' in row else '')), flush=True)
    return rows


class MoveLoad:
    """Writers inserting through the parent and one reader counting it, each
    on its own connection, while a move runs."""

    def __init__(self, server, dbname, parent, months, writers=2):
        self.server, self.dbname, self.parent, self.months = server, dbname, parent, months
        self.stop = threading.Event()
        self.inserts = self.failed = 0
        self.errors = []
        self.insert_max_ms = 0.0
        self.read_max_ms = 0.0
        self.reads = 0
        self.fewer_s = 0.0           # longest span the reader saw fewer rows than before
        self.fewer_seen = 0          # reads that returned fewer rows than before
        self.threads = [threading.Thread(target=self.reader, daemon=True)]
        self.threads += [threading.Thread(target=self.writer, args=(i,), daemon=True) for i in range(writers)]
        self.lock = threading.Lock()

    def _conn(self):
        return self.server.connect(self.dbname)

    def reader(self):
        conn = self._conn()
        cur = conn.cursor()
        best, since = 0, None
        while not self.stop.is_set():
            t0 = time.perf_counter()
            cur.execute('SELECT count(*) FROM %s' % self.parent)
            n = cur.fetchone()[0]
            t1 = time.perf_counter()
            self.read_max_ms = max(self.read_max_ms, (t1 - t0) * 1000.0)
            self.reads += 1
            if n < best:
                self.fewer_seen += 1
                since = since if since is not None else t0
                self.fewer_s = max(self.fewer_s, t1 - since)
            else:
                best, since = n, None
        conn.close()

    def writer(self, i):
        conn = self._conn()
        cur = conn.cursor()
        k = 0
        while not self.stop.is_set():
            k += 1
            month = self.months[k % len(self.months)]
            t0 = time.perf_counter()
            try:
                cur.execute("INSERT INTO %s (device, reading, recorded_at) VALUES (%%s, %%s, %%s)" % self.parent,
                            ('w%d' % i, k, '%s %02d:%02d:%02d+00' % (month, k % 24, k % 60, i)))
                ok = True
            except psycopg2.Error as exc:
                ok = False
                err = str(exc).strip().splitlines()[0]
            ms_ = (time.perf_counter() - t0) * 1000.0
            with self.lock:
                self.insert_max_ms = max(self.insert_max_ms, ms_)
                if ok:
                    self.inserts += 1
                else:
                    self.failed += 1
                    if len(self.errors) < 3:
                        self.errors.append(err)
        conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        time.sleep(0.3)   # load running before the move starts
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)   # and after it ends
        self.stop.set()
        for t in self.threads:
            t.join()

    def figures(self):
        return dict(inserts_ok=self.inserts, inserts_failed=self.failed, insert_errors=self.errors,
                    insert_max_wait_ms=round(self.insert_max_ms, 1), reads=self.reads,
                    read_max_wait_ms=round(self.read_max_ms, 1), reads_with_fewer_rows=self.fewer_seen,
                    reader_saw_fewer_rows_max_ms=round(self.fewer_s * 1000.0, 1))


def _fill_default(b, parent, nrows):
    # June 2027, no partition for it yet (pg_partman's premake counts from
    # the real clock): every row lands in the default partition.
    b.sql("INSERT INTO %s (device, reading, recorded_at) SELECT 'd' || (g %% 100), g, "
          "'2027-06-01+00'::timestamptz + (g %% 2000000) * interval '1 second' FROM generate_series(1, %d) g"
          % (parent, nrows))
    # A table referencing the parent, with ON DELETE CASCADE.
    b.sql('CREATE TABLE %s_note (id bigint, at timestamptz, FOREIGN KEY (id, at) REFERENCES %s ON DELETE CASCADE)'
          % (parent, parent))
    b.sql('CREATE INDEX ON %s_note (id, at)' % parent)
    b.sql('INSERT INTO %s_note SELECT id, recorded_at FROM %s_default' % (parent, parent))


MOVE_MONTHS = ['2027-06-15', '2027-06-20', '2026-12-15', '2027-01-15']


def bench_move_ours(b, server, nrows):
    o = 'mv_ours'
    b.make_parent(o)
    spec = dict(parent=o, column='recorded_at', interval='month', premake=2, now='2026-11-23', lock_timeout='2s')
    b.ours(spec)   # November, December, January and the default
    _fill_default(b, o, nrows)
    assert b.sql('SELECT count(*) FROM %s_default' % o)[0][0] == nrows
    spec.update(now='2027-04-05')   # April to June are now wanted (premake 2)
    with MoveLoad(server, 'bench', o, MOVE_MONTHS) as load:
        t0 = time.perf_counter()
        res = osp.maintain(dict(_conn=b.conn), osp.normalize_specs(single=spec))
        t = time.perf_counter() - t0
    moved = sum(a['rows'] for a in res['attached_from_default'])
    assert moved >= nrows, res['attached_from_default']
    out = dict(rows=moved, s=round(t, 3), rows_per_s=round(moved / t),
               notes_left=b.sql('SELECT count(*) FROM %s_note' % o)[0][0], notes_before=nrows,
               rows_left_in_default=b.sql("SELECT count(*) FROM %s_default WHERE recorded_at >= '2027-06-01+00' "
                                          "AND recorded_at < '2027-07-01+00'" % o)[0][0])
    out.update(load.figures())
    return out


def bench_move_partman(b, server, nrows, months=MOVE_MONTHS, p='mv_pm'):
    b.make_parent(p)
    b.sql("SELECT partman.create_parent(p_parent_table := 'public.%s', p_control := 'recorded_at', "
          "p_type := 'native', p_interval := '1 month', p_premake := 2, p_start_partition := '2026-11-01', "
          "p_jobmon := false)" % p)
    b.sql("UPDATE partman.part_config SET infinite_time_partitions = true WHERE parent_table = 'public.%s'" % p)
    _fill_default(b, p, nrows)
    assert b.sql('SELECT count(*) FROM %s_default' % p)[0][0] == nrows, 'June 2027 must start in the default'
    with MoveLoad(server, 'bench', p, months) as load:
        t0 = time.perf_counter()
        # One partition interval per batch (a smaller p_interval would move
        # the rest of the month in further batches, each committed apart).
        # p_batch bounds the loop: the procedure repeats until a batch moves
        # nothing.
        b.sql("SET client_min_messages = notice")
        b.sql("CALL partman.partition_data_proc('public.%s', p_wait := 0, p_batch := 5)" % p)
        t = time.perf_counter() - t0
        notices = [n.strip() for n in b.conn.notices if 'Rows moved' in n]
        del b.conn.notices[:]
    left = b.sql("SELECT count(*) FROM %s_default WHERE recorded_at >= '2027-06-01+00' "
                 "AND recorded_at < '2027-07-01+00'" % p)[0][0]
    assert b.sql('SELECT count(*) FROM %s_note' % p)[0][0] == nrows or left < nrows
    moved = b.sql("SELECT count(*) FROM %s WHERE recorded_at >= '2027-06-01+00' AND recorded_at < '2027-07-01+00' "
                  "AND tableoid <> '%s_default'::regclass" % (p, p))[0][0]
    out = dict(rows=moved, s=round(t, 3), rows_per_s=round(moved / t) if t else None,
               notes_left=b.sql('SELECT count(*) FROM %s_note' % p)[0][0], notes_before=nrows,
               rows_left_in_default=left, batches=notices)
    out.update(load.figures())
    return out


def print_move(rows):
    head = ('', 'rows', 'rows/s', 'ins ok', 'ins failed', 'ins max wait', 'read max wait', 'fewer rows',
            'cascade')
    print('move from default under load (2 writers, 1 reader):')
    print('  %-8s %8s %8s %7s %10s %12s %13s %10s %9s' % head)
    for name, r in rows:
        if 'error' in r:
            print('  %-8s %s' % (name, r['error'][:100]))
            continue
        print('  %-8s %8d %8d %7d %10d %9.0f ms %10.0f ms %7.0f ms %9s' % (
            name, r['rows'], r['rows_per_s'] or 0, r['inserts_ok'], r['inserts_failed'], r['insert_max_wait_ms'],
            r['read_max_wait_ms'], r['reader_saw_fewer_rows_max_ms'],
            '%d lost' % (r['notes_before'] - r['notes_left']) if r['notes_left'] < r['notes_before'] else 'none'))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=os.path.join(REPO, 'bench', 'results', 'partitions.json'))
    ap.add_argument('--small', action='store_true', help='10 and 100 partitions, fewer repeats')
    ap.add_argument('--no-partman', action='store_true', help='skip pg_partman (not installed)')
    ap.add_argument('--budget', type=float, default=50.0, help='seconds before optional steps are skipped')
    args = ap.parse_args()
    started = time.time()
    budget_end = started + args.budget
    sizes = [10, 100] if args.small else [10, 100, 1000]
    repeats = 2 if args.small else 5
    result = dict(started=dt.datetime.utcnow().isoformat() + 'Z', small=args.small, host_cpus=os.cpu_count())
    with PgServer(extra_conf={'max_locks_per_transaction': '256'}) as server:
        server.sql('CREATE DATABASE bench')
        b = Bench(server, 'bench')
        result['server_version'] = b.sql('SHOW server_version')[0][0]
        with_partman = not args.no_partman
        if with_partman:
            try:
                b.sql('CREATE SCHEMA partman')
                b.sql('CREATE EXTENSION pg_partman SCHEMA partman')
                result['pg_partman_version'] = b.sql(
                    "SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'")[0][0]
            except Exception as exc:  # not installed: our figures only
                print('pg_partman unavailable: %s' % str(exc).strip().splitlines()[0])
                b.conn.rollback() if not b.conn.autocommit else None
                with_partman = False
        if with_partman:
            print('monthly, premake 4, 4 months back (%d repeats):' % repeats, flush=True)
            result['monthly'] = m = bench_monthly(b, repeats)
            print('  ours    create %7.1f ms  no-op %6.1f ms  (%d partitions)' % (
                m['ours']['create_ms'], m['ours']['noop_ms'], m['partitions']['ours']))
            print('  partman create %7.1f ms  no-op %6.1f ms  (%d partitions)' % (
                m['partman']['create_ms'], m['partman']['noop_ms'], m['partitions']['partman']), flush=True)
        # The move under load first: it is the figure with a bar (no failed
        # insert, no reader ever seeing fewer rows); never skipped.
        nrows = 20000 if args.small else 100000
        result['move'] = mv = dict(ours=bench_move_ours(b, server, nrows))
        rows = [('ours', mv['ours'])]
        if with_partman:
            # Same load; then with the writers kept out of the month moved,
            # the only load under which partition_data_proc can finish.
            for key, months, table in (('partman', MOVE_MONTHS, 'mv_pm'),
                                       ('partman_writers_elsewhere', MOVE_MONTHS[2:], 'mv_pm2')):
                try:
                    mv[key] = bench_move_partman(b, server, nrows, months, table)
                except Exception as exc:  # report, keep our figures
                    mv[key] = dict(error='failed: ' + str(exc).strip().splitlines()[0])
                    b.sql('ROLLBACK') if b.conn.get_transaction_status() else None
            rows += [('partman', mv['partman']), ('partman*', mv['partman_writers_elsewhere'])]
        print_move(rows)
        if with_partman:
            print('  (partman*: writers insert only outside the month moved)')
        print('daily, wide retention window:', flush=True)
        result['scale'] = bench_scale(b, sizes, with_partman, budget_end)
        b.conn.close()
    result['wall_s'] = round(time.time() - started, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(result, fh, indent=2)
        fh.write('\n')
    print('wrote %s (%.0f s)' % (args.out, result['wall_s']))


if __name__ == '__main__':
    main()
