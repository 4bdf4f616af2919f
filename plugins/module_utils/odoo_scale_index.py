# -*- coding: utf-8 -*-
# Index catalog logic for odoo-scale's pg_index module: spec normalisation,
# CREATE INDEX rendering, canonical comparison against the catalog, and the
# plan of statements that builds, swaps or drops an index without ever
# leaving the table without it.
# Copyright: odoo-scale contributors. GPL-3.0-or-later.

from __future__ import annotations

import hashlib
import re

from .odoo_scale_pg import (
    IdentifierError,
    MAX_IDENTIFIER_BYTES,
    SqlTextError,
    check_balanced,
    check_identifier,
    quote_ident,
    quote_literal,
    quote_qualified,
    sql_scan,
)

# Options of one index spec; pg_index uses them both at the top level and as
# the suboptions of `indexes`.
INDEX_SPEC_OPTIONS = dict(
    name=dict(type='str'),
    schema=dict(type='str', default='public'),
    table=dict(type='str'),
    columns=dict(type='list', elements='raw'),
    unique=dict(type='bool', default=False),
    nulls_not_distinct=dict(type='bool', default=False),
    method=dict(type='str', default='btree'),
    where=dict(type='str'),
    include=dict(type='list', elements='str', default=[]),
    storage_parameters=dict(type='dict', default={}),
    tablespace=dict(type='str'),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    required=dict(type='bool', default=False),
    allow_constraint_rebuild=dict(type='bool', default=False),
    requires_extension=dict(type='str'),
    skip_if_equivalent=dict(type='bool', default=True),
)

# The attributes compared between the wanted and the existing index, in the
# order they are reported.
COMPARED = ('unique', 'method', 'columns', 'include', 'nulls_not_distinct',
            'storage_parameters', 'where')

_METHOD_RE = re.compile(r'^[a-z_][a-z0-9_]*$')
_PLAIN_COLUMN_RE = re.compile(r'^[a-z_][a-z0-9_$]*$')
_RELOPTION_RE = re.compile(r'^[a-z_][a-z0-9_]*$')
_COLUMN_KEYS = {'column', 'expr', 'opclass', 'order', 'nulls', 'collation'}


class SpecError(ValueError):
    """An index spec that cannot be applied as written."""


# -- SQL text scanning --------------------------------------------------------
# Expressions and predicates are operator-supplied SQL. Each is lexed the way
# PostgreSQL's scanner will read it (odoo_scale_pg.sql_lex: '' and E''
# strings, dollar quotes, quoted identifiers, comments) and refused unless it
# is one balanced fragment without ';' or comments, so it cannot close our
# parentheses, end the statement or comment out the rest of it. PostgreSQL
# then validates it on a shadow table, and the statement that carries it is
# sent with the extended query protocol, which runs one statement only.

def _scan(text):
    """Yield (index, char, depth) for characters outside quotes/identifiers."""
    try:
        yield from sql_scan(text)
    except SqlTextError as exc:
        raise SpecError('%s in %r' % (exc, text))


