"""The SQL text layer under pg_index: the lexer that follows PostgreSQL's
scanner, literal quoting, and the executor that sends one statement at a
time over the extended query protocol (a real server for the last ones)."""

from __future__ import annotations

import pytest

from ansible_collections.odoo_scale.stack.plugins.module_utils.odoo_scale_index import SpecError, check_fragment
from ansible_collections.odoo_scale.stack.plugins.module_utils.odoo_scale_pg import (
    SqlTextError,
    check_single_statement,
    connect,
    execute_statement,
    extended_protocol_available,
    quote_literal,
    send_extended,
    sql_lex,
)

from dbutil import sql  # noqa: E402


def victim_alive(db):
    return sql(db, "SELECT to_regclass('public.victim')::text")[0][0] == 'victim'


@pytest.fixture
def tables(db):
    sql(db, "CREATE TABLE victim (id int); CREATE TABLE sale_order_line (id int, email varchar)")
    return db


@pytest.mark.parametrize('text, why', [
    ('a = 1; SELECT 1', '";"'),
    ('a = 1 -- x', 'comment'),
    ('a = 1 /* x */', 'comment'),
    ('a = 1 /* /* */ ; */', 'comment'),
    ('(a = 1', 'unbalanced "("'),
    ('a = 1) OR (b = 2', 'unbalanced ")"'),
    ("a = 'x", 'unterminated'),
    ("a = E'x\\'", 'unterminated'),
    ('a = $$x', 'unterminated'),
    ('a = $t$x$$', 'unterminated'),
    ('"a = 1', 'unterminated'),
    ('a = 1\x0b', 'control character'),
    ('a = 1\x0c', 'control character'),
    ("a = 'x\x00y'", 'NUL'),
    ("a = '\udc80'", 'not valid Unicode'),
])
def test_check_fragment_refuses(text, why):
    with pytest.raises(SpecError, match='where') as info:
        check_fragment(text, 'where')
    assert why in str(info.value) and '\n' not in str(info.value)


@pytest.mark.parametrize('text', [
    "a = ';'", "a = '--'", "a = '/*'", 'a = "x;y"', "a = E'\\';'", 'a = $$;$$', "a = $t$ $$ ; $t$",
    "a = 'x'\n';'", "a ~ '%s%%'", "a = U&'d\\0061t\\+000061;'", 'a$b = 1', "a = B'01'", "a = X'1F'",
    "lower(a) = N'x;'",
])
def test_check_fragment_accepts_literals(text):
    assert check_fragment(text, 'where') == text.strip()


def test_lexer_follows_postgresql():
    def kinds(text):
        return [(k, text[s:e]) for k, s, e in sql_lex(text) if k != 'space']

    assert kinds("E'\\'' ;") == [('string', "E'\\''"), ('op', ';')]
    assert kinds("x'a'") == [('string', "x'a'")]
    assert kinds("ab'c'") == [('word', 'ab'), ('string', "'c'")]
    assert kinds("a$$b$$") == [('word', 'a$$b$$')]
    assert kinds('$1 $$a$$ $x$ $$ $x$') == [('param', '$1'), ('dollar', '$$a$$'), ('dollar', '$x$ $$ $x$')]
    assert kinds("B'1''2'") == [('string', "B'1'"), ('string', "'2'")]
    assert kinds("E'a'\n  '\\''") == [('string', "E'a'\n  '\\''")]
    assert kinds("'a' '\\'") == [('string', "'a'"), ('string', "'\\'")]
    assert kinds('U&"a""b" u&\'x\'') == [('ident', 'U&"a""b"'), ('string', "u&'x'")]
    assert kinds('/* a /* b */ c */x') == [('comment', '/* a /* b */ c */'), ('word', 'x')]
    with pytest.raises(SqlTextError, match='unterminated'):
        sql_lex("E'\\'';x'")
    with pytest.raises(SqlTextError, match='unterminated'):
        sql_lex('/* /* */')


def test_quote_literal_is_safe_in_both_string_modes(tables):
    server, dbname = tables
    conn = server.connect(dbname)
    try:
        with conn.cursor() as cur:
            for scs in ('on', 'off'):
                cur.execute('SET standard_conforming_strings = %s' % scs)
                for value in ("a'b", 'a\\', "a\\'; DROP TABLE victim; --", '\\\\x', '%s %%'):
                    cur.execute('SELECT ' + quote_literal(value))
                    assert cur.fetchone()[0] == value
    finally:
        conn.close()
    assert victim_alive(tables)


def test_statements_go_out_one_at_a_time(tables):
    """The executor refuses a second statement twice: its own lexer, then
    the server (extended query protocol: a Parse message holds one command)."""
    server, dbname = tables
    conn = connect(dict(server.params, login_db=dbname))
    try:
        assert extended_protocol_available(conn)
        with pytest.raises(SqlTextError, match='";"'):
            execute_statement(conn, "SELECT E'\\''; DROP TABLE victim")
        with pytest.raises(Exception, match='cannot insert multiple commands'):
            send_extended(conn, 'SELECT 1; DROP TABLE victim')
        with pytest.raises(Exception) as info:
            send_extended(conn, 'CREATE INDEX x ON no_such_table (a)')
        assert info.value.pgcode == '42P01'
        execute_statement(conn, "CREATE INDEX CONCURRENTLY odoo_scale_pct ON sale_order_line (email) "
                                "WHERE email LIKE '%s%%'")
        with conn.cursor() as cur:  # psycopg2 keeps working on the same connection
            cur.execute('SHOW standard_conforming_strings')
            assert cur.fetchone()[0] == 'on'
    finally:
        conn.close()
    assert victim_alive(tables)
    assert "'%s%%'" in sql(tables, "SELECT pg_get_indexdef('odoo_scale_pct'::regclass)")[0][0]


def test_check_single_statement():
    check_single_statement('CREATE INDEX "a;b" ON t (x) WHERE (y = \';\')')
    for bad in ('SELECT 1; SELECT 2', 'SELECT 1 -- x', 'SELECT (1', ''):
        with pytest.raises(SqlTextError):
            check_single_statement(bad)
