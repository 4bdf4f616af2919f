"""pg_index against a real PostgreSQL server: every test reads the catalog
afterwards instead of trusting the module's own report."""

from __future__ import annotations

import threading
import time

import pytest

from dbutil import make_args, sql  # noqa: E402

ORDERS = """
CREATE TABLE sale_order_line (
    id serial PRIMARY KEY, order_id int NOT NULL, product_id int,
    create_date timestamp DEFAULT now(), email varchar, state varchar, qty numeric);
INSERT INTO sale_order_line (order_id, product_id, email, state, qty)
SELECT g % 100, g % 37, 'User' || g || '@Example.com', CASE WHEN g % 3 = 0 THEN 'done' ELSE 'draft' END, g
  FROM generate_series(1, 2000) g;
"""


def index_state(db, name, schema='public'):
    """(valid, definition) of an index, or None."""
    rows = sql(db, """SELECT i.indisvalid, pg_get_indexdef(c.oid) FROM pg_class c
                        JOIN pg_namespace n ON n.oid = c.relnamespace
                        JOIN pg_index i ON i.indexrelid = c.oid
                       WHERE n.nspname = %s AND c.relname = %s""", (schema, name))
    return rows[0] if rows else None


def invalid_indexes(db):
    return sql(db, 'SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid')


def all_indexes(db):
    return sorted(r[0] for r in sql(db, "SELECT indexname FROM pg_indexes WHERE schemaname NOT IN "
                                        "('pg_catalog', 'information_schema')"))


@pytest.fixture
def orders(db):
    sql(db, ORDERS)
    return db


def test_create_then_idempotent(orders, run):
    spec = dict(name='odoo_scale_sol_order', table='sale_order_line', columns=['order_id'])
    res = run('pg_index', make_args(orders, **spec))
    assert not res.failed, res
    assert res['changed'] and res['created'] == ['odoo_scale_sol_order']
    assert res['queries'] == ['CREATE INDEX CONCURRENTLY "odoo_scale_sol_order" ON "public"."sale_order_line" '
                              'USING btree ("order_id")']
    assert res['sizes']['odoo_scale_sol_order'] > 0
    assert 'odoo_scale_sol_order' in res['timings']
    valid, definition = index_state(orders, 'odoo_scale_sol_order')
    assert valid and definition.endswith('USING btree (order_id)')

    again = run('pg_index', make_args(orders, **spec))
    assert not again['changed'] and again['unchanged'] == ['odoo_scale_sol_order']
    assert again['queries'] == []


def test_expression_opclass_order_are_canonicalised(orders, run):
    # lower(email) is stored as lower((email)::text): the comparison must not
    # take that for drift.
    spec = dict(name='odoo_scale_sol_email', table='sale_order_line',
                columns=[{'expr': 'lower(email)', 'opclass': 'text_pattern_ops'},
                         {'column': 'create_date', 'order': 'desc', 'nulls': 'last'}],
                storage_parameters={'fillfactor': 80})
    assert run('pg_index', make_args(orders, **spec))['created'] == ['odoo_scale_sol_email']
    definition = index_state(orders, 'odoo_scale_sol_email')[1]
    assert 'lower((email)::text) text_pattern_ops, create_date DESC NULLS LAST' in definition
    assert "fillfactor='80'" in definition
    again = run('pg_index', make_args(orders, **spec))
    assert not again['changed'], again


