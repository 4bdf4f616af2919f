#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: odoo-scale contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_index_report
short_description: Report unused, duplicate, overlapping, invalid and bloated PostgreSQL indexes
description:
  - Reads the catalog and the statistics views of one database and reports
    unused indexes (no scan since the statistics were reset, larger than O(min_size), not backing
    a constraint and not unique), duplicate indexes (same table, method, key columns or
    expressions, operator classes, sort order and predicate), overlapping indexes (the key
    columns of one are a leading prefix of another's, same method, neither partial), INVALID
    indexes, estimated B-tree bloat, tables read mostly by sequential scans and, when
    pg_stat_statements is installed in the database, the statements with the highest total time
    that mention those tables.
  - Read only - it never changes anything, so it runs the same in check mode and on a hot
    standby (where the scan counters are the standby's own).
  - "Scan counters are per server: reads sent to a replica count only there. An index is reported
    unused only when its scans summed over this server and every replica in O(replicas) are zero;
    each unused entry lists the servers consulted (RV(report.unused[].scans_by_server)) and the
    ones that were not (RV(report.unused[].replicas_not_consulted)): a replica of O(replicas)
    that could not be reached, or, when O(replicas) is empty, every standby this server streams
    to (C(pg_stat_replication)). Replicas are matched by schema and index name."
  - Bloat is estimated from pg_stats with the well-known B-tree page arithmetic of
    pgsql-bloat-estimation (no extension, no index scan); run ANALYZE first for fresh figures.
version_added: "1.0.0"
extends_documentation_fragment:
  - odoo_scale.stack.odoo_scale_pg
author: odoo-scale contributors (!UNKNOWN)
options:
  schemas:
    description: Only report on these schemas; empty means every user schema.
    type: list
    elements: str
    default: []
  min_size:
    description: Smallest index size in bytes reported as unused or bloated.
    type: int
    default: 1048576
  bloat_min_percent:
    description: Smallest estimated bloat, in percent of the index size, that is reported.
    type: float
    default: 30
  seq_scan_min_rows:
    description: Tables with fewer live rows are never reported as sequential-scan heavy.
    type: int
    default: 10000
  seq_scan_min_count:
    description: Tables with fewer sequential scans are never reported as sequential-scan heavy.
    type: int
    default: 10
  top_statements:
    description: How many statements to list per sequential-scan heavy table (pg_stat_statements).
    type: int
    default: 5
  replicas:
    description:
      - Replicas (or any other servers that take reads for this database) whose
        C(pg_stat_all_indexes.idx_scan) counters are added to this server's before an index is
        called unused. Each entry takes the connection options of this module; the ones not given
        default to this module's own (so usually only O(replicas[].login_host) and
        O(replicas[].login_port) are needed).
      - A replica that cannot be reached does not fail the report; it is listed in
        RV(report.replicas) with its error, and in RV(report.unused[].replicas_not_consulted).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label used in the report; defaults to host:port.
        type: str
      login_host:
        description: Host of the replica.
        type: str
      login_port:
        description: Port of the replica.
        type: int
      login_user:
        description: User on the replica.
        type: str
      login_password:
        description: Password on the replica.
        type: str
      login_unix_socket:
        description: Unix socket directory of the replica.
        type: str
      login_db:
        description: Database on the replica (the same database as O(login_db) by default).
        type: str
      connect_timeout:
        description: Connection timeout in seconds.
        type: int
requirements:
  - psycopg2
'''

EXAMPLES = r'''
- name: Index health of the Odoo database
  odoo_scale.stack.pg_index_report:
    login_db: odoo
    min_size: 10485760
  register: index_report

- name: Show it
  ansible.builtin.debug:
    msg: "{{ index_report.text }}"

- name: Count the reads the hot standby serves too
  odoo_scale.stack.pg_index_report:
    login_db: odoo
    replicas:
      - name: replica1
        login_host: 10.0.0.12
'''

RETURN = r'''
report:
  description: The findings, also set as the fact C(odoo_scale_index_report).
  returned: always
  type: dict
  contains:
    unused:
      description:
        - Indexes never scanned since stats_reset on any server consulted (schema, table, index,
          size, definition, scans, scans_by_server, replicas_consulted, replicas_not_consulted).
        - C(scans_by_server) maps C(primary) (this server) and each replica consulted to its
          C(idx_scan); C(replicas_not_consulted) names replicas whose reads are not counted.
      type: list
      elements: dict
      contains:
        schema:
          description: Schema of the index.
          type: str
        table:
          description: Table of the index.
          type: str
        index:
          description: Index name.
          type: str
        size:
          description: Index size in bytes.
          type: int
        definition:
          description: C(pg_get_indexdef()) of the index.
          type: str
        scans:
          description: Scans summed over every server consulted (zero here).
          type: int
        scans_by_server:
          description: C(idx_scan) per server consulted, C(primary) for this server.
          type: dict
        replicas_consulted:
          description: Replicas whose scans are counted.
          type: list
          elements: str
        replicas_not_consulted:
          description: Replicas whose reads are not counted (unreachable, or not listed in O(replicas)).
          type: list
          elements: str
    replicas:
      description: Each replica of O(replicas) (name, consulted, error, standby, stats_reset).
      type: list
    replicas_not_consulted:
      description: Replicas whose scans are not counted in RV(report.unused) (unreachable, or
        streaming from this server while O(replicas) is empty).
      type: list
    duplicate:
      description: Groups of identical indexes on one table (table, indexes, size, definition).
      type: list
    overlapping:
      description: Indexes whose key columns are a leading prefix of another index's (index, covered_by).
      type: list
    invalid:
      description: INVALID indexes (schema, table, index, size, definition).
      type: list
    bloat:
      description: B-tree indexes with estimated bloat above the thresholds (size, bloat_size, bloat_percent, stats_unreliable).
      type: list
    seq_scan_heavy:
      description: Tables read mostly by sequential scans (seq_scan, idx_scan, seq_tup_read, live_rows).
      type: list
    top_statements:
      description: Per sequential-scan heavy table, the statements with the highest total time.
      type: dict
    pg_stat_statements:
      description: Whether pg_stat_statements could be read in this database.
      type: bool
    stats_reset:
      description: When this database's statistics were last reset (null if never).
      type: str
    standby:
      description: Whether the server is a standby.
      type: bool
text:
  description: The report as readable text.
  returned: always
  type: str
'''

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.odoo_scale.stack.plugins.module_utils.odoo_scale_pg import (
    connect,
    first_line,
    in_recovery,
    module_connect,
    pg_connection_argument_spec,
    server_version_num,
)

try:
    import psycopg2
except ImportError:  # reported by module_connect()
    psycopg2 = None

# Restricts every query to the user schemas asked for.
SCHEMA_FILTER = """
n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
AND (cardinality(%(schemas)s::text[]) = 0 OR n.nspname = ANY(%(schemas)s::text[]))
"""

INDEXES_SQL = """
SELECT n.nspname, t.relname, c.relname, am.amname, i.indkey::text, i.indnkeyatts,
       coalesce(pg_get_expr(i.indexprs, i.indrelid), ''), coalesce(pg_get_expr(i.indpred, i.indrelid), ''),
       i.indclass::text, i.indcollation::text, i.indoption::text, i.indisunique, i.indisvalid,
       pg_relation_size(c.oid), pg_get_indexdef(c.oid),
       EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = c.oid),
       coalesce(s.idx_scan, 0), s.idx_scan IS NOT NULL
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_am am ON am.oid = c.relam
  LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = c.oid
 WHERE """ + SCHEMA_FILTER + """
 ORDER BY n.nspname, t.relname, c.relname
"""

# B-tree bloat estimate: the expected number of leaf pages from reltuples and
# the average width of the indexed columns in pg_stats (page and tuple
# headers, MAXALIGN padding, fillfactor), compared with relpages. The method
# is the one of ioguix/pgsql-bloat-estimation.
BLOAT_SQL = """
WITH idx AS (
    SELECT c.oid AS idxoid, n.nspname, t.relname AS tblname, c.relname AS idxname,
           c.reltuples, c.relpages, i.indrelid, i.indnatts,
           coalesce(substring(array_to_string(c.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::int, 90)
               AS fillfactor,
           string_to_array(i.indkey::text, ' ')::int[] AS indkey
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indexrelid
      JOIN pg_class t ON t.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree') AND c.relpages > 0
       AND c.relkind = 'i' AND """ + SCHEMA_FILTER + """
), cols AS (
    -- a key column's stats are the table column's; an expression's are the index's own
    SELECT idx.*, pos,
           CASE WHEN idx.indkey[pos] = 0 THEN idx.idxname ELSE idx.tblname END AS statrel,
           coalesce(a1.attname, a2.attname) AS attname,
           coalesce(a1.atttypid, a2.atttypid) AS atttypid
      FROM idx
      CROSS JOIN LATERAL generate_series(1, idx.indnatts) AS pos
      LEFT JOIN pg_attribute a1 ON idx.indkey[pos] <> 0 AND a1.attrelid = idx.indrelid
                                AND a1.attnum = idx.indkey[pos]
      LEFT JOIN pg_attribute a2 ON idx.indkey[pos] = 0 AND a2.attrelid = idx.idxoid AND a2.attnum = pos
), widths AS (
    SELECT cols.idxoid, cols.nspname, cols.tblname, cols.idxname, cols.reltuples, cols.relpages,
           cols.fillfactor,
           current_setting('block_size')::numeric AS bs,
           CASE WHEN version() ~ 'mingw32|64-bit|x86_64|ppc64|ia64|amd64|aarch64' THEN 8 ELSE 4 END AS maxalign,
           -- IndexTupleData, plus the null bitmap when a column has nulls
           CASE WHEN max(coalesce(s.null_frac, 0)) = 0 THEN 8 ELSE 8 + ((32 + 8 - 1) / 8) END AS tuple_hdr,
           sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 1024)) AS data_width,
           bool_or(cols.atttypid = 'pg_catalog.name'::regtype) OR count(s.attname) < count(*) AS unreliable
      FROM cols
      LEFT JOIN pg_stats s ON s.schemaname = cols.nspname AND s.tablename = cols.statrel
                          AND s.attname = cols.attname
     GROUP BY 1, 2, 3, 4, 5, 6, 7
), estimate AS (
    SELECT *,
           -- 24 bytes of page header, 16 of B-tree special space, 4 per line pointer
           coalesce(1 + ceil(reltuples / floor((bs - 16 - 24) * fillfactor
               / (100 * (4 + tuple_hdr + maxalign - CASE WHEN tuple_hdr %% maxalign = 0 THEN maxalign
                                                         ELSE tuple_hdr %% maxalign END
                         + data_width + maxalign - CASE WHEN data_width = 0 THEN 0
                                                        WHEN data_width::int %% maxalign = 0 THEN maxalign
                                                        ELSE data_width::int %% maxalign END)::float))), 0)
               AS expected_pages
      FROM widths
)
SELECT nspname, tblname, idxname, (bs * relpages)::bigint,
       greatest((bs * (relpages - expected_pages))::bigint, 0),
       round(greatest(100 * (relpages - expected_pages)::numeric / relpages, 0), 1)::float8, unreliable
  FROM estimate
 WHERE bs * relpages >= %(min_size)s
   AND 100 * (relpages - expected_pages) / relpages >= %(bloat_min_percent)s
 ORDER BY 5 DESC
"""

SEQ_SCAN_SQL = """
SELECT n.nspname, s.relname, s.seq_scan, coalesce(s.idx_scan, 0), s.seq_tup_read, s.n_live_tup
  FROM pg_stat_user_tables s JOIN pg_namespace n ON n.nspname = s.schemaname
 WHERE s.n_live_tup >= %(seq_scan_min_rows)s AND s.seq_scan >= %(seq_scan_min_count)s
   AND s.seq_scan > coalesce(s.idx_scan, 0) AND """ + SCHEMA_FILTER + """
 ORDER BY s.seq_tup_read DESC
 LIMIT 20
"""

STATEMENTS_SQL = """
SELECT queryid, calls, round(%(total)s::numeric, 1)::float8, round(%(mean)s::numeric, 2)::float8, rows,
       left(regexp_replace(query, '\\s+', ' ', 'g'), 300)
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query ~* %%(pattern)s
 ORDER BY %(total)s DESC
 LIMIT %%(limit)s
"""


# idx_scan of every index, read on a replica.
REPLICA_SCANS_SQL = """
SELECT schemaname, indexrelname, idx_scan FROM pg_stat_all_indexes
 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname !~ '^pg_toast'
"""

# Standbys streaming from this server, as labels for the report.
STANDBYS_SQL = """
SELECT coalesce(nullif(application_name, ''), 'standby') || '@' || coalesce(host(client_addr), 'local socket')
  FROM pg_stat_replication ORDER BY 1
"""

STATS_RESET_SQL = 'SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()'

REPLICA_CONNECTION_KEYS = ('login_host', 'login_port', 'login_user', 'login_password', 'login_unix_socket',
                           'login_db', 'connect_timeout')


def replica_label(replica, params):
    if replica.get('name'):
        return replica['name']
    where = params.get('login_unix_socket') or params.get('login_host') or 'local socket'
    return '%s:%s' % (where, params.get('login_port'))


def read_replica(params, replica):
    """idx_scan per (schema, index) on one replica, or why it could not be read."""
    conn_params = dict((key, params.get(key)) for key in REPLICA_CONNECTION_KEYS)
    given = dict((key, replica.get(key)) for key in REPLICA_CONNECTION_KEYS if replica.get(key) not in (None, ''))
    if 'login_host' in given or 'login_unix_socket' in given:
        conn_params.update(login_host='', login_unix_socket='')
    conn_params.update(given)
    out = dict(name=replica_label(replica, conn_params), consulted=False, error=None, standby=None,
               stats_reset=None, scans={})
    try:
        conn = connect(conn_params)
    except Exception as exc:  # psycopg2 and socket errors alike: reported, not fatal
        out['error'] = first_line(exc)
        return out
    try:
        cur = conn.cursor()
        cur.execute('SET default_transaction_read_only = on')
        cur.execute(REPLICA_SCANS_SQL)
        out['scans'] = dict(((schema, index), scans or 0) for schema, index, scans in cur.fetchall())
        cur.execute(STATS_RESET_SQL)
        row = cur.fetchone()
        out['stats_reset'] = row[0] if row else None
        out['standby'] = in_recovery(cur)
        out['consulted'] = True
    except psycopg2.Error as exc:
        out['error'] = first_line(exc)
    finally:
        conn.close()
    return out


def add_replica_scans(indexes, replicas, not_consulted):
    """Sum each index's scans over this server and the replicas read."""
    consulted = [r for r in replicas if r['consulted']]
    for ix in indexes:
        by_server = {'primary': ix['scans']}
        for replica in consulted:
            by_server[replica['name']] = replica['scans'].get((ix['schema'], ix['index']), 0)
        ix.update(scans=sum(by_server.values()), scans_by_server=by_server,
                  replicas_consulted=[r['name'] for r in consulted], replicas_not_consulted=list(not_consulted))


def collect_indexes(cur, args):
    cur.execute(INDEXES_SQL, args)
    keys = ('schema', 'table', 'index', 'method', 'indkey', 'nkeyatts', 'exprs', 'predicate',
            'opclasses', 'collations', 'options', 'unique', 'valid', 'size', 'definition',
            'constraint', 'scans', 'has_stats')
    return [dict(zip(keys, row)) for row in cur.fetchall()]


def _brief(ix, *extra):
    out = dict(schema=ix['schema'], table=ix['table'], index=ix['index'], size=ix['size'],
               definition=ix['definition'])
    for key in extra:
        out[key] = ix[key]
    return out


def find_unused(indexes, min_size):
    # Unique and constraint indexes enforce something even when never read.
    return [_brief(ix, 'scans', 'scans_by_server', 'replicas_consulted', 'replicas_not_consulted')
            for ix in indexes
            if ix['has_stats'] and ix['scans'] == 0 and ix['valid'] and not ix['unique']
            and not ix['constraint'] and ix['size'] >= min_size]


def _same_key(ix):
    return (ix['schema'], ix['table'], ix['method'], ix['indkey'], ix['nkeyatts'], ix['exprs'],
            ix['predicate'], ix['opclasses'], ix['collations'], ix['options'])


def find_duplicates(indexes):
    # Uniqueness is not part of the key: a plain index beside a unique one on
    # the same columns is redundant too. INVALID indexes are reported apart.
    groups = {}
    for ix in indexes:
        if not ix['valid']:
            continue
        groups.setdefault(_same_key(ix), []).append(ix)
    return [dict(schema=g[0]['schema'], table=g[0]['table'], indexes=[ix['index'] for ix in g],
                 size=sum(ix['size'] for ix in g), definition=g[0]['definition'])
            for g in groups.values() if len(g) > 1]


def _key_columns(ix):
    """(column numbers, opclasses, options) of the key part, or None when
    the index has expressions (those are not compared for overlap)."""
    if ix['exprs']:
        return None
    n = ix['nkeyatts']
    return (ix['indkey'].split()[:n], ix['opclasses'].split()[:n], ix['options'].split()[:n])


def find_overlapping(indexes):
    """A non-unique index whose key columns (with opclass and order) are a
    strict leading prefix of another full index's on the same table serves
    no query the longer one cannot."""
    found = []
    for short in indexes:
        short_key = _key_columns(short)
        if (short_key is None or short['unique'] or short['predicate'] or short['constraint']
                or not short['valid']):
            continue
        for long in indexes:
            long_key = _key_columns(long)
            if (long is short or long_key is None or long['predicate'] or not long['valid']
                    or (long['schema'], long['table'], long['method'])
                    != (short['schema'], short['table'], short['method'])):
                continue
            n = len(short_key[0])
            if len(long_key[0]) > n and all(long_key[k][:n] == short_key[k] for k in range(3)):
                found.append(dict(schema=short['schema'], table=short['table'], index=short['index'],
                                  size=short['size'], covered_by=long['index']))
                break
    return found


def find_invalid(indexes):
    return [_brief(ix) for ix in indexes if not ix['valid']]


def find_bloat(cur, args):
    cur.execute(BLOAT_SQL, args)
    keys = ('schema', 'table', 'index', 'size', 'bloat_size', 'bloat_percent', 'stats_unreliable')
    return [dict(zip(keys, row)) for row in cur.fetchall()]


def find_seq_scan_heavy(cur, args):
    cur.execute(SEQ_SCAN_SQL, args)
    keys = ('schema', 'table', 'seq_scan', 'idx_scan', 'seq_tup_read', 'live_rows')
    return [dict(zip(keys, row)) for row in cur.fetchall()]


def top_statements(cur, tables, limit):
    """Statements mentioning each table, by total time; None when
    pg_stat_statements cannot be read in this database."""
    cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
    if cur.fetchone() is None:
        return None
    modern = server_version_num(cur) >= 130000
    sql = STATEMENTS_SQL % dict(total='total_exec_time' if modern else 'total_time',
                                mean='mean_exec_time' if modern else 'mean_time')
    keys = ('queryid', 'calls', 'total_ms', 'mean_ms', 'rows', 'query')
    found = {}
    try:
        for table in tables:
            # word boundaries, so sale_order does not match sale_order_line
            pattern = r'\m%s\M' % re.escape(table['table'])
            cur.execute(sql, dict(pattern=pattern, limit=limit))
            found['%s.%s' % (table['schema'], table['table'])] = [dict(zip(keys, r)) for r in cur.fetchall()]
    except psycopg2.Error:
        # installed but not preloaded: the view cannot be read
        return None
    return found


def render_text(report, dbname):
    mb = 1024.0 * 1024.0
    lines = ['Index report for database %s%s (statistics since %s)' % (
        dbname, ' on a standby' if report['standby'] else '', report['stats_reset'] or 'cluster start')]
    consulted = [r['name'] for r in report['replicas'] if r['consulted']]
    if consulted:
        lines.append('Index scans summed over primary and %s' % ', '.join(consulted))
    if report['replicas_not_consulted']:
        lines.append('Replicas NOT consulted (their reads are not counted, "unused" may be wrong): %s'
                     % ', '.join(report['replicas_not_consulted']))

    def section(title, rows, fmt):
        lines.append('')
        lines.append('%s: %d' % (title, len(rows)))
        lines.extend('  ' + fmt(r) for r in rows)

    section('Unused indexes', report['unused'],
            lambda r: '%s.%s on %s: %.1f MB, never scanned on %s%s' % (
                r['schema'], r['index'], r['table'], r['size'] / mb, ', '.join(sorted(r['scans_by_server'])),
                ' (not consulted: %s)' % ', '.join(r['replicas_not_consulted'])
                if r['replicas_not_consulted'] else ''))
    section('Duplicate indexes', report['duplicate'],
            lambda r: '%s.%s: %s are identical' % (r['schema'], r['table'], ', '.join(r['indexes'])))
    section('Overlapping indexes', report['overlapping'],
            lambda r: '%s.%s on %s: a prefix of %s' % (r['schema'], r['index'], r['table'], r['covered_by']))
    section('Invalid indexes', report['invalid'],
            lambda r: '%s.%s on %s: INVALID, rebuild or drop it' % (r['schema'], r['index'], r['table']))
    section('Bloated B-tree indexes (estimate)', report['bloat'],
            lambda r: '%s.%s on %s: %.1f MB, ~%.0f%% bloat%s' % (
                r['schema'], r['index'], r['table'], r['size'] / mb, r['bloat_percent'],
                ' (statistics unreliable)' if r['stats_unreliable'] else ''))
    section('Sequential-scan heavy tables', report['seq_scan_heavy'],
            lambda r: '%s.%s: %d seq scans vs %d index scans, %d rows' % (
                r['schema'], r['table'], r['seq_scan'], r['idx_scan'], r['live_rows']))
    if report['top_statements']:
        lines.append('')
        lines.append('Top statements on those tables (pg_stat_statements):')
        for table, statements in sorted(report['top_statements'].items()):
            for st in statements:
                lines.append('  %s: %s ms total, %s calls: %s' % (table, st['total_ms'], st['calls'], st['query']))
    return '\n'.join(lines) + '\n'


def build_report(cur, params, replicas=()):
    """replicas: read_replica() results."""
    args = dict(schemas=params['schemas'], min_size=params['min_size'],
                bloat_min_percent=params['bloat_min_percent'],
                seq_scan_min_rows=params['seq_scan_min_rows'],
                seq_scan_min_count=params['seq_scan_min_count'])
    indexes = collect_indexes(cur, args)
    not_consulted = [r['name'] for r in replicas if not r['consulted']]
    if not replicas:
        cur.execute(STANDBYS_SQL)
        not_consulted = [row[0] for row in cur.fetchall()]
    add_replica_scans(indexes, replicas, not_consulted)
    seq_heavy = find_seq_scan_heavy(cur, args)
    statements = top_statements(cur, seq_heavy, params['top_statements'])
    cur.execute(STATS_RESET_SQL)
    stats_reset = cur.fetchone()[0]
    return dict(unused=find_unused(indexes, params['min_size']), duplicate=find_duplicates(indexes),
                overlapping=find_overlapping(indexes), invalid=find_invalid(indexes),
                bloat=find_bloat(cur, args), seq_scan_heavy=seq_heavy,
                top_statements=statements or {}, pg_stat_statements=statements is not None,
                stats_reset=stats_reset, standby=in_recovery(cur),
                replicas=[dict((k, r[k]) for k in ('name', 'consulted', 'error', 'standby', 'stats_reset'))
                          for r in replicas],
                replicas_not_consulted=not_consulted)


def main():
    argument_spec = pg_connection_argument_spec()
    argument_spec.update(
        schemas=dict(type='list', elements='str', default=[]),
        min_size=dict(type='int', default=1048576),
        bloat_min_percent=dict(type='float', default=30),
        seq_scan_min_rows=dict(type='int', default=10000),
        seq_scan_min_count=dict(type='int', default=10),
        top_statements=dict(type='int', default=5),
        replicas=dict(type='list', elements='dict', default=[], options=dict(
            name=dict(type='str'),
            login_host=dict(type='str'),
            login_port=dict(type='int'),
            login_user=dict(type='str'),
            login_password=dict(type='str', no_log=True),
            login_unix_socket=dict(type='str'),
            login_db=dict(type='str'),
            connect_timeout=dict(type='int'),
        )),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    conn = module_connect(module)
    replicas = [read_replica(module.params, replica) for replica in module.params['replicas']]
    for replica in replicas:
        if not replica['consulted']:
            module.warn('index report: replica %s not consulted, its index scans are not counted: %s'
                        % (replica['name'], replica['error']))
    try:
        cur = conn.cursor()
        # Read only, whatever the server's default says.
        cur.execute('SET default_transaction_read_only = on')
        report = build_report(cur, module.params, replicas)
    except psycopg2.Error as exc:
        module.fail_json(msg='index report: %s' % first_line(exc))
    finally:
        conn.close()
    if not module.params['replicas'] and report['replicas_not_consulted'] and report['unused']:
        module.warn('index report: "unused" counts this server\'s scans only; standbys streaming from it (%s) '
                    'were not consulted - list them in replicas' % ', '.join(report['replicas_not_consulted']))
    module.exit_json(changed=False, report=report, text=render_text(report, module.params['login_db']),
                     ansible_facts=dict(odoo_scale_index_report=report))


if __name__ == '__main__':
    main()
