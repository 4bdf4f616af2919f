#!/usr/bin/env python3
"""The cost of watching, on the running stack scenario, in one run:
/web/login through HAProxy with Prometheus scraping every exporter every
15 s, against the same load with Prometheus stopped (no scrape reaches any
exporter), in interleaved rounds: requests per second and p50/p99 latency,
the median round of each side, and the difference in per cent (target:
under 2 %). Each round should last at least one scrape interval (15 s), so
every "with" round holds a scrape of every target.

Load comes from wrk, as bench/web.py. Figures go to --out as JSON and are
printed; nothing here passes or fails on a time. Prometheus is running
again when the run ends, whatever happened.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

from web import address, sh, wrk

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    prefix = os.environ.get('ODOO_SCALE_MOL_PREFIX', 'mol-s')
    ap.add_argument('--lb', default='%s-lb1' % prefix)
    ap.add_argument('--mon', default='%s-mon1' % prefix)
    ap.add_argument('--seconds', type=int, default=20)
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--connections', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--path', default='/web/login')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'monitoring.json'))
    args = ap.parse_args()
    url = 'http://%s%s' % (address(args.lb), args.path)
    wrk(url, 5, args.connections, args.threads)  # warm-up
    rounds = {'with': [], 'without': []}
    try:
        for _ in range(args.rounds):
            for side in ('with', 'without'):
                sh(args.mon, 'systemctl %s prometheus' % ('start' if side == 'with' else 'stop'))
                rounds[side].append(wrk(url, args.seconds, args.connections, args.threads))
    finally:
        sh(args.mon, 'systemctl start prometheus', check=False)
    figures = {}
    for side, runs in rounds.items():
        figures[side] = {
            'rps': statistics.median(r['rps'] for r in runs),
            'p50_ms': statistics.median(r['p50_ms'] for r in runs),
            'p99_ms': statistics.median(r['p99_ms'] for r in runs),
            'errors': sum(r['errors'] for r in runs),
            'rounds': runs,
        }
    w, wo = figures['with'], figures['without']
    figures['rps_difference_pct'] = round(100 * (wo['rps'] - w['rps']) / wo['rps'], 2) if wo['rps'] else None
    figures['p99_difference_pct'] = round(100 * (w['p99_ms'] - wo['p99_ms']) / wo['p99_ms'], 2) if wo['p99_ms'] else None
    figures['settings'] = {'seconds': args.seconds, 'rounds': args.rounds, 'connections': args.connections,
                           'path': args.path, 'scrape_interval': '15s'}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(figures, fh, indent=2)
    print('monitoring bench: %s through HAProxy, %d x %d s rounds each side' % (args.path, args.rounds, args.seconds))
    print('  %-28s %10s %10s %10s %7s' % ('', 'req/s', 'p50 ms', 'p99 ms', 'errors'))
    for side in ('without', 'with'):
        f = figures[side]
        label = 'Prometheus scraping' if side == 'with' else 'Prometheus stopped'
        print('  %-28s %10.1f %10.2f %10.2f %7d' % (label, f['rps'], f['p50_ms'], f['p99_ms'], f['errors']))
    print('  cost of watching: %s %% fewer requests/s, p99 %+.2f %%' % (
        figures['rps_difference_pct'], figures['p99_difference_pct'] or 0))
    return 0


if __name__ == '__main__':
    sys.exit(main())