@pytest.mark.parametrize('change, attribute', [
    (dict(columns=['order_id', 'product_id']), 'columns'),
    (dict(where="state = 'done'"), 'where'),
    (dict(include=['qty']), 'include'),
    (dict(unique=True, columns=['id']), 'unique'),
    (dict(method='hash'), 'method'),
    (dict(storage_parameters={'fillfactor': 70}), 'storage_parameters'),
])
def test_drift_is_rebuilt_under_the_same_name(orders, run, change, attribute):
    base = dict(name='odoo_scale_sol_drift', table='sale_order_line', columns=['order_id'])
    run('pg_index', make_args(orders, **base))
    oid_before = sql(orders, "SELECT 'odoo_scale_sol_drift'::regclass::oid")[0][0]
    res = run('pg_index', make_args(orders, **dict(base, **change)))
    assert not res.failed, res
    assert res['changed'] and res['rebuilt'] == ['odoo_scale_sol_drift']
    assert attribute in res['differences']['odoo_scale_sol_drift']
    # built beside, old dropped concurrently, new renamed into place
    assert res['queries'][0].startswith('CREATE %sINDEX CONCURRENTLY "odoo_scale_sol_drift_osnew"'
                                        % ('UNIQUE ' if change.get('unique') else ''))
    assert res['queries'][1:] == ['DROP INDEX CONCURRENTLY "public"."odoo_scale_sol_drift"',
                                  'ALTER INDEX "public"."odoo_scale_sol_drift_osnew" RENAME TO "odoo_scale_sol_drift"']
    valid, definition = index_state(orders, 'odoo_scale_sol_drift')
    assert valid
    assert sql(orders, "SELECT 'odoo_scale_sol_drift'::regclass::oid")[0][0] != oid_before
    assert all_indexes(orders) == ['odoo_scale_sol_drift', 'sale_order_line_pkey']
    assert not run('pg_index', make_args(orders, **dict(base, **change)))['changed']


def _failed_unique_build(db, name):
    """Leave an INVALID index behind, as a failed CREATE UNIQUE INDEX
    CONCURRENTLY on duplicated data does."""
    server, dbname = db
    conn = server.connect(dbname)
    try:
        with conn.cursor() as cur:
            with pytest.raises(Exception, match='could not create unique index'):
                cur.execute('CREATE UNIQUE INDEX CONCURRENTLY %s ON sale_order_line (order_id)' % name)
    finally:
        conn.close()


def test_invalid_index_is_recovered(orders, run):
    _failed_unique_build(orders, 'odoo_scale_sol_unique')
    assert index_state(orders, 'odoo_scale_sol_unique')[0] is False
    sql(orders, 'DELETE FROM sale_order_line WHERE id > 100')  # order_id = id % 100: now unique
    res = run('pg_index', make_args(orders, name='odoo_scale_sol_unique', table='sale_order_line',
                                    columns=['order_id'], unique=True))
    assert not res.failed, res
    assert res['rebuilt'] == ['odoo_scale_sol_unique']
    assert res['invalid_recovered'] == ['odoo_scale_sol_unique']
    assert res['differences']['odoo_scale_sol_unique'] == ['valid']
    assert index_state(orders, 'odoo_scale_sol_unique')[0] is True
    assert invalid_indexes(orders) is None or invalid_indexes(orders) == []


def test_failed_build_leaves_no_invalid_index(orders, run):
    res = run('pg_index', make_args(orders, name='odoo_scale_sol_unique', table='sale_order_line',
                                    columns=['order_id'], unique=True))
    assert res.failed
    assert '\n' not in res['msg']
    assert 'odoo_scale_sol_unique' in res['msg'] and 'could not create unique index' in res['msg']
    assert 'dropped public.odoo_scale_sol_unique' in res['msg']
    assert index_state(orders, 'odoo_scale_sol_unique') is None
    assert not invalid_indexes(orders)


def test_failed_rebuild_keeps_the_old_index(orders, run):
    base = dict(name='odoo_scale_sol_order', table='sale_order_line', columns=['order_id'])
    run('pg_index', make_args(orders, **base))
    res = run('pg_index', make_args(orders, **dict(base, unique=True)))
    assert res.failed and 'odoo_scale_sol_order_osnew' in res['msg']
    assert index_state(orders, 'odoo_scale_sol_order')[0] is True
    assert index_state(orders, 'odoo_scale_sol_order_osnew') is None
    assert not invalid_indexes(orders)


PARTITIONED = """
CREATE TABLE mail_log (id bigint, model varchar, res_id int, created date NOT NULL)
    PARTITION BY RANGE (created);
CREATE TABLE mail_log_2025 PARTITION OF mail_log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE mail_log_2026 PARTITION OF mail_log FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
    PARTITION BY LIST (model);
CREATE TABLE mail_log_2026_sale PARTITION OF mail_log_2026 FOR VALUES IN ('sale.order');
CREATE TABLE mail_log_2026_rest PARTITION OF mail_log_2026 DEFAULT;
INSERT INTO mail_log SELECT g, CASE WHEN g % 2 = 0 THEN 'sale.order' ELSE 'res.partner' END, g,
    DATE '2025-06-01' + (g % 400) FROM generate_series(1, 5000) g;
"""


