#!/usr/bin/env python3
"""Checking a catalog of 50 indexes that are already in place: one pg_index
task vs fifty community.postgresql.postgresql_idx tasks.

A throwaway PostgreSQL server is started here with 5 tables of --rows rows
and the 50 indexes built. Two playbooks, run with the venv's
ansible-playbook against localhost (connection local, same interpreter,
same playbook overhead), check that every index exists: one with fifty
postgresql_idx tasks, one with a single pg_index task carrying the whole
catalog. Both must report no change. Each playbook runs --repeats times and
the best wall time is kept.

Not a timed test: figures go to --out (JSON) and a short summary is printed.
Usage: .venv/bin/python bench/index_catalog.py [--rows 10000] [--repeats 2]
Runs as root (the server runs as postgres) or as a user that can initdb.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from index_build import run_pg_index  # noqa: E402  (also puts tests/unit on sys.path)
from pgserver import PgServer  # noqa: E402

BIN = os.path.dirname(sys.executable)
TABLES = 5
INDEXES_PER_TABLE = 10
COLUMNS = 8


def catalog():
    """50 specs: on each table, every column alone and two-column pairs."""
    specs = []
    for t in range(TABLES):
        table = 'bench_t%d' % t
        singles = [['c%d' % c] for c in range(COLUMNS)]
        pairs = [['c%d' % c, 'c%d' % (c + 1)] for c in range(INDEXES_PER_TABLE - COLUMNS)]
        for n, columns in enumerate(singles + pairs):
            specs.append(dict(name='bench_t%d_idx%d' % (t, n), table=table, columns=columns))
    return specs


def playbook_fifty(login, specs):
    tasks = [{'name': 'index %s' % s['name'],
              'community.postgresql.postgresql_idx': dict(
                  login, idxname=s['name'], table=s['table'], columns=s['columns'], state='present')}
             for s in specs]
    return [{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]


def playbook_one(login, specs):
    return [{'hosts': 'localhost', 'gather_facts': False,
             'tasks': [{'name': 'index catalog', 'odoo_scale.stack.pg_index': dict(login, indexes=specs)}]}]


def run_playbook(path, workdir):
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, 'collections'),
               ANSIBLE_LOCAL_TEMP=os.path.join(workdir, 'tmp'),
               ANSIBLE_HOME=os.path.join(workdir, 'home'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_RETRY_FILES_ENABLED='0')
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % sys.executable, path]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=workdir)
    seconds = time.perf_counter() - started
    recap = re.search(r'ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)', proc.stdout)
    if proc.returncode != 0 or recap is None:
        raise SystemExit('%s failed (rc %d):\n%s\n%s' % (path, proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:]))
    return seconds, int(recap.group(1)), int(recap.group(2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=10000, help='rows per table')
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--out', default=os.path.join(REPO, 'bench', 'results', 'index_catalog.json'))
    opts = parser.parse_args()
    specs = catalog()

    with PgServer() as server, tempfile.TemporaryDirectory(prefix='odoo-scale-bench-') as workdir:
        server.sql('CREATE DATABASE bench')
        for t in range(TABLES):
            cols = ', '.join('c%d int' % c for c in range(COLUMNS))
            server.sql('CREATE TABLE bench_t%d (id bigint PRIMARY KEY, %s)' % (t, cols), dbname='bench')
            values = ', '.join('(g * %d) %% 1000' % (c + 1) for c in range(COLUMNS))
            server.sql('INSERT INTO bench_t%d SELECT g, %s FROM generate_series(1, %d) g'
                       % (t, values, opts.rows), dbname='bench')
        built = run_pg_index(dict(server.params, login_db='bench', indexes=specs))
        if built.get('failed') or len(built['created']) != len(specs):
            raise SystemExit('could not build the catalog: %s' % built.get('msg'))

        login = dict(login_unix_socket=server.sockdir, login_port=server.port, login_user='postgres',
                     login_db='bench')
        paths = {}
        for key, make in (('postgresql_idx_x50', playbook_fifty), ('pg_index_x1', playbook_one)):
            paths[key] = os.path.join(workdir, key + '.yml')
            with open(paths[key], 'w') as fh:
                json.dump(make(login, specs), fh)  # JSON is YAML
        results = dict(indexes=len(specs), rows_per_table=opts.rows, repeats=opts.repeats)
        for key, path in paths.items():
            runs = [run_playbook(path, workdir) for _ in range(opts.repeats)]
            if any(changed for _s, _ok, changed in runs):
                raise SystemExit('%s reported changes on an index catalog already in place' % key)
            results[key] = dict(best_seconds=round(min(s for s, _ok, _c in runs), 2),
                                all_seconds=[round(s, 2) for s, _ok, _c in runs], tasks_ok=runs[0][1])
        results['ratio'] = round(results['postgresql_idx_x50']['best_seconds']
                                 / results['pg_index_x1']['best_seconds'], 1)

    os.makedirs(os.path.dirname(os.path.abspath(opts.out)), exist_ok=True)
    with open(opts.out, 'w') as fh:
        json.dump(results, fh, indent=2)
    print('checking %d indexes already in place (%d rows per table); figures in %s'
          % (len(specs), opts.rows, opts.out))
    print('  50 x postgresql_idx tasks : %6.2f s' % results['postgresql_idx_x50']['best_seconds'])
    print('   1 x pg_index task        : %6.2f s' % results['pg_index_x1']['best_seconds'])
    print('  ratio                     : %6.1f x' % results['ratio'])


if __name__ == '__main__':
    main()
