#!/usr/bin/env python3
"""Backup and restore figures on a running stack (molecule's or `make up`'s),
side by side in one run, written as JSON to --out and printed as a table:

  1. Backup of one database of --scale (pgbench tables): pgBackRest full
     backup (the whole cluster, compressed with zstd and encrypted, into the
     object store over HTTPS) against `pg_dump -Fc` of that database into a
     local file: seconds, MB/s of database, size written.
  2. Restore: pgBackRest restore of that backup into a throw-away data
     directory on the replica host, started until it accepts connections
     (files and WAL replay to consistency), against `pg_restore -j N` of the
     dump into a new database on the primary: seconds, MB/s.
  3. Recovery point under load: the archive's lag while pgbench writes on
     the primary: how old the oldest WAL not yet in the repository is,
     sampled every 0.5 s, p50/p99 (from the WAL position over time and
     pg_stat_archiver's last archived segment).

The throw-away restore touches nothing the stack serves (its own directory
and port, removed after). These are measurements: nothing passes or fails on
a time. A multi-GB run: --scale 200 (about 3 GB) on a machine with the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import PGBENCH, percentile, sh  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEGMENT = 16 * 1024 * 1024
BIN = '/usr/lib/postgresql/15/bin'


def psql(container, sql, db='postgres'):
    res = sh(container, "psql -XAtq -v ON_ERROR_STOP=1 -d %s -c \"%s\"" % (db, sql), user='postgres')
    return res.stdout.strip()


def timed(container, script):
    began = time.monotonic()
    sh(container, script, user='postgres')
    return time.monotonic() - began


def lsn_to_int(lsn):
    hi, lo = lsn.split('/')
    return (int(hi, 16) << 32) + int(lo, 16)


def segment_end(walfile):
    """The LSN just past the end of a WAL segment named like 000000010000000200000013."""
    log, seg = int(walfile[8:16], 16), int(walfile[16:24], 16)
    return (log << 32) + (seg + 1) * SEGMENT


def archive_lag(primary, db, clients, seconds):
    """Samples (time, WAL position, last archived segment) while pgbench writes."""
    sh(primary, 'nohup %s -n -c %d -j 2 -T %d %s >/var/tmp/bench-archive-pgbench.log 2>&1 &'
       % (PGBENCH, clients, seconds, db), user='postgres')
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        row = psql(primary, "SELECT extract(epoch FROM clock_timestamp()), pg_current_wal_lsn(), "
                            "coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        t, lsn, last = row.split('|')
        samples.append((float(t), lsn_to_int(lsn), last))
        time.sleep(0.5)
    lags = []
    for t, _lsn, last in samples:
        if not last or '.' in last:          # a .history or .backup file: no position
            continue
        archived_to = segment_end(last)
        # When did the server first write past what the archive holds? The
        # oldest WAL missing from the archive is that old.
        written = [ts for ts, pos, _ in samples if pos >= archived_to and ts <= t]
        lags.append(t - written[0] if written else 0.0)
    out = sh(primary, 'cat /var/tmp/bench-archive-pgbench.log', user='postgres').stdout
    tps = [line for line in out.splitlines() if line.startswith('tps = ')]
    return {'clients': clients, 'seconds': seconds, 'samples': len(lags),
            'lag_p50_s': round(percentile(lags, 50), 2) if lags else None,
            'lag_p99_s': round(percentile(lags, 99), 2) if lags else None,
            'lag_max_s': round(max(lags), 2) if lags else None,
            'tps': tps[0].split()[2] if tps else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    prefix = os.environ.get('ODOO_SCALE_MOL_PREFIX', 'mol-s')
    ap.add_argument('--primary', default='%s-pg1' % prefix)
    ap.add_argument('--replica', default='%s-pg2' % prefix)
    ap.add_argument('--stanza', default='odoo')
    ap.add_argument('--scale', type=int, default=50)
    ap.add_argument('--jobs', type=int, default=2, help='pg_restore -j and pgBackRest process-max')
    ap.add_argument('--lag-clients', type=int, default=8)
    ap.add_argument('--lag-seconds', type=int, default=30)
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'backup.json'))
    args = ap.parse_args()
    p, r, db = args.primary, args.replica, 'bench_backup'
    scratch = '/var/tmp/bench-restore'

    sh(p, 'dropdb --if-exists bench_restore && dropdb --if-exists %s && createdb %s' % (db, db), user='postgres')
    sh(p, '%s -i -q -s %d %s >/dev/null 2>&1' % (PGBENCH, args.scale, db), user='postgres')
    sh(p, 'psql -XAtq -d %s -c CHECKPOINT' % db, user='postgres')
    db_mb = int(psql(p, "SELECT pg_database_size('%s')" % db)) / 1048576
    cluster_mb = int(psql(p, 'SELECT sum(pg_database_size(oid)) FROM pg_database')) / 1048576

    dump_s = timed(p, 'pg_dump -Fc -f /var/tmp/bench.dump %s' % db)
    dump_mb = int(sh(p, 'stat -c %s /var/tmp/bench.dump').stdout) / 1048576
    full_s = timed(p, 'pgbackrest --stanza=%s --type=full --process-max=%d --log-level-console=warn backup'
                   % (args.stanza, args.jobs))
    info = json.loads(sh(p, 'pgbackrest --stanza=%s --output=json info' % args.stanza, user='postgres').stdout)[0]
    last = info['backup'][-1]
    repo_mb = last['info']['repository']['delta'] / 1048576

    sh(p, 'createdb bench_restore', user='postgres')
    restore_dump_s = timed(p, 'pg_restore -j %d -d bench_restore /var/tmp/bench.dump' % args.jobs)

    # The throw-away restore on the replica host: its own directory and port.
    conf = ("port = 5499\nlisten_addresses = ''\nunix_socket_directories = '/var/tmp'\n"
            "hba_file = '/etc/postgresql/15/main/pg_hba.conf'\nshared_buffers = 128MB\narchive_mode = off\n"
            # A standby-like start needs these at least as high as the primary's.
            "max_connections = 1000\nmax_worker_processes = 64\nmax_wal_senders = 64\n"
            "max_locks_per_transaction = 512\nmax_prepared_transactions = 0\n"
            "recovery_target = 'immediate'\nrecovery_target_action = 'promote'\n")
    # Last in postgresql.auto.conf wins over pgBackRest's line: no async
    # archive-get, whose spool the replica's own recovery uses.
    auto = ("restore_command = 'pgbackrest --stanza=%s --pg1-path=%s --archive-async=n archive-get %%f \"%%p\"'\n"
            % (args.stanza, scratch))
    sh(r, 'rm -rf %s && mkdir -m 700 %s' % (scratch, scratch), user='postgres')
    began = time.monotonic()
    sh(r, 'pgbackrest --stanza=%s --pg1-path=%s --set=%s --process-max=%d --log-level-console=warn restore'
       % (args.stanza, scratch, last['label'], args.jobs), user='postgres')
    sh(r, "cat > %s/postgresql.conf <<'CONF'\n%sCONF\ncat >> %s/postgresql.auto.conf <<'CONF'\n%sCONF\n"
          "%s/pg_ctl -D %s -l %s.log -w -t 3600 start >/dev/null"
       % (scratch, conf, scratch, auto, BIN, scratch, scratch), user='postgres')
    while sh(r, "psql -XAtq -h /var/tmp -p 5499 -d postgres -c 'SELECT pg_is_in_recovery()'",
             user='postgres', check=False).stdout.strip() != 'f':
        time.sleep(0.2)
    restore_repo_s = time.monotonic() - began
    rows = sh(r, "psql -XAtq -h /var/tmp -p 5499 -d %s -c 'SELECT count(*) FROM pgbench_accounts'" % db,
              user='postgres').stdout.strip()
    sh(r, '%s/pg_ctl -D %s -m immediate stop >/dev/null; rm -rf %s %s.log' % (BIN, scratch, scratch, scratch),
       user='postgres')

    lag = archive_lag(p, db, args.lag_clients, args.lag_seconds)
    sh(p, 'rm -f /var/tmp/bench.dump /var/tmp/bench-archive-pgbench.log && dropdb bench_restore && dropdb %s' % db,
       user='postgres')

    figures = {
        'database_mb': round(db_mb, 1), 'cluster_mb': round(cluster_mb, 1), 'scale': args.scale, 'jobs': args.jobs,
        'backup': {
            'pgbackrest_full': {'seconds': round(full_s, 1), 'mb_per_s': round(cluster_mb / full_s, 1),
                                'stored_mb': round(repo_mb, 1), 'of': 'whole cluster, zstd, encrypted, S3/HTTPS'},
            'pg_dump_fc': {'seconds': round(dump_s, 1), 'mb_per_s': round(db_mb / dump_s, 1),
                           'stored_mb': round(dump_mb, 1), 'of': 'one database, local file'},
            'ratio_pg_dump_over_pgbackrest': round(dump_s / full_s, 2),
        },
        'restore': {
            'pgbackrest_until_serving': {'seconds': round(restore_repo_s, 1),
                                         'mb_per_s': round(cluster_mb / restore_repo_s, 1),
                                         'rows_checked': int(rows)},
            'pg_restore_j': {'seconds': round(restore_dump_s, 1), 'mb_per_s': round(db_mb / restore_dump_s, 1)},
            'ratio_pg_restore_over_pgbackrest': round(restore_dump_s / restore_repo_s, 2),
        },
        'archive_lag_under_load': lag,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    data = {}
    if os.path.exists(args.out):
        with open(args.out) as fh:
            data = json.load(fh)
    data['backup_and_restore'] = figures
    with open(args.out, 'w') as fh:
        json.dump(data, fh, indent=2)
    b, rs = figures['backup'], figures['restore']
    print('backup of %.0f MB (pgbench scale %d; cluster %.0f MB):' % (db_mb, args.scale, cluster_mb))
    print('  pgBackRest full   %6.1f s  %6.1f MB/s  stored %6.1f MB' % (
        b['pgbackrest_full']['seconds'], b['pgbackrest_full']['mb_per_s'], b['pgbackrest_full']['stored_mb']))
    print('  pg_dump -Fc       %6.1f s  %6.1f MB/s  stored %6.1f MB' % (
        b['pg_dump_fc']['seconds'], b['pg_dump_fc']['mb_per_s'], b['pg_dump_fc']['stored_mb']))
    print('restore:')
    print('  pgBackRest        %6.1f s  %6.1f MB/s  (until serving, %s rows read back)' % (
        rs['pgbackrest_until_serving']['seconds'], rs['pgbackrest_until_serving']['mb_per_s'], rows))
    print('  pg_restore -j %d   %6.1f s  %6.1f MB/s' % (args.jobs, rs['pg_restore_j']['seconds'],
                                                     rs['pg_restore_j']['mb_per_s']))
    print('archive lag under pgbench (%d clients, %d s): p50 %s s, p99 %s s, max %s s' % (
        lag['clients'], lag['seconds'], lag['lag_p50_s'], lag['lag_p99_s'], lag['lag_max_s']))
    print('wrote %s' % args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
