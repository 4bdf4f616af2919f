"""Helpers the plugin tests share: SQL on a test database (the `db` fixture's
(server, name) pair) and module arguments that reach it."""

from __future__ import annotations


def sql(db, query, args=None):
    server, dbname = db
    return server.sql(query, args, dbname=dbname)


def make_args(db, **kw):
    """pg_index / pg_partition arguments for the test database (lock_timeout 2s)."""
    server, dbname = db
    args = dict(server.params, login_db=dbname, lock_timeout='2s')
    args.update(kw)
    return args
