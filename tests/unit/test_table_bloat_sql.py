"""roles/exporters/files/table_bloat.sql (the health report's table bloat) on a
real PostgreSQL server: a table that lost 90 % of its rows to DELETE and a
plain VACUUM is reported mostly bloat; after VACUUM FULL it is not; a table
name an attacker chose comes back as data; small tables stay out."""

from __future__ import annotations

import os

from conftest import REPO

SQL = open(os.path.join(REPO, 'roles', 'exporters', 'files', 'table_bloat.sql')).read()


def bloat(server, name, min_size=1 << 20):
    rows = server.sql(SQL, {'min_size': min_size}, dbname=name)
    return {r[1]: dict(size=r[2], bloat_size=r[3], bloat_percent=r[4], unreliable=r[6]) for r in rows}


def test_deleted_rows_show_as_bloat_until_vacuum_full(db):
    server, name = db
    table = 'res_partner "x"; DROP TABLE y; --'
    quoted = '"%s"' % table.replace('"', '""')
    server.sql('CREATE TABLE %s (id serial PRIMARY KEY, name text, amount numeric, at timestamp DEFAULT now())' % quoted,
               dbname=name)
    server.sql("INSERT INTO %s (name, amount) SELECT 'partner ' || g, g FROM generate_series(1, 200000) g" % quoted,
               dbname=name)
    server.sql('CREATE TABLE small (id int)', dbname=name)
    server.sql('ANALYZE', dbname=name)
    fresh = bloat(server, name)
    assert set(fresh) == {table}                     # small is under min_size
    assert fresh[table]['bloat_percent'] < 30 and not fresh[table]['unreliable']
    server.sql('DELETE FROM %s WHERE mod(id, 10) <> 0' % quoted, dbname=name)
    server.sql('VACUUM ANALYZE %s' % quoted, dbname=name)
    after = bloat(server, name)[table]
    assert after['bloat_percent'] > 80, after
    assert after['bloat_size'] > 0.8 * after['size'], after
    server.sql('VACUUM FULL %s' % quoted, dbname=name)
    server.sql('ANALYZE %s' % quoted, dbname=name)
    packed = bloat(server, name, min_size=0)[table]
    assert packed['bloat_percent'] < 30 and packed['size'] < after['size'] / 5, packed


def test_a_table_without_statistics_is_marked_unreliable(db):
    server, name = db
    server.sql('CREATE TABLE t (id int, label text)', dbname=name)
    server.sql("INSERT INTO t SELECT g, repeat('x', 50) FROM generate_series(1, 50000) g", dbname=name)
    server.sql('VACUUM t', dbname=name)   # pages counted, no statistics
    assert bloat(server, name)['t']['unreliable'] is True