def _partition_indexes(db, parent_index):
    return sql(db, """SELECT c.relname, i.indisvalid FROM pg_partition_tree(%s::regclass) t
                        JOIN pg_class c ON c.oid = t.relid JOIN pg_index i ON i.indexrelid = c.oid
                       ORDER BY c.relname""", (parent_index,))


def test_partitioned_table(db, run):
    sql(db, PARTITIONED)
    spec = dict(name='odoo_scale_mail_log_model', table='mail_log', columns=['model', 'res_id'])
    res = run('pg_index', make_args(db, **spec))
    assert not res.failed, res
    assert res['queries'][0].startswith('CREATE INDEX "odoo_scale_mail_log_model" ON ONLY "public"."mail_log"')
    assert any(q.startswith('CREATE INDEX CONCURRENTLY "odoo_scale_mail_log_model_mail_log_2026_sale"')
               for q in res['queries'])
    tree = _partition_indexes(db, 'odoo_scale_mail_log_model')
    # parent, one leaf, the sub-partitioned parent and its two leaves: all valid
    assert len(tree) == 5 and all(valid for _name, valid in tree), tree
    assert res['sizes']['odoo_scale_mail_log_model'] > 0
    assert not run('pg_index', make_args(db, **spec))['changed']

    # drift on a partitioned index: rebuilt tree, partition indexes renamed back
    res = run('pg_index', make_args(db, **dict(spec, where='res_id > 10')))
    assert not res.failed, res
    assert res['rebuilt'] == ['odoo_scale_mail_log_model']
    tree = _partition_indexes(db, 'odoo_scale_mail_log_model')
    assert len(tree) == 5 and all(valid for _name, valid in tree), tree
    assert sorted(n for n, _v in tree) == sorted([
        'odoo_scale_mail_log_model', 'odoo_scale_mail_log_model_mail_log_2025',
        'odoo_scale_mail_log_model_mail_log_2026', 'odoo_scale_mail_log_model_mail_log_2026_rest',
        'odoo_scale_mail_log_model_mail_log_2026_sale'])
    assert not invalid_indexes(db)


def test_long_partition_index_names_are_hashed(db, run):
    sql(db, PARTITIONED)
    name = 'odoo_scale_' + 'x' * 45
    res = run('pg_index', make_args(db, name=name, table='mail_log', columns=['res_id']))
    assert not res.failed, res
    names = [n for n, _v in _partition_indexes(db, name)]
    assert len(names) == 5 and len(set(names)) == 5
    assert all(len(n.encode()) <= 63 for n in names)


def test_check_mode_changes_nothing_and_shows_exact_sql(orders, run):
    specs = [dict(name='odoo_scale_a', table='sale_order_line', columns=['order_id']),
             dict(name='odoo_scale_b', table='sale_order_line', columns=['product_id'],
                  where="state = 'done'")]
    planned = run('pg_index', make_args(orders, indexes=specs), check_mode=True)
    assert planned['changed'] and planned['created'] == ['odoo_scale_a', 'odoo_scale_b']
    assert all_indexes(orders) == ['sale_order_line_pkey']
    applied = run('pg_index', make_args(orders, indexes=specs))
    assert applied['queries'] == planned['queries']
    assert planned['queries'][1] == ('CREATE INDEX CONCURRENTLY "odoo_scale_b" ON "public"."sale_order_line" '
                                     "USING btree (\"product_id\") WHERE (state = 'done')")


