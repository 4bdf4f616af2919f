"""pg_index_report against a real server with each kind of finding staged."""

from __future__ import annotations

import time

import pytest

from dbutil import sql  # noqa: E402

SETUP = """
CREATE EXTENSION pg_stat_statements;
CREATE TABLE report_t (id int PRIMARY KEY, a int, b int, c text);
INSERT INTO report_t SELECT g, g % 50, g % 7, md5(g::text) FROM generate_series(1, 20000) g;
CREATE INDEX report_unused ON report_t (c);
CREATE INDEX report_used ON report_t (a);
CREATE INDEX report_dup1 ON report_t (b) WHERE b > 2;
CREATE INDEX report_dup2 ON report_t (b) WHERE b > 2;
CREATE TABLE report_bloat (id int);
INSERT INTO report_bloat SELECT g FROM generate_series(1, 100000) g;
CREATE INDEX report_bloated ON report_bloat (id);
DELETE FROM report_bloat WHERE id % 10 <> 0;
"""


@pytest.fixture
def staged(db):
    sql(db, SETUP)
    sql(db, 'VACUUM ANALYZE report_bloat')
    sql(db, 'ANALYZE report_t')
    server, dbname = db
    conn = server.connect(dbname)
    with conn.cursor() as cur:
        with pytest.raises(Exception, match='could not create unique index'):
            cur.execute('CREATE UNIQUE INDEX CONCURRENTLY report_invalid ON report_t (a)')
        cur.execute('SET enable_seqscan = off')
        cur.execute('SELECT count(*) FROM report_t WHERE a = 3')
        cur.execute('RESET enable_seqscan')
        for _round in range(12):
            cur.execute('SELECT count(*) FROM report_t WHERE c LIKE %s', ('%ab%',))
    conn.close()  # flushes this backend's statistics
    deadline = time.time() + 10
    while time.time() < deadline:
        scans = sql(db, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'report_used'")
        if scans and scans[0][0]:
            break
        time.sleep(0.2)
    # built after the scan above, so that scan could only use report_used
    sql(db, 'CREATE INDEX report_a_b ON report_t (a, b)')
    return db


def report_args(db, **kw):
    server, dbname = db
    args = dict(server.params, login_db=dbname, min_size=0, bloat_min_percent=50,
                seq_scan_min_rows=1000, seq_scan_min_count=10)
    args.update(kw)
    return args


def names(rows, key='index'):
    return sorted(r[key] for r in rows)


def test_report_finds_each_problem(staged, run):
    res = run('pg_index_report', report_args(staged))
    assert not res.failed, res
    assert not res['changed']
    report = res['report']
    assert res['ansible_facts']['odoo_scale_index_report'] == report

    unused = names(report['unused'])
    assert 'report_unused' in unused
    assert 'report_used' not in unused
    assert 'report_t_pkey' not in unused  # backs a constraint
    assert 'report_invalid' not in unused  # reported as invalid instead

    assert [(d['table'], d['indexes']) for d in report['duplicate']] == [('report_t', ['report_dup1', 'report_dup2'])]
    assert dict(index='report_used', covered_by='report_a_b') in [
        dict(index=o['index'], covered_by=o['covered_by']) for o in report['overlapping']]
    assert names(report['invalid']) == ['report_invalid']

    bloat = dict((b['index'], b) for b in report['bloat'])
    assert 'report_bloated' in bloat and bloat['report_bloated']['bloat_percent'] >= 50
    assert 'report_t_pkey' not in bloat

    assert [t['table'] for t in report['seq_scan_heavy']] == ['report_t']
    assert report['pg_stat_statements'] is True
    statements = report['top_statements']['public.report_t']
    assert any('LIKE' in s['query'] and s['calls'] >= 12 for s in statements)

    text = res['text']
    for needle in ('report_unused', 'report_dup1, report_dup2', 'report_invalid on report_t: INVALID',
                   'report_bloated', 'a prefix of report_a_b', 'seq scans vs 1 index scans'):
        assert needle in text, text


def test_report_is_read_only_and_check_mode_safe(staged, run):
    before = sql(staged, 'SELECT count(*) FROM pg_class')
    res = run('pg_index_report', report_args(staged, min_size=10 ** 9), check_mode=True)
    assert not res.failed and not res['changed']
    assert res['report']['unused'] == [] and res['report']['bloat'] == []
    assert names(res['report']['invalid']) == ['report_invalid']
    assert sql(staged, 'SELECT count(*) FROM pg_class') == before


def test_report_schema_filter(staged, run):
    res = run('pg_index_report', report_args(staged, schemas=['elsewhere']))
    report = res['report']
    assert report['unused'] == report['duplicate'] == report['invalid'] == report['seq_scan_heavy'] == []


def _wait(predicate, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError('timed out waiting for ' + what)


@pytest.fixture
def replica(pg, staged):
    """A real hot standby of the session server (pg_basebackup -R,
    streaming), with the staged database replayed on it."""
    standby = pg.make_standby()
    _server, dbname = staged
    try:
        _wait(lambda: standby.sql("SELECT to_regclass('report_unused')", dbname=dbname)[0][0], 'replay')
        yield standby
    finally:
        standby.destroy()


def _scan_on(server, dbname, index_column_value):
    conn = server.connect(dbname)
    with conn.cursor() as cur:
        cur.execute('SET enable_seqscan = off')
        cur.execute('SET enable_bitmapscan = off')
        cur.execute('SELECT count(*) FROM report_t WHERE c = %s', (index_column_value,))
    conn.close()  # flushes this backend's statistics


def test_unused_counts_the_replica_reads(pg, staged, replica, run):
    """report_unused is never read on the primary but is read on the
    replica: listing the replica keeps it out of "unused"."""
    _server, dbname = staged
    _scan_on(replica, dbname, 'nothing')
    _wait(lambda: (replica.sql("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'report_unused'",
                               dbname=dbname) or [(0,)])[0][0], 'replica statistics')
    assert sql(staged, "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'report_unused'") == [(0,)]
    _wait(lambda: sql(staged, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")[0][0] == 1,
          'streaming')

    alone = run('pg_index_report', report_args(staged))
    assert not alone.failed, alone
    unused = dict((u['index'], u) for u in alone['report']['unused'])
    # without replicas, the index looks unused - and the report says the replica was not consulted
    assert unused['report_unused']['replicas_not_consulted'] == alone['report']['replicas_not_consulted'] != []
    assert unused['report_unused']['scans_by_server'] == {'primary': 0}
    assert 'Replicas NOT consulted' in alone['text'] and 'not consulted' in alone['text']

    args = report_args(staged, replicas=[dict(name='replica1', login_unix_socket=replica.sockdir,
                                              login_port=replica.port)])
    res = run('pg_index_report', args)
    assert not res.failed, res
    report = res['report']
    assert report['replicas'][0]['name'] == 'replica1' and report['replicas'][0]['consulted']
    assert report['replicas'][0]['standby'] is True
    assert report['replicas_not_consulted'] == []
    unused = dict((u['index'], u) for u in report['unused'])
    assert 'report_unused' not in unused
    # an index read nowhere is still unused, and the entry says where it looked
    assert unused['report_dup1']['scans_by_server'] == {'primary': 0, 'replica1': 0}
    assert unused['report_dup1']['replicas_consulted'] == ['replica1']
    assert unused['report_dup1']['replicas_not_consulted'] == []
    assert 'summed over primary and replica1' in res['text']


def test_an_unreachable_replica_is_named_per_index(staged, run):
    from pgserver import free_port
    args = report_args(staged, replicas=[dict(login_host='127.0.0.1', login_port=free_port(), connect_timeout=2)])
    res = run('pg_index_report', args)
    assert not res.failed, res
    report = res['report']
    label = report['replicas'][0]['name']
    assert label.startswith('127.0.0.1:') and not report['replicas'][0]['consulted']
    assert report['replicas'][0]['error'] and '\n' not in report['replicas'][0]['error']
    assert report['replicas_not_consulted'] == [label]
    assert all(u['replicas_not_consulted'] == [label] for u in report['unused'])
    assert 'report_unused' in names(report['unused'])
    # The module also warns; whether the warning comes back in the result or
    # goes straight to Ansible's display depends on what else this pytest
    # process loaded, so the report's own fields above are what is asserted.
