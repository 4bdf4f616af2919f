#!/usr/bin/env python3
"""A small, bounded load generator for Odoo behind HAProxy: `workers`
threads, each looping over three real requests with an authenticated
session — the login page (GET /web/login), a JSON-RPC read
(res.partner search_read) and a JSON-RPC write (ir.config_parameter
set_param on a key of its own) — until stopped.

A request fails when the connection fails, the answer is 5xx, or a JSON-RPC
call returns an error. Used by the rollout tests (start / stop around a
playbook run) and from the command line:

    python bench/loadgen.py --url http://LB --password SECRET --seconds 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time

import requests


class LoadGen:
    def __init__(self, url, password, db='odoo', login='admin', workers=4, timeout=30, think=0.0):
        self.url = url.rstrip('/')
        self.db, self.login, self.password = db, login, password
        self.workers, self.timeout = workers, timeout
        # Seconds each worker waits after a request (a user's think time);
        # 0 is a closed loop at full speed, which saturates a small machine.
        self.think = think
        self._stop = threading.Event()
        self._threads = []
        self._lock = threading.Lock()
        self.samples = []          # (start, seconds, kind, ok, detail)

    def _session(self, tries=3):
        """A logged-in session. Five first logins of one user at once can
        race in Odoo itself (each creates the user's res.users.settings; one
        insert wins, the others get a ValidationError): such a login is
        tried again, up to `tries` times, so no worker is lost before the
        load starts."""
        for attempt in range(1, tries + 1):
            http = requests.Session()
            resp = http.post(self.url + '/web/session/authenticate', timeout=self.timeout, json={
                'jsonrpc': '2.0', 'method': 'call', 'id': 1,
                'params': {'db': self.db, 'login': self.login, 'password': self.password}})
            resp.raise_for_status()
            if (resp.json().get('result') or {}).get('uid'):
                return http
            if attempt == tries:
                raise AssertionError(resp.text[:300])
            time.sleep(0.5 * attempt)

    def _rpc(self, http, model, method, args, kwargs=None):
        return http.post('%s/web/dataset/call_kw/%s/%s' % (self.url, model, method), timeout=self.timeout, json={
            'jsonrpc': '2.0', 'method': 'call', 'id': 1,
            'params': {'model': model, 'method': method, 'args': args, 'kwargs': kwargs or {}}})

    def _one(self, http, kind, n):
        start = time.time()
        try:
            if kind == 'page':
                resp = http.get(self.url + '/web/login', timeout=self.timeout)
            elif kind == 'read':
                resp = self._rpc(http, 'res.partner', 'search_read', [[]], {'fields': ['name'], 'limit': 20})
            else:
                resp = self._rpc(http, 'ir.config_parameter', 'set_param', ['odoo_scale.loadgen.%d' % n, str(start)])
            ok = resp.status_code < 500
            detail = resp.status_code
            if ok and kind != 'page':
                body = resp.json()
                ok = 'error' not in body
                if not ok:
                    detail = json.dumps(body['error'])[:200]
        except (requests.RequestException, ValueError) as exc:
            ok, detail = False, type(exc).__name__ + ': ' + str(exc)[:200]
        with self._lock:
            self.samples.append((start, time.time() - start, kind, ok, detail))

    def _worker(self, n):
        http = self._session()
        while not self._stop.is_set():
            for kind in ('page', 'read', 'write'):
                if self._stop.is_set():
                    break
                self._one(http, kind, n)
                if self.think:
                    self._stop.wait(self.think)

    def start(self):
        self._threads = [threading.Thread(target=self._worker, args=(n,), daemon=True) for n in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        return self.report()

    def report(self, since=None, until=None):
        with self._lock:
            rows = [s for s in self.samples if (since is None or s[0] >= since) and (until is None or s[0] < until)]
        lat = sorted(s[1] * 1000 for s in rows)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(len(lat) * p))], 1) if lat else None
        failed = [s for s in rows if not s[3]]
        return {'sent': len(rows), 'failed': len(failed), 'p50_ms': pct(0.50), 'p99_ms': pct(0.99),
                'mean_ms': round(statistics.mean(lat), 1) if lat else None,
                'failures': [{'kind': s[2], 'detail': s[4]} for s in failed[:10]]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--url', required=True)
    ap.add_argument('--password', required=True)
    ap.add_argument('--db', default='odoo')
    ap.add_argument('--workers', type=int, default=4)
    ap.add_argument('--seconds', type=int, default=30)
    ap.add_argument('--think', type=float, default=0.0, help='seconds each worker waits after a request')
    args = ap.parse_args()
    gen = LoadGen(args.url, args.password, db=args.db, workers=args.workers, think=args.think).start()
    time.sleep(args.seconds)
    print(json.dumps(gen.stop(), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