def test_diff_shows_before_and_after(orders, run):
    base = dict(name='odoo_scale_sol_order', table='sale_order_line', columns=['order_id'])
    created = run('pg_index', make_args(orders, **base), diff=True)
    assert created['diff']['before'] == ''
    assert created['diff']['after'] == index_state(orders, 'odoo_scale_sol_order')[1] + '\n'
    res = run('pg_index', make_args(orders, **dict(base, include=['qty'])), check_mode=True, diff=True)
    assert res['diff']['before'] == ('CREATE INDEX odoo_scale_sol_order ON public.sale_order_line '
                                     'USING btree (order_id)\n')
    assert res['diff']['after'] == ('CREATE INDEX odoo_scale_sol_order ON public.sale_order_line '
                                    'USING btree (order_id) INCLUDE (qty)\n')
    unchanged = run('pg_index', make_args(orders, **base), diff=True)
    assert unchanged['diff']['before'] == unchanged['diff']['after']


def test_missing_table_is_skipped_unless_required(orders, run):
    specs = [dict(name='odoo_scale_mm', table='mail_message', columns=['model', 'res_id']),
             dict(name='odoo_scale_a', table='sale_order_line', columns=['order_id'])]
    res = run('pg_index', make_args(orders, indexes=specs))
    assert res['skipped_indexes'] == ['odoo_scale_mm'] and res['created'] == ['odoo_scale_a']
    assert 'mail_message does not exist' in res['skip_reasons']['odoo_scale_mm']

    specs[0]['required'] = True
    specs[1]['name'] = 'odoo_scale_b'
    res = run('pg_index', make_args(orders, indexes=specs))
    assert res.failed and 'mail_message does not exist' in res['msg']
    assert index_state(orders, 'odoo_scale_b') is None


def test_requires_extension(orders, run):
    spec = dict(name='odoo_scale_trgm', table='sale_order_line', method='gin',
                columns=[{'column': 'email', 'opclass': 'gin_trgm_ops'}], requires_extension='pg_trgm')
    res = run('pg_index', make_args(orders, **spec))
    assert res['skipped_indexes'] == ['odoo_scale_trgm']
    assert res['skip_reasons']['odoo_scale_trgm'] == 'extension pg_trgm is not installed'
    sql(orders, 'CREATE EXTENSION pg_trgm')
    res = run('pg_index', make_args(orders, **spec))
    assert res['created'] == ['odoo_scale_trgm'], res
    assert 'USING gin (email gin_trgm_ops)' in index_state(orders, 'odoo_scale_trgm')[1]


def test_constraint_index_is_left_alone(orders, run):
    sql(orders, 'ALTER TABLE sale_order_line ADD CONSTRAINT sol_uniq UNIQUE (order_id, product_id, id)')
    spec = dict(name='sale_order_line_pkey', table='sale_order_line', columns=['id'], unique=True,
                storage_parameters={'fillfactor': 70})
    res = run('pg_index', make_args(orders, **spec))
    assert not res.failed and not res['changed']
    assert res['constraint_drift'] == [dict(name='sale_order_line_pkey', constraint='sale_order_line_pkey',
                                            differences=['storage_parameters'])]
    assert 'fillfactor' not in index_state(orders, 'sale_order_line_pkey')[1]

    absent = run('pg_index', make_args(orders, name='sol_uniq', state='absent'))
    assert not absent['changed'] and index_state(orders, 'sol_uniq')

    # opted in: a unique constraint nothing references is swapped in place
    uniq = dict(name='sol_uniq', table='sale_order_line', columns=['order_id', 'product_id', 'id'],
                unique=True, storage_parameters={'fillfactor': 70}, allow_constraint_rebuild=True)
    res = run('pg_index', make_args(orders, **uniq))
    assert not res.failed, res
    assert res['rebuilt'] == ['sol_uniq']
    assert "fillfactor='70'" in index_state(orders, 'sol_uniq')[1]
    assert sql(orders, "SELECT contype FROM pg_constraint WHERE conname = 'sol_uniq'") == [('u',)]


def test_referenced_constraint_rebuild_is_refused(orders, run):
    sql(orders, 'CREATE TABLE ref (sol_id int REFERENCES sale_order_line (id))')
    res = run('pg_index', make_args(orders, name='sale_order_line_pkey', table='sale_order_line',
                                    columns=['id'], unique=True, storage_parameters={'fillfactor': 70},
                                    allow_constraint_rebuild=True))
    assert res.failed and 'referenced by a foreign key' in res['msg'] and '\n' not in res['msg']