def check_fragment(text, what):
    """Refuse SQL fragments that could escape their parentheses."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError('%s must be a non-empty SQL expression' % what)
    try:
        check_balanced(text)
    except SqlTextError as exc:
        raise SpecError('%s %r %s' % (what, text, exc))
    return text.strip()


def _find_top(text, needle, start=0):
    """First position of needle at paren depth 0 outside quotes, or -1."""
    for i, _ch, depth in _scan(text):
        if i >= start and depth == 0 and text.startswith(needle, i):
            return i
    return -1


def _group(text, start):
    """(inside, end) of the parenthesised group opening at text[start]."""
    for i, ch, depth in _scan(text):
        if i > start and ch == ')' and depth == 0:
            return text[start + 1:i], i + 1
    raise SpecError('unbalanced index definition %r' % text)


def _split_top(text):
    parts, last = [], 0
    for i, ch, depth in _scan(text):
        if ch == ',' and depth == 0:
            parts.append(text[last:i].strip())
            last = i + 1
    parts.append(text[last:].strip())
    return [p for p in parts if p]


def parse_indexdef(definition):
    """Split pg_get_indexdef() output into comparable attributes.

    The text after ' USING ' is canonical (PostgreSQL deparsed it), so two
    indexes built from the same spec produce the same attributes whatever
    their names and tables.
    """
    using = _find_top(definition, ' USING ')
    if using < 0:
        raise SpecError('unexpected index definition %r' % definition)
    tail = definition[using + len(' USING '):]
    paren = tail.index(' (')
    attrs = dict(unique=definition.startswith('CREATE UNIQUE INDEX '),
                 method=tail[:paren], include=[], nulls_not_distinct=False,
                 storage_parameters='', where='')
    keys, pos = _group(tail, paren + 1)
    attrs['columns'] = _split_top(keys)
    rest = tail[pos:]
    if rest.startswith(' INCLUDE ('):
        inner, end = _group(rest, len(' INCLUDE '))
        attrs['include'] = _split_top(inner)
        rest = rest[end:]
    if rest.startswith(' NULLS NOT DISTINCT'):
        attrs['nulls_not_distinct'] = True
        rest = rest[len(' NULLS NOT DISTINCT'):]
    if rest.startswith(' WITH ('):
        inner, end = _group(rest, len(' WITH '))
        attrs['storage_parameters'] = inner
        rest = rest[end:]
    if rest.startswith(' WHERE '):
        attrs['where'] = rest[len(' WHERE '):]
        rest = ''
    if rest:
        raise SpecError('unexpected index definition tail %r' % rest)
    attrs['body'] = tail
    return attrs


def compare(wanted, actual):
    """Names of the attributes that differ between two parse_indexdef()s."""
    return [key for key in COMPARED if wanted[key] != actual[key]]


# -- names --------------------------------------------------------------------

def truncate_bytes(text, limit):
    return text.encode('utf-8')[:limit].decode('utf-8', 'ignore')


def derived_name(base, suffix):
    """A deterministic identifier `base` + `suffix` that fits in 63 bytes:
    when too long, `base` is cut and a hash of the full name keeps it unique."""
    full = base + suffix
    if len(full.encode('utf-8')) <= MAX_IDENTIFIER_BYTES:
        return full
    digest = '_' + hashlib.sha1(full.encode('utf-8')).hexdigest()[:8]
    room = MAX_IDENTIFIER_BYTES - len(digest.encode('utf-8'))
    return truncate_bytes(full, room) + digest


def temp_name(name):
    """Name of the replacement built beside an index before the swap; fixed
    so that a leftover from an interrupted run is found and dropped."""
    return derived_name(name, '_osnew')


def child_name(parent_index, partition):
    """Name of the index built on one partition for a partitioned index."""
    return derived_name(parent_index, '_' + partition)


# -- specs --------------------------------------------------------------------

def display_name(spec):
    return spec['name'] if spec['schema'] == 'public' else '%s.%s' % (spec['schema'], spec['name'])


def _render_column(item, position):
    what = 'columns[%d]' % position
    if isinstance(item, str):
        # A bare lowercase name is a column; anything else is an expression.
        item = {'column': item} if _PLAIN_COLUMN_RE.match(item) else {'expr': item}
    if not isinstance(item, dict):
        raise SpecError('%s must be a column name, an expression or a dict' % what)
    unknown = set(item) - _COLUMN_KEYS
    if unknown:
        raise SpecError('%s has unknown keys: %s' % (what, ', '.join(sorted(unknown))))
    if ('column' in item) == ('expr' in item):
        raise SpecError('%s needs exactly one of column or expr' % what)
    if 'column' in item:
        text = quote_ident(item['column'], what)
    else:
        text = '(%s)' % check_fragment(item['expr'], what + '.expr')
    if item.get('collation'):
        text += ' COLLATE ' + quote_ident(item['collation'], what + '.collation')
    if item.get('opclass'):
        parts = str(item['opclass']).split('.')
        if len(parts) > 2:
            raise SpecError('%s.opclass %r: at most schema.name' % (what, item['opclass']))
        text += ' ' + '.'.join(quote_ident(p, what + '.opclass') for p in parts)
    order = str(item.get('order') or '').lower()
    if order:
        if order not in ('asc', 'desc'):
            raise SpecError('%s.order must be asc or desc, got %r' % (what, item['order']))
        text += ' ' + order.upper()
    nulls = str(item.get('nulls') or '').lower()
    if nulls:
        if nulls not in ('first', 'last'):
            raise SpecError('%s.nulls must be first or last, got %r' % (what, item['nulls']))
        text += ' NULLS ' + nulls.upper()
    return text


def _render_value(value):
    if isinstance(value, bool):
        return quote_literal('true' if value else 'false')
    if isinstance(value, (int, float)):
        return str(value)
    return quote_literal(value)


def normalise(raw):
    """Check one spec and pre-render its SQL pieces; raises SpecError or
    IdentifierError with a one-line message."""
    spec = dict(raw)  # AnsibleModule has applied INDEX_SPEC_OPTIONS' defaults
    if not spec.get('name'):
        raise SpecError('every index needs a name')
    try:
        check_identifier(spec['name'], 'index name')
        check_identifier(spec['schema'], 'schema')
        if spec['state'] == 'absent':
            return spec
        if not spec.get('table'):
            raise SpecError('a table is required for state=present')
        check_identifier(spec['table'], 'table')
        if not spec.get('columns'):
            raise SpecError('columns must list at least one column or expression')
        method = str(spec['method']).lower()
        if not _METHOD_RE.match(method):
            raise SpecError('method %r is not an access method name' % spec['method'])
        spec['method'] = method
        spec['columns_sql'] = [_render_column(item, i) for i, item in enumerate(spec['columns'])]
        spec['include_sql'] = [quote_ident(col, 'include column') for col in spec['include']]
        spec['where_sql'] = check_fragment(spec['where'], 'where') if spec.get('where') else None
        params = []
        for key in sorted(spec['storage_parameters']):
            if not _RELOPTION_RE.match(key):
                raise SpecError('storage parameter %r is not a parameter name' % key)
            params.append('%s = %s' % (key, _render_value(spec['storage_parameters'][key])))
        spec['with_sql'] = ', '.join(params)
        if spec.get('tablespace'):
            check_identifier(spec['tablespace'], 'tablespace')
        if spec.get('requires_extension'):
            check_identifier(spec['requires_extension'], 'requires_extension')
    except (SpecError, IdentifierError) as exc:
        raise SpecError('index %s: %s' % (spec['name'], exc))
    return spec


def render_create(spec, name, schema, table, concurrently=False, only=False, tablespace=True):
    """CREATE INDEX text for spec under `name` on schema.table."""
    sql = ['CREATE']
    if spec['unique']:
        sql.append('UNIQUE')
    sql.append('INDEX')
    if concurrently:
        sql.append('CONCURRENTLY')
    sql.append(quote_ident(name))
    sql.append('ON')
    if only:
        sql.append('ONLY')
    sql.append(quote_qualified(schema, table, 'table'))
    sql.append('USING %s (%s)' % (spec['method'], ', '.join(spec['columns_sql'])))
    if spec['include_sql']:
        sql.append('INCLUDE (%s)' % ', '.join(spec['include_sql']))
    if spec['nulls_not_distinct']:
        sql.append('NULLS NOT DISTINCT')
    if spec['with_sql']:
        sql.append('WITH (%s)' % spec['with_sql'])
    if tablespace and spec.get('tablespace'):
        sql.append('TABLESPACE ' + quote_ident(spec['tablespace']))
    if spec['where_sql']:
        sql.append('WHERE (%s)' % spec['where_sql'])
    return ' '.join(sql)


# -- catalog ------------------------------------------------------------------

TABLE_SQL = """
SELECT c.oid, c.relkind,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm')
"""

TABLE_BY_OID_SQL = """
SELECT n.nspname, c.relname, c.relkind,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = %s
"""

# Indexes with what hangs on them. A foreign key records the referenced
# unique index in conindid too, and that index cannot be dropped without it
# either; p/u/x win over f when both exist. `parent` is the partitioned index
# it is attached to.
INDEX_COLUMNS = """
SELECT c.oid, n.nspname, c.relname, i.indrelid, tn.nspname, t.relname, c.relkind = 'I',
       i.indisvalid, pg_get_indexdef(c.oid), ts.spcname,
       (SELECT con.conname || ':' || con.contype::text FROM pg_constraint con
         WHERE con.conindid = c.oid
         ORDER BY con.contype IN ('p', 'u', 'x') DESC, con.conname LIMIT 1),
       i.indisreplident, i.indisclustered, obj_description(c.oid, 'pg_class'),
       (SELECT inh.inhparent FROM pg_inherits inh WHERE inh.inhrelid = c.oid LIMIT 1)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_index i ON i.indexrelid = c.oid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
