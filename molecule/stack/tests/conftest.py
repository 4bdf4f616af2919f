"""Fixtures for the stack scenario: every tier converged once (data tier,
Redis and the object store, Odoo web and cron nodes, HAProxy) and checked by
every test file of this folder, in the order ORDER gives (read-only checks
first, then the checks that restart, switch over or fail over).

Container addresses come from Docker, settings and secrets from the local
inventory's group_vars; clients talk to the stack from the controller:
psycopg2 through PgBouncer, a minimal Redis (RESP) client, boto3 for the
object store, and a JSON-RPC client for Odoo through HAProxy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psycopg2
import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from stack_helpers import PGBENCH, Node, load_group_vars, node_of  # noqa: E402

PREFIX = os.environ.get('ODOO_SCALE_MOL_PREFIX', 'mol-s')
WEB = ['%s-web1' % PREFIX, '%s-web2' % PREFIX]
CRON = '%s-cron1' % PREFIX
LB = '%s-lb1' % PREFIX
SVC = '%s-svc1' % PREFIX

# Read-only checks first; a check that restarts, rolls out, switches over or
# fails over runs after every check that needs the stack as converged.
ORDER = ['test_data_tier', 'test_redis', 'test_objectstore', 'test_odoo', 'test_attachments_gc', 'test_browser',
         'test_db_maintenance', 'test_monitoring', 'test_health_report',
         'test_rollout', 'test_backup', 'test_pg_restart', 'test_replica_reclone', 'test_switchover']


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.module.__name__.rsplit('.', 1)[-1]
        return ORDER.index(name) if name in ORDER else len(ORDER)
    items.sort(key=rank)   # stable: file order kept within a module


def pytest_terminal_summary(terminalreporter):
    """Say plainly what was skipped and why: a skip is not a pass."""
    for report in terminalreporter.stats.get('skipped', []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if reason.startswith('Skipped: '):
            reason = reason[len('Skipped: '):]
        terminalreporter.write_line('SKIPPED: %s' % reason)


@pytest.fixture(scope='session')
def settings():
    """all + objectstore + redis group_vars of the local inventory (molecule links them)."""
    return load_group_vars('all', 'objectstore', 'redis')


# -- Data tier ----------------------------------------------------------------

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


def pgbouncer_databases(connect, settings):
    """PgBouncer's SHOW DATABASES, a dict per database."""
    admin = connect(dbname='pgbouncer', user=settings.get('pgbouncer_admin_user', 'pgbouncer_admin'),
                    password=settings['pgbouncer_admin_password'])
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute('SHOW DATABASES')
        names = [col.name for col in cur.description]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    admin.close()
    return rows


PGBENCH_TABLES = ('pgbench_accounts', 'pgbench_branches', 'pgbench_history', 'pgbench_tellers')


@pytest.fixture()
def pgbench_env(bouncer, primary, settings):
    """pgbench's conninfo and environment through PgBouncer; its tables are
    created for the test and dropped after unless they were there before."""
    if not os.path.exists(PGBENCH):
        pytest.skip('%s is not installed on the controller' % PGBENCH)
    db = settings.get('postgresql_app_database', 'odoo')
    conninfo = 'host=%s port=6432 dbname=%s user=%s connect_timeout=10' % (
        bouncer.address, db, settings.get('postgresql_app_user', 'odoo'))
    env = dict(os.environ, PGPASSWORD=settings['postgresql_app_password'])
    existed = primary.psql("SELECT to_regclass('public.pgbench_accounts') IS NOT NULL", db=db) == 't'
    if not existed:
        subprocess.run([PGBENCH, '-i', '-q', '-s', '1', '-I', 'dtgvp', conninfo],
                       env=env, check=True, capture_output=True, text=True, timeout=120)
    yield conninfo, env
    if not existed:
        primary.psql('DROP TABLE IF EXISTS %s' % ', '.join(PGBENCH_TABLES), db=db)


def paused_databases(connect, settings):
    """PgBouncer's SHOW DATABASES: {database: paused flag}."""
    return {row['name']: row['paused'] for row in pgbouncer_databases(connect, settings)}


# -- Redis and the object store ---------------------------------------------

@pytest.fixture(scope='session')
def redis_node():
    return node_of('redis')


@pytest.fixture(scope='session')
def s3_node():
    return node_of('objectstore')


def wait_port(host, port, timeout=300):
    # A hang guard, not a timing.
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection((host, port), 2).close()
            return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


class RedisError(Exception):
    pass


