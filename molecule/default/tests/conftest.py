"""Fixtures for verifying the stack from outside its hosts: testinfra hosts
from molecule's inventory, container addresses from Docker, the local
secrets, and psycopg2 connections through PgBouncer from the controller."""

from __future__ import annotations

import json
import os
import subprocess

import psycopg2
import pytest
import testinfra
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

PROJECT = os.environ.get('MOLECULE_PROJECT_DIRECTORY',
                         os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..')))
INVENTORY = os.environ.get('MOLECULE_INVENTORY_FILE')


def _load_yaml(path):
    with open(path) as fh:
        return yaml.safe_load(fh) or {}


@pytest.fixture(scope='session')
def settings():
    """The local inventory's group_vars (sizes and secrets) molecule links."""
    gv = os.path.join(PROJECT, 'inventories', 'local', 'group_vars', 'all')
    merged = {}
    for name in sorted(os.listdir(gv)):
        if name.endswith('.yml'):
            merged.update(_load_yaml(os.path.join(gv, name)))
    return merged


@pytest.fixture(scope='session')
def runner():
    if not INVENTORY:
        pytest.fail('MOLECULE_INVENTORY_FILE is not set: run through `molecule verify`')
    return AnsibleRunner(INVENTORY)


def group_host(runner, group):
    names = runner.get_hosts(group)
    assert names, 'inventory group %s is empty' % group
    return names[0]


def address(container):
    out = subprocess.run(['docker', 'inspect', container], check=True, capture_output=True, text=True).stdout
    nets = json.loads(out)[0]['NetworkSettings']['Networks']
    return next(iter(nets.values()))['IPAddress']


class Node:
    """A host of the stack: its testinfra handle, name and address."""

    def __init__(self, name):
        self.name = name
        self.host = testinfra.get_host('ansible://%s?ansible_inventory=%s' % (name, INVENTORY))
        self.address = address(name)

    def psql(self, sql, db='postgres'):
        """Run SQL as the postgres superuser on this host; returns stdout."""
        cmd = self.host.run('runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1 -d %s -c %s'
                            % (db, _shell_quote(sql)))
        assert cmd.rc == 0, cmd.stderr
        return cmd.stdout.strip()


def _shell_quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


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
