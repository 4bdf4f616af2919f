# -*- coding: utf-8 -*-
# Shared PostgreSQL plumbing for odoo-scale's own modules (pg_index,
# pg_partition, pg_index_report) and the partition timer: connection
# arguments, one autocommit connection, identifier and literal quoting, a
# lexer that splits SQL text the way PostgreSQL's scanner does, an executor
# that sends exactly one statement at a time, server facts.
# Pure Python plus psycopg2: the partition timer imports it outside Ansible.
# Copyright: odoo-scale contributors. GPL-3.0-or-later.

from __future__ import annotations

import ctypes
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
        # At startup, not by SET afterwards: psycopg2 chooses E'' quoting for
        # parameters from the setting it sees when it connects, and keeps it.
        # A database whose default is off would otherwise get E'...' around
        # a value whose backslash then ends the literal.
        options='-c standard_conforming_strings=on -c client_encoding=UTF8',
    )
    host = params.get('login_unix_socket') or params.get('login_host')
    if host:
        kw['host'] = host
    if params.get('login_password'):
        kw['password'] = params['login_password']
    return kw


def connect(params):
    """One autocommit connection: CONCURRENTLY must not run in a transaction
    block, and every statement we send is its own unit of work.

    The session is pinned to standard_conforming_strings = on and UTF8, the
    two settings sql_lex() and quote_literal() are written for, whatever the
    server, database or role defaults say."""
    if not HAS_PSYCOPG2:
        raise RuntimeError('psycopg2 is required on the target host: %s' % PSYCOPG2_IMPORT_ERROR)
    conn = psycopg2.connect(**connection_kwargs(params))
    conn.autocommit = True
    conn.set_client_encoding('UTF8')
    with conn.cursor() as cur:
        cur.execute('SET standard_conforming_strings = on')
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
    try:
        size = len(name.encode('utf-8'))
    except UnicodeEncodeError:
        raise IdentifierError('%s %r is not valid Unicode text' % (what, name))
    if size > MAX_IDENTIFIER_BYTES:
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
    """A SQL string literal that reads back as `value` whatever
    standard_conforming_strings is: quotes doubled and, when the value holds
    a backslash, the E'' form with backslashes doubled (what PostgreSQL's
    own quote_literal() does)."""
    if value is None:
        return 'NULL'
    text = str(value)
    if '\x00' in text:
        raise IdentifierError('literal %r contains a NUL byte' % text)
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        raise IdentifierError('literal %r is not valid Unicode text' % text)
    body = text.replace("'", "''")
    if '\\' in text:
        return "E'" + body.replace('\\', '\\\\') + "'"
    return "'" + body + "'"


# -- SQL text -----------------------------------------------------------------
# sql_lex() splits text into tokens exactly where PostgreSQL 15's scanner
# (src/backend/parser/scan.l) does, for a session with
# standard_conforming_strings = on (connect() pins it): '' strings with
# doubled quotes, E'' strings with backslash escapes, B''/X''/N''/U&''
# strings, a string continued after a newline (in the same kind), "" and U&""
# identifiers, $tag$ dollar quotes, $n parameters, -- and nested /* */
# comments; an identifier swallows a following $ or letter prefix, as the
# scanner's longest match does. Characters whose meaning differs between
# server versions (form feed, vertical tab, other control characters) are
# refused outside literals rather than guessed at.

class SqlTextError(ValueError):
    """SQL text that cannot be sent as one statement."""


_IDENT_START = re.compile('[A-Za-z_\x80-\U0010ffff]')
_IDENT = re.compile('[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9$\x80-\U0010ffff]*')
_DOLLAR_TAG = re.compile('\\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)?\\$')
_PARAM = re.compile('\\$[0-9]+')
_DIGITS = re.compile('[0-9]+')
# scan.l's {quotecontinue}: whitespace holding a newline (comments allowed),
# then a quote that carries the string on.
_CONTINUE = re.compile("(?:[ \t\f]|--[^\n\r]*)*[\n\r](?:[ \t\n\r\f]|--[^\n\r]*[\n\r])*'")
_PREFIXED = {'e': 'escape', 'b': 'bits', 'x': 'bits', 'n': 'standard'}