"""

INDEX_SQL = INDEX_COLUMNS + " WHERE n.nspname = %s AND c.relname = %s"

# An index and every index attached under it, at any depth, root first.
TREE_SQL = ("WITH RECURSIVE tree(oid, level) AS (SELECT %s::oid, 0 UNION ALL "
            "SELECT inh.inhrelid, tree.level + 1 FROM pg_inherits inh JOIN tree ON inh.inhparent = tree.oid) "
            + INDEX_COLUMNS + " JOIN tree ON tree.oid = c.oid ORDER BY tree.level, n.nspname, c.relname")

# The index attached under a partitioned index for one partition.
ATTACHED_SQL = (INDEX_COLUMNS + " WHERE i.indrelid = %s AND c.oid IN "
                "(SELECT inh.inhrelid FROM pg_inherits inh WHERE inh.inhparent = %s)")

CONSTRAINT_COMMENT_SQL = """
SELECT obj_description(con.oid, 'pg_constraint') FROM pg_constraint con
 WHERE con.conindid = %s AND con.conname = %s AND con.conrelid = %s
"""

PARTITIONS_SQL = """
SELECT c.oid, n.nspname, c.relname, c.relkind
  FROM pg_inherits inh
  JOIN pg_class c ON c.oid = inh.inhrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE inh.inhparent = %s
 ORDER BY n.nspname, c.relname