def test_absent_drops_concurrently(orders, run):
    run('pg_index', make_args(orders, name='odoo_scale_a', table='sale_order_line', columns=['order_id']))
    res = run('pg_index', make_args(orders, name='odoo_scale_a', state='absent'))
    assert res['dropped'] == ['odoo_scale_a']
    assert res['queries'] == ['DROP INDEX CONCURRENTLY "public"."odoo_scale_a"']
    assert index_state(orders, 'odoo_scale_a') is None
    assert not run('pg_index', make_args(orders, name='odoo_scale_a', state='absent'))['changed']


def test_standby_refuses(pg, db, run):
    sql(db, ORDERS)
    standby = pg.make_standby()
    try:
        _server, dbname = db
        deadline = time.time() + 30
        while time.time() < deadline:
            if standby.sql("SELECT to_regclass('sale_order_line')", dbname=dbname)[0][0]:
                break
            time.sleep(0.2)
        args = dict(standby.params, login_db=dbname, name='odoo_scale_a', table='sale_order_line',
                    columns=['order_id'])
        res = run('pg_index', args)
        assert not res.failed and not res['changed']
        assert res['standby'] is True and 'standby' in res['msg']
        assert res['queries'] == [] and res['created'] == []
        assert index_state(db, 'odoo_scale_a') is None
    finally:
        standby.destroy()


def test_hostile_identifiers(db, run):
    table = 'we"ird; DROP TABLE x;--'
    sql(db, 'CREATE TABLE x (id int)')
    sql(db, 'CREATE TABLE "we""ird; DROP TABLE x;--" ("Mixed Case" int, "semi;colon" text)')
    spec = dict(name='Odd "Index"; --', table=table,
                columns=[{'column': 'Mixed Case'}, {'column': 'semi;colon'}])
    res = run('pg_index', make_args(db, **spec))
    assert not res.failed, res
    assert res['created'] == ['Odd "Index"; --']
    assert index_state(db, 'Odd "Index"; --')[0] is True
    assert sql(db, "SELECT to_regclass('x')")[0][0] == 'x'
    assert not run('pg_index', make_args(db, **spec))['changed']


def test_too_long_name_is_refused(orders, run):
    res = run('pg_index', make_args(orders, name='i' * 70, table='sale_order_line', columns=['order_id']))
    assert res.failed and 'longer than 63 bytes' in res['msg'] and '\n' not in res['msg']


def test_hostile_expression_is_refused(orders, run):
    res = run('pg_index', make_args(orders, name='odoo_scale_a', table='sale_order_line',
                                    columns=['lower(email)); DROP TABLE sale_order_line; --']))
    assert res.failed and '\n' not in res['msg']
    assert sql(orders, "SELECT to_regclass('sale_order_line')")[0][0] == 'sale_order_line'


def test_invalid_spec_anywhere_changes_nothing(orders, run):
    specs = [dict(name='odoo_scale_a', table='sale_order_line', columns=['order_id']),
             dict(name='odoo_scale_b', table='sale_order_line', columns=['lower(email)']),
             dict(name='odoo_scale_c', table='sale_order_line', columns=['product_id'],
                  where='no_such_column > 0')]
    res = run('pg_index', make_args(orders, indexes=specs))
    assert res.failed and '\n' not in res['msg']
    assert 'index #3 odoo_scale_c' in res['msg'] and 'no_such_column' in res['msg']
    assert all_indexes(orders) == ['sale_order_line_pkey']


def test_unknown_method_is_refused(orders, run):
    res = run('pg_index', make_args(orders, name='odoo_scale_a', table='sale_order_line',
                                    columns=['order_id'], method='bloom'))
    assert res.failed and "unknown index method 'bloom'" in res['msg'] and 'btree' in res['msg']
    assert all_indexes(orders) == ['sale_order_line_pkey']


def _hold_lock(db, seconds, ready, release=None):
    """ACCESS EXCLUSIVE on sale_order_line until `release` is set (or for
    `seconds` when no event is given)."""
    server, dbname = db
    conn = server.connect(dbname, autocommit=False)
    with conn.cursor() as cur:
        cur.execute('LOCK TABLE sale_order_line IN ACCESS EXCLUSIVE MODE')
        ready.set()
        if release is not None:
            release.wait(120)
        else:
            time.sleep(seconds)
    conn.rollback()
    conn.close()