class Resp:
    """Just enough of the Redis protocol to test auth, ACLs and config."""

    def __init__(self, host, port=6379, timeout=10):
        self.sock = socket.create_connection((host, port), timeout)
        self.buf = b''

    def close(self):
        self.sock.close()

    def _line(self):
        while b'\r\n' not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('redis closed the connection')
            self.buf += chunk
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _exact(self, size):
        while len(self.buf) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('redis closed the connection')
            self.buf += chunk
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b'+':
            return rest.decode()
        if kind == b'-':
            raise RedisError(rest.decode())
        if kind == b':':
            return int(rest)
        if kind == b'$':
            size = int(rest)
            return None if size < 0 else self._exact(size).decode()
        if kind == b'*':
            size = int(rest)
            return None if size < 0 else [self._reply() for _ in range(size)]
        raise RedisError('unexpected reply %r' % line)

    def __call__(self, *args):
        parts = [b'*%d\r\n' % len(args)]
        for arg in args:
            data = str(arg).encode()
            parts.append(b'$%d\r\n%s\r\n' % (len(data), data))
        self.sock.sendall(b''.join(parts))
        return self._reply()


@pytest.fixture
def resp(redis_node):
    """resp(user=None, password=None): a connection, authenticated when a password is given."""
    conns = []

    def _open(user=None, password=None):
        conn = Resp(redis_node.address)
        conns.append(conn)
        if password is not None:
            if user:
                conn('AUTH', user, password)
            else:
                conn('AUTH', password)
        return conn
    yield _open
    for conn in conns:
        conn.close()


@pytest.fixture(scope='session')
def s3(s3_node, settings):
    """s3(access_key, secret_key, verify=None): a boto3 S3 client for the
    object store; with verify (a CA file, or True for the public CAs) over
    its HTTPS endpoint."""
    boto3 = pytest.importorskip('boto3')
    from botocore.config import Config
    port = settings.get('objectstore_seaweedfs_s3_port', 8333)
    https_port = settings.get('objectstore_seaweedfs_s3_https_port', 8443)

    def _client(access_key, secret_key, verify=None):
        url = ('http://%s:%s' % (s3_node.address, port) if verify is None
               else 'https://%s:%s' % (s3_node.address, https_port))
        return boto3.client(
            's3', endpoint_url=url, verify=verify,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name=settings.get('objectstore_region', 'us-east-1'),
            config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1},
                          connect_timeout=10, read_timeout=30))
    return _client


# -- Odoo through HAProxy -----------------------------------------------------

class Odoo:
    """A tiny JSON-RPC client for one base URL."""

    def __init__(self, base, session_id=None):
        self.base = base.rstrip('/')
        self.http = requests.Session()
        if session_id:
            # A host-less cookie: sent to whichever node this client calls.
            self.http.cookies.set('session_id', session_id)

    @property
    def session_id(self):
        return self.http.cookies.get('session_id')

    def call(self, path, params, timeout=60):
        resp = self.http.post(self.base + path, json={'jsonrpc': '2.0', 'method': 'call', 'params': params, 'id': 1},
                              timeout=timeout)
        resp.raise_for_status()
        body = resp.json()
        assert 'error' not in body, body['error']
        return body['result']

    def kw(self, model, method, *args, **kwargs):
        return self.call('/web/dataset/call_kw/%s/%s' % (model, method),
                         {'model': model, 'method': method, 'args': list(args), 'kwargs': kwargs})

    def uid(self):
        return self.call('/web/session/get_session_info', {}).get('uid')


@pytest.fixture(scope='session')
def node_settings():
    """The group_vars a node of each Odoo group sees."""
    return {'web': load_group_vars('all', 'odoo_web'), 'cron': load_group_vars('all', 'odoo_cron')}


@pytest.fixture(scope='session')
def nodes():
    return {name: Node(name) for name in WEB + [CRON, LB, SVC]}


@pytest.fixture(scope='session')
def lb_url(nodes):
    return 'http://%s' % nodes[LB].address


@pytest.fixture(scope='session')
def web_urls(nodes, settings):
    return {name: 'http://%s:%d' % (nodes[name].address, settings.get('odoo_http_port', 8069)) for name in WEB}


@pytest.fixture(scope='session')
def admin(lb_url, settings):
    """An admin session made through HAProxy."""
    client = Odoo(lb_url)
    result = client.call('/web/session/authenticate',
                         {'db': settings.get('odoo_database', 'odoo'), 'login': 'admin',
                          'password': settings['odoo_admin_user_password']})
    assert result['uid'] == 2, result
    return client
