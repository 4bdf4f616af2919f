"""Fixtures for verifying the application services from outside their hosts:
testinfra hosts from molecule's inventory, container addresses from Docker,
the local settings and secrets, a minimal Redis (RESP) client and boto3 S3
clients talking to the containers from the controller."""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from stack_helpers import load_group_vars, node_of  # noqa: E402


@pytest.fixture(scope='session')
def settings():
    """all + redis + objectstore group_vars of the local inventory (molecule links them)."""
    return load_group_vars('all', 'redis', 'objectstore')



@pytest.fixture(scope='session')
def redis_node():
    return node_of('redis')


@pytest.fixture(scope='session')
def s3_node():
    return node_of('objectstore')


def wait_port(host, port, timeout=60):
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
    """s3(access_key, secret_key): a boto3 S3 client for the object store."""
    boto3 = pytest.importorskip('boto3')
    from botocore.config import Config
    port = settings.get('objectstore_seaweedfs_s3_port', 8333)

    def _client(access_key, secret_key):
        return boto3.client(
            's3', endpoint_url='http://%s:%s' % (s3_node.address, port),
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            region_name=settings.get('objectstore_region', 'us-east-1'),
            config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1},
                          connect_timeout=10, read_timeout=30))
    return _client


def pytest_terminal_summary(terminalreporter):
    """Say plainly what was skipped and why: a skip is not a pass."""
    for report in terminalreporter.stats.get('skipped', []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if reason.startswith('Skipped: '):
            reason = reason[len('Skipped: '):]
        terminalreporter.write_line('SKIPPED: %s' % reason)