def _lock_holders(db):
    return sql(db, """SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                       WHERE c.relname = 'sale_order_line' AND l.mode = 'AccessExclusiveLock' AND l.granted""")


def test_lock_timeout_fails_cleanly(orders, run):
    ready, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(orders, None, ready, release))
    holder.start()
    assert ready.wait(60)
    try:
        res = run('pg_index', make_args(orders, name='odoo_scale_a', table='sale_order_line',
                                        columns=['order_id'], lock_timeout='100ms', lock_retries=2))
        # the module gave up while the lock was still held: it did not wait it out
        assert len(_lock_holders(orders)) == 1
    finally:
        release.set()
        holder.join()
    assert res.failed and '\n' not in res['msg']
    assert 'lock_timeout 100ms reached 3 times' in res['msg'] and 'lock timeout' in res['msg']
    assert all_indexes(orders) == ['sale_order_line_pkey']


def test_lock_timeout_retry_succeeds_after_release(orders, run):
    ready = threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(orders, 1.2, ready))
    holder.start()
    ready.wait(5)
    try:
        res = run('pg_index', make_args(orders, name='odoo_scale_a', table='sale_order_line',
                                        columns=['order_id'], lock_timeout='100ms', lock_retries=5))
    finally:
        holder.join()
    assert not res.failed, res
    assert res['created'] == ['odoo_scale_a'] and index_state(orders, 'odoo_scale_a')[0] is True


ODOO_TABLES = """
CREATE TABLE sale_order_line (id serial PRIMARY KEY, order_id int, product_id int, create_date timestamp);
CREATE TABLE account_move_line (id serial PRIMARY KEY, account_id int, date date, parent_state varchar);
CREATE TABLE stock_quant (id serial PRIMARY KEY, product_id int, location_id int, quantity numeric);
CREATE TABLE res_partner (id serial PRIMARY KEY, name varchar, email varchar);
"""


def test_inventory_catalog_applies(db, run):
    """The shipped catalog on an Odoo database without stock_move and
    mail_message (modules not installed) and without pg_trgm."""
    import os
    import yaml
    path = os.path.join(os.path.dirname(__file__), '..', '..', 'inventories', 'local', 'group_vars',
                        'pg_primary', 'index_catalog.yml')
    with open(path) as fh:
        specs = yaml.safe_load(fh)['db_maintenance_index_catalog']
    assert all(s['name'].startswith('odoo_scale_') for s in specs)
    sql(db, ODOO_TABLES)
    res = run('pg_index', make_args(db, indexes=specs))
    assert not res.failed, res
    assert sorted(res['skipped_indexes']) == [
        'odoo_scale_mail_message_model_res_id', 'odoo_scale_move_state_product_date', 'odoo_scale_partner_name_trgm']
    assert len(res['created']) == len(specs) - 3
    assert not run('pg_index', make_args(db, indexes=specs))['changed']


def test_an_index_odoo_already_has_is_not_duplicated(orders, run):
    sql(orders, 'CREATE INDEX sale_order_line_order_id_index ON sale_order_line (order_id)')
    res = run('pg_index', make_args(orders, name='odoo_scale_sol_order', table='sale_order_line',
                                    columns=['order_id']))
    assert res['created'] == [] and not res['changed']
    assert res['skipped_indexes'] == ['odoo_scale_sol_order']
    assert 'sale_order_line_order_id_index' in res['skip_reasons']['odoo_scale_sol_order']


def test_equivalent_index_is_built_and_reported_when_asked(orders, run):
    sql(orders, 'CREATE INDEX sale_order_line_order_id_index ON sale_order_line (order_id)')
    res = run('pg_index', make_args(orders, name='odoo_scale_sol_order', table='sale_order_line',
                                    columns=['order_id'], skip_if_equivalent=False))
    assert res['created'] == ['odoo_scale_sol_order']
    assert res['equivalent_existing'] == {'odoo_scale_sol_order': ['sale_order_line_order_id_index']}


