"""Fixtures for verifying the stack from outside its hosts: testinfra hosts
from molecule's inventory, container addresses from Docker, the local
secrets, and psycopg2 connections through PgBouncer from the controller."""

from __future__ import annotations

import os
import sys

import psycopg2
import pytest
from testinfra.utils.ansible_runner import AnsibleRunner

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from stack_helpers import INVENTORY, Node, group_host, load_group_vars  # noqa: E402


@pytest.fixture(scope='session')
def settings():
    """The local inventory's group_vars (sizes and secrets) molecule links."""
    return load_group_vars('all')


@pytest.fixture(scope='session')
def runner():
    if not INVENTORY:
        pytest.fail('MOLECULE_INVENTORY_FILE is not set: run through `molecule verify`')
    return AnsibleRunner(INVENTORY)


@pytest.fixture(scope='session')
def primary(runner):
    return Node(group_host(runner, 'pg_primary'))


@pytest.fixture(scope='session')
def replica(runner):
    return Node(group_host(runner, 'pg_replica'))


@pytest.fixture(scope='session')
def bouncer(runner):
    return Node(group_host(runner, 'pgbouncer'))


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