def _string(text, pos, kind):
    """End of a string literal whose body starts at pos, following
    continuations; returns (end, continued_over_a_comment)."""
    n = len(text)
    commented = False
    while True:
        while pos < n:
            ch = text[pos]
            if ch == '\\' and kind == 'escape':
                pos += 2
                continue
            if ch == "'":
                if kind != 'bits' and text.startswith("''", pos):
                    pos += 2
                    continue
                break
            pos += 1
        if pos >= n:
            raise SqlTextError('unterminated quoted string')
        pos += 1
        more = _CONTINUE.match(text, pos)
        if not more:
            return pos, commented
        commented = commented or '--' in more.group(0)
        pos = more.end()


def _quoted_ident(text, pos):
    n = len(text)
    while pos < n:
        if text[pos] == '"':
            if text.startswith('""', pos):
                pos += 2
                continue
            return pos + 1
        pos += 1
    raise SqlTextError('unterminated quoted identifier')


def sql_lex(text):
    """[(kind, start, end)] for text; kind is one of space, comment, string,
    ident (a quoted identifier), dollar (a dollar-quoted string), word (a
    keyword or bare identifier), number, param or op (one other character).
    Raises SqlTextError for unterminated quotes and comments and for
    control characters outside literals."""
    if '\x00' in text:
        raise SqlTextError('contains a NUL character')
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        raise SqlTextError('is not valid Unicode text (lone surrogate)')
    tokens = []
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        start = pos
        if ch in ' \t\n\r':
            while pos < n and text[pos] in ' \t\n\r':
                pos += 1
            tokens.append(('space', start, pos))
            continue
        if ch < ' ' or ch == '\x7f':
            raise SqlTextError('control character U+%04X outside a quoted literal' % ord(ch))
        if text.startswith('--', pos):
            while pos < n and text[pos] not in '\n\r':
                pos += 1
            tokens.append(('comment', start, pos))
            continue
        if text.startswith('/*', pos):
            depth, pos = 1, pos + 2
            while depth:
                if pos >= n:
                    raise SqlTextError('unterminated /* comment')
                if text.startswith('/*', pos):
                    depth, pos = depth + 1, pos + 2
                elif text.startswith('*/', pos):
                    depth, pos = depth - 1, pos + 2
                else:
                    pos += 1
            tokens.append(('comment', start, pos))
            continue
        kind = None
        if ch == "'":
            kind, body = 'standard', pos + 1
        elif ch.lower() in _PREFIXED and text.startswith("'", pos + 1):
            kind, body = _PREFIXED[ch.lower()], pos + 2
        elif ch in 'uU' and text.startswith("&'", pos + 1):
            kind, body = 'standard', pos + 3
        if kind:
            pos, commented = _string(text, body, kind)
            tokens.append(('string', start, pos))
            if commented:
                tokens.append(('comment', start, pos))
            continue
        if ch == '"' or (ch in 'uU' and text.startswith('&"', pos + 1)):
            pos = _quoted_ident(text, pos + (1 if ch == '"' else 3))
            tokens.append(('ident', start, pos))
            continue
        if ch == '$':
            tag = _DOLLAR_TAG.match(text, pos)
            if tag:
                end = text.find(tag.group(0), tag.end())
                if end < 0:
                    raise SqlTextError('unterminated dollar-quoted string')
                pos = end + len(tag.group(0))
                tokens.append(('dollar', start, pos))
                continue
            param = _PARAM.match(text, pos)
            if param:
                pos = param.end()
                tokens.append(('param', start, pos))
                continue
        if _IDENT_START.match(ch):
            pos = _IDENT.match(text, pos).end()
            tokens.append(('word', start, pos))
            continue
        if ch.isdigit() and ch < '\x80':
            pos = _DIGITS.match(text, pos).end()
            tokens.append(('number', start, pos))
            continue
        pos += 1
        tokens.append(('op', start, pos))
    return tokens


def sql_scan(text):
    """(position, character, paren depth) of every character outside
    literals, quoted identifiers and comments."""
    depth = 0
    for kind, start, end in sql_lex(text):
        if kind in ('string', 'ident', 'dollar', 'comment'):
            continue
        for pos in range(start, end):
            ch = text[pos]
            if ch == '(':
                depth += 1
            elif ch == ')':
                depth -= 1
            yield pos, ch, depth


