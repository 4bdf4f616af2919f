"""Fixtures for verifying the stack from outside its hosts: testinfra hosts
from molecule's inventory, container addresses from Docker, the local
secrets, and psycopg2 connections through PgBouncer from the controller."""

from __future__ import annotations

import os
import sys

import psycopg2
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from stack_helpers import load_group_vars, node_of  # noqa: E402


@pytest.fixture(scope='session')
def settings():
    """The local inventory's group_vars (sizes and secrets) molecule links."""
    return load_group_vars('all')



@pytest.fixture(scope='session')
def primary():
    return node_of('pg_primary')


@pytest.fixture(scope='session')
def replica():
    return node_of('pg_replica')


@pytest.fixture(scope='session')
def bouncer():
    return node_of('pgbouncer')


@pytest.fixture(scope='session')
def connect(bouncer, settings):
    """connect(dbname=..., user=..., password=...) through PgBouncer."""
    def _connect(dbname=None, user=None, password=None, **kw):
        conn = psycopg2.connect(
            host=bouncer.address, port=6432,
            dbname=dbname or settings.get('postgresql_app_database', 'odoo'),
            user=user or settings.get('postgresql_app_user', 'odoo'),
            password=settings['postgresql_app_password'] if password is None else password,
            connect_timeout=10, **kw)
        return conn
    return _connect


def paused_databases(connect, settings):
    """PgBouncer's SHOW DATABASES: {database: paused flag}."""
    admin = connect(dbname='pgbouncer', user=settings.get('pgbouncer_admin_user', 'pgbouncer_admin'),
                    password=settings['pgbouncer_admin_password'])
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute('SHOW DATABASES')
        names = [col.name for col in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    admin.close()
    return {row['name']: row['paused'] for row in rows}