"""

DEFAULT_TABLESPACE_SQL = """
SELECT t.spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
 WHERE d.datname = current_database()
"""

# pg_partition_tree() lists nothing for an index outside a partition tree.
SIZE_SQL = """
SELECT pg_relation_size(%(idx)s::regclass) + coalesce((
       SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(%(idx)s::regclass)
        WHERE relid <> %(idx)s::regclass), 0)::bigint
"""


def find_table(cur, schema, table):
    cur.execute(TABLE_SQL, (schema, table))
    row = cur.fetchone()
    return None if row is None else dict(oid=row[0], relkind=row[1], partkey=row[2])


def table_by_oid(cur, oid):
    cur.execute(TABLE_BY_OID_SQL, (oid,))
    row = cur.fetchone()
    return dict(oid=oid, schema=row[0], table=row[1], relkind=row[2], partkey=row[3])


def _index_row(row):
    constraint = None
    if row[10]:
        conname, contype = row[10].rsplit(':', 1)
        constraint = dict(name=conname, type=contype)
    return dict(oid=row[0], schema=row[1], name=row[2], table_oid=row[3], table_schema=row[4], table=row[5],
                partitioned=row[6], valid=row[7], definition=row[8], tablespace=row[9],
                constraint=constraint, replident=row[11], clustered=row[12], comment=row[13], parent=row[14])


def find_index(cur, schema, name):
    cur.execute(INDEX_SQL, (schema, name))
    row = cur.fetchone()
    return None if row is None else _index_row(row)


def index_tree(cur, oid):
    """The index and every index attached under it, root first."""
    cur.execute(TREE_SQL, (oid,))
    return [_index_row(row) for row in cur.fetchall()]


def attached_index(cur, parent_oid, table_oid):
    cur.execute(ATTACHED_SQL, (table_oid, parent_oid))
    row = cur.fetchone()
    return None if row is None else _index_row(row)


def constraint_comment(cur, index):
    cur.execute(CONSTRAINT_COMMENT_SQL, (index['oid'], index['constraint']['name'], index['table_oid']))
    row = cur.fetchone()
    return row[0] if row else None


def partitions(cur, table_oid):
    cur.execute(PARTITIONS_SQL, (table_oid,))
    return [dict(oid=r[0], schema=r[1], table=r[2], relkind=r[3]) for r in cur.fetchall()]


def index_size(cur, schema, name):
    cur.execute(SIZE_SQL, dict(idx=quote_qualified(schema, name)))
    return cur.fetchone()[0]


# -- statements ---------------------------------------------------------------

class Step:
    """One unit of a plan: a statement, or a list of statements run in one
    transaction (BEGIN ... COMMIT) so that they take effect together.

    creates: (schema, name, partitioned) of an index this step makes; it is
    dropped again if a later step fails (or this one does, since a failed
    CREATE INDEX CONCURRENTLY leaves an INVALID index behind).
    keeps_new: after this step the replacement carries what hung on the old
    index (or the old index is gone), so a valid replacement is kept even if
    a later step fails; the next run finishes the swap.
    """

    def __init__(self, sql, creates=None, keeps_new=False):
        if isinstance(sql, (list, tuple)) and len(sql) == 1:
            sql = sql[0]
        self.sql = sql
        self.creates = creates
        self.keeps_new = keeps_new

    @property
    def statements(self):
        """The statements as sent, BEGIN and COMMIT included."""
        if isinstance(self.sql, str):
            return [self.sql]
        return ['BEGIN'] + list(self.sql) + ['COMMIT']


def drop_sql(schema, name, partitioned, if_exists=False):
    # DROP INDEX CONCURRENTLY is refused for partitioned indexes; dropping
    # one takes a short ACCESS EXCLUSIVE lock, bounded by lock_timeout.
    return 'DROP INDEX %s%s%s' % ('' if partitioned else 'CONCURRENTLY ',
                                  'IF EXISTS ' if if_exists else '',
                                  quote_qualified(schema, name, 'index'))


def attach_sql(parent_schema, parent_name, schema, name):
    return 'ALTER INDEX %s ATTACH PARTITION %s' % (
        quote_qualified(parent_schema, parent_name, 'index'), quote_qualified(schema, name, 'index'))


def rename_sql(schema, name, new_name):
    return 'ALTER INDEX %s RENAME TO %s' % (quote_qualified(schema, name, 'index'), quote_ident(new_name))


def replica_identity_sql(table_schema, table, index_name):
    return 'ALTER TABLE %s REPLICA IDENTITY USING INDEX %s' % (
        quote_qualified(table_schema, table, 'table'), quote_ident(index_name))


def cluster_on_sql(table_schema, table, index_name):
    return 'ALTER TABLE %s CLUSTER ON %s' % (quote_qualified(table_schema, table, 'table'), quote_ident(index_name))


def comment_sql(schema, name, text):
    return 'COMMENT ON INDEX %s IS %s' % (quote_qualified(schema, name, 'index'), quote_literal(text))


def constraint_comment_sql(table_schema, table, conname, text):
    return 'COMMENT ON CONSTRAINT %s ON %s IS %s' % (
        quote_ident(conname), quote_qualified(table_schema, table, 'table'), quote_literal(text))
