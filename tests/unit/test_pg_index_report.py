"""pg_index_report against a real server with each kind of finding staged."""

from __future__ import annotations

import time

import pytest

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


def sql(db, query, args=None):
    server, dbname = db
    return server.sql(query, args, dbname=dbname)


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
        for _ in range(12):
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