def test_tablespace_is_compared_when_given(pg, orders, run):
    import os
    import pwd
    location = os.path.join(pg.root, 'ts_index')
    os.mkdir(location)
    if os.geteuid() == 0:
        pw = pwd.getpwnam('postgres')
        os.chown(location, pw.pw_uid, pw.pw_gid)
    pg.sql("CREATE TABLESPACE ts_index LOCATION '%s'" % location)
    try:
        spec = dict(name='odoo_scale_a', table='sale_order_line', columns=['order_id'], tablespace='ts_index')
        res = run('pg_index', make_args(orders, **spec))
        assert res['created'] == ['odoo_scale_a'] and res['queries'][0].endswith('TABLESPACE "ts_index"')
        assert not run('pg_index', make_args(orders, **spec))['changed']
        assert not run('pg_index', make_args(orders, **{**spec, 'tablespace': None}))['changed']
        res = run('pg_index', make_args(orders, **{**spec, 'tablespace': 'pg_default'}))
        assert res['differences'] == {'odoo_scale_a': ['tablespace']} and res['rebuilt'] == ['odoo_scale_a']
        assert sql(orders, "SELECT reltablespace FROM pg_class WHERE relname = 'odoo_scale_a'") == [(0,)]
    finally:
        sql(orders, 'DROP INDEX IF EXISTS odoo_scale_a')
        pg.sql('DROP TABLESPACE ts_index')


def test_nulls_not_distinct(orders, run):
    spec = dict(name='odoo_scale_a', table='sale_order_line', columns=['id', 'product_id'], unique=True)
    run('pg_index', make_args(orders, **spec))
    res = run('pg_index', make_args(orders, **dict(spec, nulls_not_distinct=True)))
    assert res['differences'] == {'odoo_scale_a': ['nulls_not_distinct']}
    assert index_state(orders, 'odoo_scale_a')[1].endswith('(id, product_id) NULLS NOT DISTINCT')


def test_lock_timeout_while_building_leaves_no_invalid_index(orders, run):
    """CREATE INDEX CONCURRENTLY enters the catalog first, then waits for
    open writers: a lock timeout there leaves an INVALID index, which the
    retry drops (DROP INDEX CONCURRENTLY waits for the same writer, up to
    cleanup_lock_timeout) before building again."""
    server, dbname = orders
    writer = server.connect(dbname, autocommit=False)
    with writer.cursor() as cur:
        cur.execute('INSERT INTO sale_order_line (order_id) VALUES (1)')
    finisher = threading.Timer(1.5, writer.rollback)
    finisher.start()
    try:
        res = run('pg_index', make_args(orders, name='odoo_scale_a', table='sale_order_line',
                                        columns=['order_id'], lock_timeout='200ms', lock_retries=1))
    finally:
        finisher.join()
        writer.close()
    assert not res.failed, res
    assert res['queries'] == ['CREATE INDEX CONCURRENTLY "odoo_scale_a" ON "public"."sale_order_line" USING btree ("order_id")',
                              'DROP INDEX CONCURRENTLY IF EXISTS "public"."odoo_scale_a"']
    assert index_state(orders, 'odoo_scale_a')[0] is True


def test_lock_timeout_while_building_is_reported_when_the_writer_stays(orders, run):
    server, dbname = orders
    writer = server.connect(dbname, autocommit=False)
    try:
        with writer.cursor() as cur:
            cur.execute('INSERT INTO sale_order_line (order_id) VALUES (1)')
        res = run('pg_index', make_args(orders, name='odoo_scale_a', table='sale_order_line',
                                        columns=['order_id'], lock_timeout='200ms', lock_retries=1,
                                        cleanup_lock_timeout='200ms'))
    finally:
        writer.rollback()
        writer.close()
    assert res.failed and '\n' not in res['msg'] and 'lock_timeout 200ms reached' in res['msg']
    assert 'could not drop public.odoo_scale_a, the next run will' in res['msg']
    # the writer is gone: the next run rebuilds the INVALID leftover
    again = run('pg_index', make_args(orders, name='odoo_scale_a', table='sale_order_line', columns=['order_id']))
    assert again['invalid_recovered'] == ['odoo_scale_a']
    assert index_state(orders, 'odoo_scale_a')[0] is True and not invalid_indexes(orders)
