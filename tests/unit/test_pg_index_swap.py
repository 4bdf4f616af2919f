"""pg_index rebuilds against a real server: what hangs on the old index
(replica identity, CLUSTER mark, comment) moves to the new one, and a run
interrupted after any step is finished by the next run.

The interruption tests take the exact statements a run would execute (check
mode shows them, and a real run executes the same list), execute only the
first k of them by hand - a crash after step k, an open transaction rolled
back - then run the module again and read the catalog."""

from __future__ import annotations

import pytest

from dbutil import make_args, sql  # noqa: E402

PLAIN = """
CREATE TABLE sale_order_line (id serial PRIMARY KEY, code int NOT NULL, order_id int, state varchar);
INSERT INTO sale_order_line (code, order_id, state)
SELECT g, g % 50, CASE WHEN g % 3 = 0 THEN 'done' ELSE 'draft' END FROM generate_series(1, 500) g;
CREATE PUBLICATION odoo_scale_pub FOR TABLE sale_order_line;
"""

PARTITIONED = """
CREATE TABLE mail_log (id int NOT NULL, model varchar NOT NULL, created date NOT NULL) PARTITION BY RANGE (created);
CREATE TABLE mail_log_2025 PARTITION OF mail_log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE mail_log_2026 PARTITION OF mail_log FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
    PARTITION BY LIST (model);
CREATE TABLE mail_log_2026_sale PARTITION OF mail_log_2026 FOR VALUES IN ('sale.order');
CREATE TABLE mail_log_2026_rest PARTITION OF mail_log_2026 DEFAULT;
INSERT INTO mail_log SELECT g, CASE WHEN g % 2 = 0 THEN 'sale.order' ELSE 'res.partner' END,
    DATE '2025-06-01' + (g % 400) FROM generate_series(1, 2000) g;
CREATE PUBLICATION odoo_scale_pub FOR TABLE mail_log_2025;
"""

COMMENT = "ours: it's a \\ backslash; -- not a comment"
CODE = dict(name='odoo_scale_code', table='sale_order_line', columns=['code'], unique=True)
LOG = dict(name='odoo_scale_log', table='mail_log', columns=['id', 'created', 'model'], unique=True)


def props(db, name, schema='public'):
    """(valid, replica identity, clustered, comment, definition) of an index."""
    rows = sql(db, """SELECT i.indisvalid, i.indisreplident, i.indisclustered, obj_description(c.oid, 'pg_class'),
                             pg_get_indexdef(c.oid)
                        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        JOIN pg_index i ON i.indexrelid = c.oid
                       WHERE n.nspname = %s AND c.relname = %s""", (schema, name))
    return rows[0] if rows else None


