#!/usr/bin/env python3
"""Data-tier benchmarks on a running stack (molecule's or `make up`'s).

Figures, written as JSON to --out and printed as a table:
  1. pgbench with 100 direct connections to PostgreSQL, and with 1000
     clients through PgBouncer (transaction pool), in the same run, from the
     same host (the primary), same script and duration: TPS and errors.
  2. Replica lag (bytes and seconds, p50/p99) sampled every 100 ms on the
     primary while pgbench writes through PgBouncer at full speed, with TPS.
These are measurements, not tests: nothing here passes or fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
PGBENCH = '/usr/lib/postgresql/15/bin/pgbench'


def sh(container, script, check=True, user=None):
    cmd = ['docker', 'exec'] + (['-u', user] if user else []) + [container, 'bash', '-c', script]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise SystemExit('bench: %s failed on %s: %s' % (script[:80], container, res.stderr.strip()[-500:]))
    return res


def address(container):
    out = subprocess.run(['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
                          container], check=True, capture_output=True, text=True).stdout.strip()
    return out


def load_group_vars(name):
    path = os.path.join(PROJECT, 'inventories', 'local', 'group_vars', 'all', name)
    with open(path) as fh:
        return yaml.safe_load(fh)


def parse_pgbench(out):
    tps = re.search(r'tps = ([\d.]+) \(without initial connection time\)', out)
    failed = re.search(r'number of failed transactions: (\d+)', out)
    done = re.search(r'number of transactions actually processed: (\d+)', out)
    lat = re.search(r'latency average = ([\d.]+) ms', out)
    conn = re.search(r'initial connection time = ([\d.]+) ms', out)
    aborted = len(re.findall(r'client \d+ aborted', out))
    return {
        'tps': float(tps.group(1)) if tps else 0.0,
        'transactions': int(done.group(1)) if done else 0,
        'failed_transactions': int(failed.group(1)) if failed else 0,
        'aborted_clients': aborted,
        'latency_avg_ms': float(lat.group(1)) if lat else None,
        'initial_connection_ms': float(conn.group(1)) if conn else None,
    }


def pgbench(primary, conninfo, clients, seconds, env=''):
    script = ('%s %s -n -M simple -b simple-update -c %d -j 2 -T %d "%s" 2>&1'
              % (env, PGBENCH, clients, seconds, conninfo))
    res = sh(primary, script, check=False, user='postgres')
    out = res.stdout
    figures = parse_pgbench(out)
    figures['clients'] = clients
    figures['seconds'] = seconds
    figures['exit_code'] = res.returncode
    if res.returncode != 0 and not figures['transactions']:
        figures['error'] = out.strip().splitlines()[-1] if out.strip() else 'pgbench failed'
    return figures


def percentile(values, pct):
    if not values:
        return None
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(pct / 100.0 * (len(values) - 1)))))
    return values[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Container names of the stack scenario (molecule/stack), or pass them.
    prefix = os.environ.get('ODOO_SCALE_MOL_PREFIX', 'mol-s')
    ap.add_argument('--primary', default='%s-pg1' % prefix)
    ap.add_argument('--bouncer', default='%s-pgb1' % prefix)
    ap.add_argument('--seconds', type=int, default=10)
    ap.add_argument('--scale', type=int, default=20)
    ap.add_argument('--direct-clients', type=int, default=100)
    ap.add_argument('--pooled-clients', type=int, default=1000)
    ap.add_argument('--lag-clients', type=int, default=32)
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'stack.json'))
    args = ap.parse_args()

    sec = load_group_vars('secrets.yml')
    sizes = load_group_vars('main.yml')
    bouncer_ip = address(args.bouncer)
    pooled = 'host=%s port=6432 dbname=odoo user=odoo' % bouncer_ip
    direct = 'host=/var/run/postgresql dbname=odoo user=postgres'
    pw_env = "PGPASSWORD='%s'" % sec['postgresql_app_password']
    pool = int(sizes['pgbouncer_app_pool_size']) + int(sizes['pgbouncer_app_reserve_pool_size'])

    print('bench: pgbench -i -s %d through PgBouncer' % args.scale, flush=True)
    sh(args.primary, '%s %s -i -q -s %d -I dtgvp "%s" 2>&1' % (pw_env, PGBENCH, args.scale, pooled), user='postgres')

    results = {'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'scale': args.scale,
               'pgbouncer_pool_size_plus_reserve': pool}
    print('bench: %d direct connections, %d s' % (args.direct_clients, args.seconds), flush=True)
    results['direct'] = pgbench(args.primary, direct, args.direct_clients, args.seconds)
    print('bench: %d clients through PgBouncer, %d s' % (args.pooled_clients, args.seconds), flush=True)
    # pgbench opens every client before its clock matters; SCRAM for 1000
    # clients takes PgBouncer ~20 s here, so the run gets that on top.
    results['pgbouncer'] = pgbench(args.primary, pooled, args.pooled_clients,
                                   args.seconds + args.pooled_clients // 40, env=pw_env)

    print('bench: replica lag under %d writers through PgBouncer, %d s' % (args.lag_clients, args.seconds), flush=True)
    samples = args.seconds * 10
    sampler = subprocess.Popen(
        ['docker', 'exec', '-u', 'postgres', args.primary, 'bash', '-c',
         'for i in $(seq %d); do psql -X -At -F" " -c "SELECT '
         'coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0), '
         'coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication LIMIT 1"; sleep 0.1; done'
         % samples], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    load = pgbench(args.primary, pooled, args.lag_clients, args.seconds, env=pw_env)
    out, _ = sampler.communicate(timeout=args.seconds * 10 + 60)
    lag_bytes, lag_secs = [], []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            lag_bytes.append(float(parts[0]))
            lag_secs.append(float(parts[1]))
    results['replica_lag'] = {
        'writers': args.lag_clients, 'tps': load['tps'], 'failed_transactions': load['failed_transactions'],
        'samples': len(lag_bytes),
        'bytes_p50': percentile(lag_bytes, 50), 'bytes_p99': percentile(lag_bytes, 99),
        'bytes_max': max(lag_bytes) if lag_bytes else None,
        'seconds_p50': percentile(lag_secs, 50), 'seconds_p99': percentile(lag_secs, 99),
        'seconds_mean': statistics.mean(lag_secs) if lag_secs else None,
    }

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(results, fh, indent=2)
    d, p, lag = results['direct'], results['pgbouncer'], results['replica_lag']
    print('\n%-34s %10s %10s %8s %8s' % ('run', 'clients', 'tps', 'failed', 'aborted'))
    for label, run in (('direct to PostgreSQL', d),
                       ('through PgBouncer (pool %s)' % results['pgbouncer_pool_size_plus_reserve'], p)):
        print('%-34s %10d %10.0f %8d %8d  %s' % (label, run['clients'], run['tps'], run['failed_transactions'],
                                                run['aborted_clients'], run.get('error', '')))
    print('pooled/direct TPS ratio: %.2f' % (p['tps'] / d['tps'] if d['tps'] else float('nan')))
    print('replica lag at %.0f TPS: p50 %.0f B / %.3f s, p99 %.0f B / %.3f s (%d samples)'
          % (lag['tps'], lag['bytes_p50'] or 0, lag['seconds_p50'] or 0, lag['bytes_p99'] or 0,
             lag['seconds_p99'] or 0, lag['samples']))
    print('figures written to %s' % args.out)
    broken = [name for name, run in (('direct', d), ('pgbouncer', p)) if run.get('error')]
    if broken or not lag['samples']:
        print('bench: no figures for %s' % ', '.join(broken or ['replica lag']))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
