#!/usr/bin/env python3
"""Web-tier benchmark on the running stack scenario (or any stack with an lb
host and two web nodes), in one run:

  1. /web/login through HAProxy with ONE web node in rotation (the other
     drained through HAProxy's admin socket) and with TWO, in interleaved
     rounds: requests per second, p50/p95/p99 latency and errors, same
     client, same duration; the median round of each side is reported.
     The ratio two/one is the scale-out figure. On a machine whose cores
     are shared by the load generator and every node, expect the ratio to
     be bounded by the cores, not by Odoo.
  2. Resident memory of each Odoo process on the first web node after load.

Load comes from wrk (Debian package). Figures go to --out as JSON and are
printed as a table; nothing here passes or fails on a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = r'''
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
                 + summary.errors.status + summary.errors.timeout
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, ' ..
    '"p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f}\n', summary.requests, summary.duration, errors,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000))
end
'''


def sh(container, script, check=True):
    res = subprocess.run(['docker', 'exec', container, 'bash', '-c', script], capture_output=True, text=True)
    if check and res.returncode != 0:
        raise SystemExit('bench: %s failed on %s: %s' % (script[:80], container, res.stderr.strip()[-400:]))
    return res.stdout


def address(container):
    return subprocess.run(['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}',
                           container], check=True, capture_output=True, text=True).stdout.strip()


def set_state(lb, server, state):
    """Sets `server` to drain/ready in every HAProxy backend that has it."""
    stat = sh(lb, "echo 'show stat' | socat stdio /run/haproxy/admin.sock")
    for line in stat.splitlines():
        fields = line.split(',')
        if len(fields) > 1 and fields[1] == server:
            sh(lb, "echo 'set server %s/%s state %s' | socat stdio /run/haproxy/admin.sock" % (fields[0], server, state))


def wrk(url, seconds, connections, threads):
    with tempfile.NamedTemporaryFile('w', suffix='.lua', delete=False) as fh:
        fh.write(LUA)
        script = fh.name
    try:
        out = subprocess.run(['wrk', '-t%d' % threads, '-c%d' % connections, '-d%ds' % seconds, '--timeout', '10s',
                              '-s', script, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)
    line = next(l for l in out.splitlines() if l.startswith('WRKJSON '))
    res = json.loads(line[len('WRKJSON '):])
    res['rps'] = round(res['requests'] / (res['duration_us'] / 1e6), 1)
    return res


def odoo_rss(container):
    """RSS in MB of the Odoo processes of a node: master, gevent, workers."""
    out = sh(container, "ps -u odoo -o pid=,ppid=,rss=,args=")
    procs = []
    for line in out.splitlines():
        pid, ppid, rss, args = line.split(None, 3)
        if 'odoo' in args:
            procs.append({'pid': int(pid), 'ppid': int(ppid), 'rss_mb': round(int(rss) / 1024, 1),
                          'kind': 'gevent' if 'gevent' in args else None})
    pids = {p['pid'] for p in procs}
    for p in procs:
        if p['kind'] is None:
            p['kind'] = 'worker' if p['ppid'] in pids else 'master'
    return procs


def main():
    ap = argparse.ArgumentParser()
    prefix = os.environ.get('ODOO_SCALE_MOL_PREFIX', 'mol-s')
    ap.add_argument('--lb', default='%s-lb1' % prefix)
    ap.add_argument('--web', nargs=2, default=['%s-web1' % prefix, '%s-web2' % prefix])
    ap.add_argument('--seconds', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--connections', type=int, default=16)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--path', default='/web/login')
    ap.add_argument('--out', default=os.path.join(HERE, 'results', 'web.json'))
    args = ap.parse_args()

    url = 'http://%s%s' % (address(args.lb), args.path)
    wrk(url, 5, 8, 1)                                   # warm every worker's caches
    # Interleaved rounds (one, two, one, two, ...) so a noisy neighbour
    # weighs on both sides; the median round of each side is reported.
    rounds = {'one': [], 'two': []}
    for _ in range(args.rounds):
        set_state(args.lb, args.web[1], 'drain')
        try:
            rounds['one'].append(wrk(url, args.seconds, args.connections, args.threads))
        finally:
            set_state(args.lb, args.web[1], 'ready')
        rounds['two'].append(wrk(url, args.seconds, args.connections, args.threads))
    one = sorted(rounds['one'], key=lambda r: r['rps'])[len(rounds['one']) // 2]
    two = sorted(rounds['two'], key=lambda r: r['rps'])[len(rounds['two']) // 2]
    rss = odoo_rss(args.web[0])
    workers = [p['rss_mb'] for p in rss if p['kind'] == 'worker']
    result = {
        'url_path': args.path, 'seconds': args.seconds, 'connections': args.connections,
        'cpus_on_machine': os.cpu_count(),
        'rounds': args.rounds, 'one_web_node': one, 'two_web_nodes': two,
        'rps_per_round': {k: [r['rps'] for r in v] for k, v in rounds.items()},
        'errors_total': sum(r['errors'] for v in rounds.values() for r in v),
        'scale_out_ratio_rps': round(two['rps'] / one['rps'], 2) if one['rps'] else None,
        'p95_ratio_two_over_one': round(two['p95_ms'] / one['p95_ms'], 2) if one['p95_ms'] else None,
        'odoo_processes_first_web_node': rss,
        'worker_rss_mb_mean': round(sum(workers) / len(workers), 1) if workers else None,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as fh:
        json.dump(result, fh, indent=2)
    print('web bench: GET %s through HAProxy, %d connections, %d rounds of %d s per side, interleaved '
          '(%d CPUs shared by client and nodes); median round shown'
          % (args.path, args.connections, args.rounds, args.seconds, os.cpu_count()))
    print('%-16s %10s %10s %10s %10s %8s' % ('', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors'))
    for name, r in (('one web node', one), ('two web nodes', two)):
        print('%-16s %10.1f %10.2f %10.2f %10.2f %8d' % (name, r['rps'], r['p50_ms'], r['p95_ms'], r['p99_ms'],
                                                        r['errors']))
    print('req/s per round: one %s, two %s; errors in all rounds: %d'
          % (result['rps_per_round']['one'], result['rps_per_round']['two'], result['errors_total']))
    print('scale-out ratio (req/s two / one): %s' % result['scale_out_ratio_rps'])
    print('worker RSS on %s after load: %s MB (mean %s MB)' % (args.web[0], workers, result['worker_rss_mb_mean']))
    print('figures written to %s' % args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
