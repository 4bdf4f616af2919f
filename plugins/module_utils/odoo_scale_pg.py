# -*- coding: utf-8 -*-
# Shared PostgreSQL plumbing for odoo-scale's own modules (pg_index,
# pg_partition, pg_index_report) and the partition timer: connection
# arguments, one autocommit connection, identifier quoting, server facts.
# Copyright: odoo-scale contributors. GPL-3.0-or-later.

from __future__ import annotations

import re

try:
    import psycopg2
    import psycopg2.extras  # noqa: F401  (imported for callers)
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - depends on the host
    psycopg2 = None
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = exc

# PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes; we refuse instead
# of letting two long names silently collide.
MAX_IDENTIFIER_BYTES = 63


class IdentifierError(ValueError):
    """An identifier that PostgreSQL cannot hold as given."""


def pg_connection_argument_spec():
    """Connection options shared by every odoo-scale PostgreSQL module."""
    return dict(
        login_host=dict(type='str', default=''),
        login_port=dict(type='int', default=5432),
        login_user=dict(type='str', default='postgres'),
        login_password=dict(type='str', default='', no_log=True),
        login_unix_socket=dict(type='str', default=''),
        login_db=dict(type='str', default='postgres', aliases=['db']),
        connect_timeout=dict(type='int', default=10),
    )


def connection_kwargs(params):
    """psycopg2.connect() keyword arguments from module params (or a dict)."""
    kw = dict(
        dbname=params.get('login_db') or 'postgres',
        user=params.get('login_user') or 'postgres',
        port=params.get('login_port') or 5432,
        connect_timeout=params.get('connect_timeout') or 10,
        application_name='odoo-scale',
    )
    host = params.get('login_unix_socket') or params.get('login_host')
    if host:
        kw['host'] = host
    if params.get('login_password'):
        kw['password'] = params['login_password']
    return kw


def connect(params):
    """One autocommit connection: CONCURRENTLY must not run in a transaction
    block, and every statement we send is its own unit of work."""
    if not HAS_PSYCOPG2:
        raise RuntimeError('psycopg2 is required on the target host: %s' % PSYCOPG2_IMPORT_ERROR)
    conn = psycopg2.connect(**connection_kwargs(params))
    conn.autocommit = True
    return conn


def module_connect(module):
    """connect() for an AnsibleModule: a one-line failure naming the target."""
    if not HAS_PSYCOPG2:
        module.fail_json(msg='psycopg2 is required on the target host (python3-psycopg2)')
    try:
        return connect(module.params)
    except Exception as exc:  # psycopg2.Error and socket errors alike
        where = module.params.get('login_unix_socket') or module.params.get('login_host') or 'local socket'
        module.fail_json(msg='cannot connect to PostgreSQL database %r at %s port %s: %s' % (
            module.params.get('login_db'), where, module.params.get('login_port'),
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__))


def check_identifier(name, what='identifier'):
    """Validate an identifier; returns it unchanged or raises IdentifierError."""
    if not isinstance(name, str) or name == '':
        raise IdentifierError('%s must be a non-empty string, got %r' % (what, name))
    if '\x00' in name:
        raise IdentifierError('%s %r contains a NUL byte' % (what, name))
    if len(name.encode('utf-8')) > MAX_IDENTIFIER_BYTES:
        raise IdentifierError('%s %r is longer than %d bytes (PostgreSQL would truncate it)'
                              % (what, name, MAX_IDENTIFIER_BYTES))
    return name


def quote_ident(name, what='identifier'):
    """Quote one identifier exactly as PostgreSQL's quote_ident() does for
    any input: always double-quoted, inner quotes doubled."""
    check_identifier(name, what)
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(schema, name, what='identifier'):
    return '%s.%s' % (quote_ident(schema, 'schema'), quote_ident(name, what))


def quote_literal(value):
    """A SQL string literal (standard_conforming_strings is on since 9.1)."""
    if value is None:
        return 'NULL'
    text = str(value)
    if '\x00' in text:
        raise IdentifierError('literal %r contains a NUL byte' % text)
    return "'" + text.replace("'", "''") + "'"


_TIMEOUT_RE = re.compile(r'^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$')


def check_timeout(value, what):
    """lock_timeout / statement_timeout values: '5s', '500ms', '0'."""
    value = str(value).strip()
    if not _TIMEOUT_RE.match(value):
        raise ValueError('%s %r is not a PostgreSQL duration such as 5s, 500ms or 0' % (what, value))
    return value


def set_timeouts(cur, lock_timeout=None, statement_timeout=None):
    if lock_timeout is not None:
        cur.execute('SET lock_timeout = %s', (check_timeout(lock_timeout, 'lock_timeout'),))
    if statement_timeout is not None:
        cur.execute('SET statement_timeout = %s', (check_timeout(statement_timeout, 'statement_timeout'),))


def in_recovery(cur):
    cur.execute('SELECT pg_is_in_recovery()')
    return bool(cur.fetchone()[0])


def server_version_num(cur):
    cur.execute("SELECT current_setting('server_version_num')::int")
    return cur.fetchone()[0]


def first_line(exc):
    """The first line of a database error, for one-line failure messages."""
    text = str(getattr(exc, 'pgerror', None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