def check_balanced(text):
    """Refuse text with a comment, a ';' outside literals, or parentheses
    that close more than they open or leave one open; returns the text.
    Inside parentheses we wrote, such text stays there and in one statement."""
    depth = 0
    tokens = sql_lex(text)
    for kind, start, _end in tokens:
        if kind == 'comment':
            raise SqlTextError('contains a comment (-- or /* */) outside a quoted literal')
        if kind != 'op':
            continue
        ch = text[start]
        if ch == ';':
            raise SqlTextError('contains ";" outside a quoted literal')
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
            if depth < 0:
                raise SqlTextError('has an unbalanced ")"')
    if depth:
        raise SqlTextError('has an unbalanced "("')
    return text


def check_single_statement(sql):
    """The check execute_statement() makes on every statement it sends."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlTextError('empty statement')
    try:
        return check_balanced(sql)
    except SqlTextError as exc:
        raise SqlTextError('refusing to send a statement that %s: %.200r' % (exc, sql))


# -- one statement at a time -----------------------------------------------------
# psycopg2 sends text with the simple query protocol, where "a; b" runs two
# statements. execute_statement() sends it with libpq's PQexecParams on
# psycopg2's own connection instead: the extended query protocol, whose Parse
# message the server refuses when it holds more than one command ("cannot
# insert multiple commands into a prepared statement"), before running any.
# The libpq used is the very one psycopg2 is linked with (looked up through
# psycopg2's extension module), so the PGconn pointer is understood.

_PGRES_COMMAND_OK = 1
_PGRES_TUPLES_OK = 2
_PG_DIAG_SQLSTATE = ord('C')
_LIBPQ = []

if HAS_PSYCOPG2:
    class StatementError(psycopg2.DatabaseError):
        """A statement the server refused, as psycopg2 reports one."""

        def __init__(self, message, pgcode=None):
            super().__init__(message)
            self._message = message
            self._pgcode = pgcode

        pgcode = property(lambda self: self._pgcode)
        pgerror = property(lambda self: self._message)
else:  # pragma: no cover
    class StatementError(Exception):
        pgcode = None
        pgerror = None


def _libpq():
    if not _LIBPQ:
        lib = None
        try:
            from psycopg2 import _psycopg
            lib = ctypes.CDLL(_psycopg.__file__)
            lib.PQexecParams.restype = ctypes.c_void_p
            lib.PQexecParams.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
            lib.PQresultStatus.restype = ctypes.c_int
            lib.PQresultStatus.argtypes = [ctypes.c_void_p]
            lib.PQresultErrorField.restype = ctypes.c_char_p
            lib.PQresultErrorField.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.PQresultErrorMessage.restype = ctypes.c_char_p
            lib.PQresultErrorMessage.argtypes = [ctypes.c_void_p]
            lib.PQerrorMessage.restype = ctypes.c_char_p
            lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
            lib.PQclear.restype = None
            lib.PQclear.argtypes = [ctypes.c_void_p]
        except (ImportError, OSError, AttributeError):
            lib = None
        _LIBPQ.append(lib)
    return _LIBPQ[0]


def extended_protocol_available(conn):
    return _libpq() is not None and bool(getattr(conn, 'pgconn_ptr', None))


def send_extended(conn, sql):
    """Run sql with the extended query protocol (no result rows kept)."""
    lib = _libpq()
    pgconn = ctypes.c_void_p(conn.pgconn_ptr)
    res = lib.PQexecParams(pgconn, sql.encode('utf-8'), 0, None, None, None, None, 0)
    if not res:
        raise StatementError((lib.PQerrorMessage(pgconn) or b'').decode('utf-8', 'replace') or 'libpq failure')
    try:
        if lib.PQresultStatus(res) in (_PGRES_COMMAND_OK, _PGRES_TUPLES_OK):
            return
        code = lib.PQresultErrorField(res, _PG_DIAG_SQLSTATE)
        message = (lib.PQresultErrorMessage(res) or b'').decode('utf-8', 'replace')
        raise StatementError(message or 'statement failed', code.decode('ascii') if code else None)
    finally:
        lib.PQclear(res)


def execute_statement(conn, sql):
    """Send exactly one statement, whatever sql contains: refused unless it
    lexes as one statement, then sent over the extended query protocol so
    the server refuses a second command too. Falls back to psycopg2's simple
    protocol (after the same check) only where libpq cannot be reached."""
    check_single_statement(sql)
    if '\x00' in sql:  # libpq takes a C string: it would cut the statement there
        raise SqlTextError('refusing to send a statement that contains a NUL character')
    if extended_protocol_available(conn):
        send_extended(conn, sql)
    else:  # pragma: no cover - psycopg2 without a reachable libpq
        with conn.cursor() as cur:
            cur.execute(sql)


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