def index_names(db):
    return sorted(r[0] for r in sql(db, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"))


def invalid_indexes(db):
    return sql(db, 'SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid') or []


def updates_work(db, table='sale_order_line', column='code'):
    """A table in a publication takes UPDATEs only while it has a replica identity."""
    sql(db, 'UPDATE %s SET %s = %s WHERE ctid = (SELECT min(ctid) FROM %s)' % (table, column, column, table))
    return True


def run_prefix(db, queries, k):
    """Execute queries[:k] as the module would, then 'crash': an open
    transaction is rolled back when the connection goes."""
    server, dbname = db
    conn = server.connect(dbname)
    try:
        with conn.cursor() as cur:
            for query in queries[:k]:
                cur.execute(query)
    finally:
        conn.close()


@pytest.fixture
def plain(db):
    sql(db, PLAIN)
    return db


@pytest.fixture
def parted(db):
    sql(db, PARTITIONED)
    return db


def _decorate_plain(db):
    sql(db, 'ALTER TABLE sale_order_line REPLICA IDENTITY USING INDEX odoo_scale_code')
    sql(db, 'ALTER TABLE sale_order_line CLUSTER ON odoo_scale_code')
    sql(db, 'COMMENT ON INDEX odoo_scale_code IS %s', (COMMENT,))


# -- defect: a rebuild lost what hung on the old index ----------------------

def test_rebuild_keeps_replica_identity_cluster_mark_and_comment(plain, run):
    assert not run('pg_index', make_args(plain, **CODE)).failed
    _decorate_plain(plain)
    assert updates_work(plain)
    changed = dict(CODE, storage_parameters={'fillfactor': 70})
    planned = run('pg_index', make_args(plain, **changed), check_mode=True)
    res = run('pg_index', make_args(plain, **changed))
    assert not res.failed, res
    assert res['rebuilt'] == ['odoo_scale_code']
    valid, replident, clustered, comment, definition = props(plain, 'odoo_scale_code')
    assert valid and replident and clustered and comment == COMMENT
    assert "fillfactor='70'" in definition
    assert sql(plain, "SELECT relreplident FROM pg_class WHERE relname = 'sale_order_line'") == [('i',)]
    assert updates_work(plain)  # the publication still accepts UPDATEs
    assert res['queries'] == planned['queries']
    assert planned['carried'] == {'odoo_scale_code': ['cluster mark', 'comment', 'replica identity']}
    assert index_names(plain) == ['odoo_scale_code', 'sale_order_line_pkey']
    assert not run('pg_index', make_args(plain, **changed))['changed']


@pytest.mark.parametrize('change, why', [
    (dict(where="state = 'done'"), 'replica identity'),      # a partial index cannot be one
    (dict(unique=False), 'replica identity'),                # nor a non-unique one
    (dict(method='hash', unique=False), 'replica identity'),
])
def test_rebuild_that_cannot_carry_the_replica_identity_is_refused(plain, run, change, why):
    run('pg_index', make_args(plain, **CODE))
    _decorate_plain(plain)
    oid = sql(plain, "SELECT 'odoo_scale_code'::regclass::oid")[0][0]
    res = run('pg_index', make_args(plain, **dict(CODE, **change)))
    assert res.failed and '\n' not in res['msg'], res
    assert why in res['msg'] and 'odoo_scale_code' in res['msg'] and 'nothing rebuilt' in res['msg']
    assert res['queries'] == []
    assert sql(plain, "SELECT 'odoo_scale_code'::regclass::oid")[0][0] == oid
    assert props(plain, 'odoo_scale_code')[1:4] == (True, True, COMMENT)
    assert index_names(plain) == ['odoo_scale_code', 'sale_order_line_pkey']


def test_rebuild_that_cannot_carry_the_cluster_mark_is_refused(plain, run):
    spec = {**CODE, 'unique': False}
    run('pg_index', make_args(plain, **spec))
    sql(plain, 'ALTER TABLE sale_order_line CLUSTER ON odoo_scale_code')
    res = run('pg_index', make_args(plain, **{**spec, 'method': 'hash'}))
    assert res.failed and '\n' not in res['msg'] and 'CLUSTER index' in res['msg'], res
    assert props(plain, 'odoo_scale_code')[2] is True


def test_partitioned_rebuild_keeps_partition_replica_identity_and_comments(parted, run):
    assert not run('pg_index', make_args(parted, **LOG)).failed
    sql(parted, 'ALTER TABLE mail_log_2025 REPLICA IDENTITY USING INDEX odoo_scale_log_mail_log_2025')
    sql(parted, 'COMMENT ON INDEX odoo_scale_log IS %s', (COMMENT,))
    sql(parted, "COMMENT ON INDEX odoo_scale_log_mail_log_2026_sale IS 'leaf'")
    changed = dict(LOG, storage_parameters={'fillfactor': 80})
    res = run('pg_index', make_args(parted, **changed))
    assert not res.failed, res
    assert props(parted, 'odoo_scale_log')[3] == COMMENT
    assert props(parted, 'odoo_scale_log_mail_log_2025')[1] is True
    assert props(parted, 'odoo_scale_log_mail_log_2026_sale')[3] == 'leaf'
    assert updates_work(parted, 'mail_log_2025', 'model')
    assert res['carried'] == {'odoo_scale_log': ['comment', 'replica identity']}
    assert not invalid_indexes(parted)
    assert not run('pg_index', make_args(parted, **changed))['changed']


def test_constraint_rebuild_keeps_replica_identity_and_comments(plain, run):
    sql(plain, 'ALTER TABLE sale_order_line ADD CONSTRAINT sol_code_uniq UNIQUE (code)')
    sql(plain, 'ALTER TABLE sale_order_line REPLICA IDENTITY USING INDEX sol_code_uniq')
    sql(plain, 'COMMENT ON INDEX sol_code_uniq IS %s', (COMMENT,))
    sql(plain, "COMMENT ON CONSTRAINT sol_code_uniq ON sale_order_line IS 'the constraint'")
    spec = dict(name='sol_code_uniq', table='sale_order_line', columns=['code'], unique=True,
                storage_parameters={'fillfactor': 70}, allow_constraint_rebuild=True)
    res = run('pg_index', make_args(plain, **spec))
    assert not res.failed, res
    valid, replident, _clustered, comment, definition = props(plain, 'sol_code_uniq')
    assert valid and replident and comment == COMMENT and "fillfactor='70'" in definition
    assert sql(plain, "SELECT obj_description(oid, 'pg_constraint') FROM pg_constraint "
                      "WHERE conname = 'sol_code_uniq'") == [('the constraint',)]
    assert updates_work(plain)
    assert res['carried'] == {'sol_code_uniq': ['comment', 'constraint comment', 'replica identity']}


# -- defect: a leftover of an interrupted rebuild stayed forever -----------

def test_leftover_after_a_failed_rename_is_finished(plain, run):
    """The old index was dropped and the rename failed: the valid _osnew
    index is renamed by the next run, not skipped as an equivalent."""
    run('pg_index', make_args(plain, **CODE))
    _decorate_plain(plain)
    changed = dict(CODE, storage_parameters={'fillfactor': 70})
    queries = run('pg_index', make_args(plain, **changed), check_mode=True)['queries']
    rename = queries.index('ALTER INDEX "public"."odoo_scale_code_osnew" RENAME TO "odoo_scale_code"')
    run_prefix(plain, queries, rename)
    assert props(plain, 'odoo_scale_code') is None and props(plain, 'odoo_scale_code_osnew')[0]
    res = run('pg_index', make_args(plain, **changed))
    assert not res.failed, res
    assert index_names(plain) == ['odoo_scale_code', 'sale_order_line_pkey'], res
    assert props(plain, 'odoo_scale_code')[1:4] == (True, True, COMMENT)
    assert res['queries'] == ['ALTER INDEX "public"."odoo_scale_code_osnew" RENAME TO "odoo_scale_code"']
    assert res['resumed'] == ['odoo_scale_code'] and res['changed']
    assert not run('pg_index', make_args(plain, **changed))['changed']


def test_leftover_is_finished_even_when_skip_if_equivalent_is_off(plain, run):
    run('pg_index', make_args(plain, **CODE))
    changed = dict(CODE, storage_parameters={'fillfactor': 70}, skip_if_equivalent=False)
    queries = run('pg_index', make_args(plain, **changed), check_mode=True)['queries']
    run_prefix(plain, queries, len(queries) - 1)
    res = run('pg_index', make_args(plain, **changed))
    assert not res.failed, res
    assert index_names(plain) == ['odoo_scale_code', 'sale_order_line_pkey'], res
    assert res['resumed'] == ['odoo_scale_code']


def test_stale_leftover_is_cleaned_up_and_its_replica_identity_kept(plain, run):
    """The spec changed again after a crash: the _osnew leftover has neither
    the old nor the new definition, and holds the replica identity."""
    run('pg_index', make_args(plain, **CODE))
    _decorate_plain(plain)
    queries = run('pg_index', make_args(plain, **dict(CODE, storage_parameters={'fillfactor': 70})),
                  check_mode=True)['queries']
    run_prefix(plain, queries, len(queries) - 1)  # old dropped, rename not done
    newest = dict(CODE, storage_parameters={'fillfactor': 60})
    res = run('pg_index', make_args(plain, **newest))
    assert not res.failed, res
    assert index_names(plain) == ['odoo_scale_code', 'sale_order_line_pkey'], res
    valid, replident, clustered, comment, definition = props(plain, 'odoo_scale_code')
    assert valid and replident and clustered and comment == COMMENT and "fillfactor='60'" in definition
    assert updates_work(plain)
    assert res['resumed'] == ['odoo_scale_code']


def test_absent_drops_a_leftover_too(plain, run):
    run('pg_index', make_args(plain, **CODE))
    sql(plain, 'CREATE INDEX odoo_scale_code_osnew ON sale_order_line (code)')
    res = run('pg_index', make_args(plain, name='odoo_scale_code', state='absent'))
    assert index_names(plain) == ['sale_order_line_pkey'], res
    assert res['dropped'] == ['odoo_scale_code'] and res['resumed'] == ['odoo_scale_code']


def test_an_interrupted_partitioned_create_is_finished_in_place(parted, run):
    """ON ONLY parent made, one partition index built but not attached."""
    sql(parted, 'CREATE UNIQUE INDEX odoo_scale_log ON ONLY mail_log (id, created, model)')
    sql(parted, 'CREATE UNIQUE INDEX odoo_scale_log_mail_log_2025 ON mail_log_2025 (id, created, model)')
    oid = sql(parted, "SELECT 'odoo_scale_log_mail_log_2025'::regclass::oid")[0][0]
    res = run('pg_index', make_args(parted, **LOG))
    assert not res.failed, res
    assert res['rebuilt'] == ['odoo_scale_log'] and res['invalid_recovered'] == ['odoo_scale_log']
    assert not any(q.startswith('DROP') for q in res['queries']), res['queries']
    assert sql(parted, "SELECT 'odoo_scale_log_mail_log_2025'::regclass::oid")[0][0] == oid  # reused
    assert props(parted, 'odoo_scale_log')[0] is True and not invalid_indexes(parted)
    assert len(sql(parted, "SELECT * FROM pg_partition_tree('odoo_scale_log')")) == 5
    assert not run('pg_index', make_args(parted, **LOG))['changed']


def test_partition_indexes_left_under_temporary_names_are_renamed(parted, run):
    """Older runs renamed partition indexes one by one after the swap; a
    crash there left some under the _osnew names."""
    run('pg_index', make_args(parted, **LOG))
    sql(parted, 'ALTER INDEX odoo_scale_log_mail_log_2025 RENAME TO odoo_scale_log_osnew_mail_log_2025')
    res = run('pg_index', make_args(parted, **LOG))
    assert not res.failed and res['changed'], res
    assert props(parted, 'odoo_scale_log_mail_log_2025') and not props(parted, 'odoo_scale_log_osnew_mail_log_2025')
    assert res['resumed'] == ['odoo_scale_log']
    assert not run('pg_index', make_args(parted, **LOG))['changed']


# -- a crash after every step ------------------------------------------------

def _plain_rebuild(db, run):
    run('pg_index', make_args(db, **CODE))
    _decorate_plain(db)
    return dict(CODE, storage_parameters={'fillfactor': 70})


def _plain_create(db, run):
    return dict(CODE)


def _constraint_rebuild(db, run):
    sql(db, 'ALTER TABLE sale_order_line ADD CONSTRAINT odoo_scale_code UNIQUE (code)')
    _decorate_plain(db)
    sql(db, "COMMENT ON CONSTRAINT odoo_scale_code ON sale_order_line IS 'c'")
    return dict(CODE, storage_parameters={'fillfactor': 70}, allow_constraint_rebuild=True)


def _parted_create(db, run):
    return dict(LOG)


def _parted_rebuild(db, run):
    run('pg_index', make_args(db, **LOG))
    sql(db, 'ALTER TABLE mail_log_2025 REPLICA IDENTITY USING INDEX odoo_scale_log_mail_log_2025')
    sql(db, 'COMMENT ON INDEX odoo_scale_log IS %s', (COMMENT,))
    return dict(LOG, storage_parameters={'fillfactor': 80})


SCENARIOS = [
    ('plain_rebuild', PLAIN, _plain_rebuild),
    ('plain_create', PLAIN, _plain_create),
    ('constraint_rebuild', PLAIN, _constraint_rebuild),
    ('partitioned_create', PARTITIONED, _parted_create),
    ('partitioned_rebuild', PARTITIONED, _parted_rebuild),
]


def _final_state(db, spec):
    name = spec['name']
    root = props(db, name)
    tree = sql(db, "SELECT c.relname FROM pg_partition_tree(%s::regclass) t JOIN pg_class c ON c.oid = t.relid "
                   "ORDER BY 1", (name,)) or []
    return dict(valid=root[0], replident=root[1], clustered=root[2], comment=root[3], definition=root[4],
                names=index_names(db), tree=[r[0] for r in tree],
                replident_leaf=(props(db, name + '_mail_log_2025') or (None, None))[1])


@pytest.mark.parametrize('scenario, setup, prepare', SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_a_run_interrupted_after_any_step_is_finished_by_the_next(db, run, scenario, setup, prepare):
    server, dbname = db
    # the state a complete, uninterrupted run reaches
    sql(db, setup)
    spec = prepare(db, run)
    planned = run('pg_index', make_args(db, **spec), check_mode=True)
    queries = planned['queries']
    assert queries and not planned.failed, planned
    done = run('pg_index', make_args(db, **spec))
    assert not done.failed and done['queries'] == queries, done
    expected = _final_state(db, spec)
    assert expected['valid'] and not invalid_indexes(db)

    for k in range(len(queries)):
        name = 'k%d_%s' % (k, dbname)
        server.sql('CREATE DATABASE %s' % name)
        try:
            crashed = (server, name)
            sql(crashed, setup)
            prepare(crashed, run)
            run_prefix(crashed, queries, k)
            # the published table keeps a replica identity in every intermediate state
            if scenario in ('plain_rebuild', 'constraint_rebuild'):
                assert updates_work(crashed), k
            if scenario == 'partitioned_rebuild':
                assert updates_work(crashed, 'mail_log_2025', 'model'), k
            res = run('pg_index', make_args(crashed, **spec))
            assert not res.failed, (k, queries[:k], res)
            state = _final_state(crashed, spec)
            assert state == expected, (k, queries[:k], res['queries'], state)
            assert not invalid_indexes(crashed), k
            again = run('pg_index', make_args(crashed, **spec))
            assert not again['changed'], (k, again)
        finally:
            server.sql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)
