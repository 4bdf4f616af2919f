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
  move      - rows waiting in the default partition moved into a new
              partition in batches (ours only: pg_partman 4.7 refuses to
              create a partition while the default holds its rows).

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
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, 'tests', 'unit'))
sys.path.insert(0, os.path.join(REPO, 'plugins', 'module_utils'))

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


def bench_move(b, nrows, batch):
    o = 'mv_ours'
    b.make_parent(o)
    spec = dict(parent=o, column='recorded_at', interval='month', premake=1, now='2026-11-23',
                move_batch_size=batch)
    b.ours(spec)
    b.sql("INSERT INTO %s (device, reading, recorded_at) SELECT 'd' || (g %% 100), g, "
          "'2027-03-01+00'::timestamptz + (g %% 2000000) * interval '1 second' FROM generate_series(1, %d) g"
          % (o, nrows))
    spec['now'] = '2027-03-05'
    t, res = b.ours(spec)
    moved = sum(a['rows'] for a in res['attached_from_default'])
    assert moved == nrows, res['attached_from_default']
    batches = sum(a['batches'] for a in res['attached_from_default'])
    return dict(rows=nrows, batch_size=batch, batches=batches, ms=round(t, 1),
                rows_per_s=round(nrows / (t / 1000.0)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=os.path.join(REPO, 'bench', 'results', 'partitions.json'))
    ap.add_argument('--small', action='store_true', help='10 and 100 partitions, fewer repeats')
    ap.add_argument('--no-partman', action='store_true', help='skip pg_partman (not installed)')
    ap.add_argument('--budget', type=float, default=200.0, help='seconds before optional steps are skipped')
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
        print('daily, wide retention window:', flush=True)
        result['scale'] = bench_scale(b, sizes, with_partman, budget_end)
        if time.time() < budget_end:
            nrows = 20000 if args.small else 200000
            result['move'] = mv = bench_move(b, nrows, 10000)
            print('move from default: %d rows in %d batches of %d: %.0f ms (%d rows/s)' % (
                mv['rows'], mv['batches'], mv['batch_size'], mv['ms'], mv['rows_per_s']))
        b.conn.close()
    result['wall_s'] = round(time.time() - started, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(result, fh, indent=2)
        fh.write('\n')
    print('wrote %s (%.0f s)' % (args.out, result['wall_s']))


if __name__ == '__main__':
    main()
