# -*- coding: utf-8 -*-
# Range-partition maintenance for odoo-scale: pg_partman's core job (premake,
# retention, default partition) without an extension. Shared by the
# pg_partition Ansible module and the odoo-scale-partitions host timer, so it
# imports nothing from Ansible except the sibling odoo_scale_pg helpers.
# Copyright: odoo-scale contributors. GPL-3.0-or-later.
#
# Steps, locks and what other sessions see (PostgreSQL 14/15; each claim is
# exercised by tests/unit/test_pg_partition_safety.py):
#
# Every step is one statement or one explicit transaction. Every lock wait is
# bounded by lock_timeout; a step that hits it (or a deadlock) is rolled back
# and retried lock_retries times after a short pause, then the run fails and
# the next run starts over from the catalog. So an interrupted run leaves the
# state before or after a step, never half of one, plus at most a leftover
# table that carries a marker the next run looks for and finishes.
#
# * No default partition: CREATE TABLE p PARTITION OF parent FOR VALUES ...
#   ACCESS EXCLUSIVE on the parent for a catalog-only change (milliseconds;
#   queries on the parent queue behind it for at most lock_timeout).
#
# * With a default partition, each new partition p takes two steps.
#   1. "prepare", one transaction: CREATE TABLE p (LIKE parent INCLUDING ALL
#      EXCLUDING IDENTITY EXCLUDING INDEXES), a CHECK constraint equal to the
#      bounds (HELPER_CONSTRAINT) and the comment pending_marker(parent).
#      ACCESS SHARE on the parent only. p is outside the parent and empty.
#   2. "attach", one transaction, in one of two forms:
#      - the default partition holds no row of p's range (premake):
#        LOCK ONLY parent IN SHARE ROW EXCLUSIVE, LOCK default IN ACCESS
#        EXCLUSIVE, check that no row of the range is in the default (if one
#        arrived since planning: ROLLBACK and take the second form), ATTACH,
#        drop the CHECK and the marker, COMMIT. SHARE ROW EXCLUSIVE, not
#        ATTACH's own SHARE UPDATE EXCLUSIVE, because it conflicts with the
#        ROW EXCLUSIVE lock of INSERT/UPDATE/DELETE/COPY on the parent: a
#        writer that routed its row with the partition list from before the
#        attach would send it to the default partition and fail with
#        "violates partition constraint" once the attach commits. Here writers
#        wait and route to p. Readers keep reading; those that scan the
#        default wait for the commit and read the same rows (p is empty).
#      - rows of the range are in the default partition: LOCK ONLY parent IN
#        ACCESS EXCLUSIVE, LOCK default IN ACCESS EXCLUSIVE, SET LOCAL
#        session_replication_role = replica, WITH moved AS (DELETE FROM
#        default ... RETURNING ...) INSERT INTO p ..., SET LOCAL
#        session_replication_role = DEFAULT, ATTACH, drop the CHECK and the
#        marker, COMMIT.
#        ACCESS EXCLUSIVE on the parent is what keeps the rows visible: a
#        query takes its list of partitions under ACCESS SHARE on the parent
#        and locks the partitions afterwards; under any weaker lock a reader
#        that listed the partitions before the commit (no p), waited for the
#        default partition and took its snapshot after the commit would read
#        the default without the moved rows and never read p. For the same
#        reason the rows move in the attach transaction itself: rows
#        committed out of the default partition before the attach commits
#        are invisible through the parent in between, and for good if the
#        attach fails. So readers and writers of the parent wait for this
#        transaction (the move of one partition's rows plus the attach) and
#        then see every row in p; the CHECK means ATTACH does not scan p, and
#        p's indexes are built by ATTACH after the rows are in.
#        session_replication_role = replica (a superuser, or GRANT SET ON
#        PARAMETER on 15) keeps ordinary and foreign-key triggers from
#        firing on the move: it is not a delete, so ON DELETE CASCADE / SET
#        NULL of tables referencing the parent do not touch their rows and a
#        plain foreign key does not refuse it; the same keys are in p when
#        the transaction commits, so no referencing row ever points at
#        nothing. Without that privilege a parent referenced by a foreign key
#        or with a DELETE trigger on the default partition is refused before
#        any change; triggers enabled ALWAYS or REPLICA, which fire even under
#        replica, are refused in any case.
#
# * Retention, per partition past the boundary:
#   - no default partition, PostgreSQL >= 14: COMMENT ON TABLE p IS
#     retire_marker(parent) (SHARE UPDATE EXCLUSIVE on p), then ALTER TABLE
#     parent DETACH PARTITION p CONCURRENTLY (SHARE UPDATE EXCLUSIVE on the
#     parent: reads and writes go on; not allowed in a transaction block,
#     nor when a default partition exists), then DROP TABLE p, or (kept)
#     SET SCHEMA and the marker removed, in one transaction. A run stopped
#     after the detach leaves a plain table with the marker: the next run
#     drops or moves it (after checking it holds no row younger than the
#     boundary). Stopped inside the detach, p is "detach pending": FINALIZE.
#   - otherwise (a default partition exists, or PostgreSQL 13): one
#     transaction: DETACH PARTITION p (ACCESS EXCLUSIVE on the parent and on
#     the default partition; queries on the parent wait for milliseconds),
#     DROP TABLE p or SET SCHEMA, COMMIT.
#   - a pending detach past retention: one transaction: DETACH PARTITION p
#     FINALIZE (SHARE UPDATE EXCLUSIVE on the parent), DROP or SET SCHEMA.
#
# SQL text: identifiers are always quoted (quote_ident), literals always come
# from _literal(), which is correct with standard_conforming_strings on or
# off. No string reaches the server as a psycopg2 parameter: psycopg2
# decides at connect time whether its quoting needs E'', and a session
# whose standard_conforming_strings changes later (odoo_scale_pg.connect()
# sets it on) would get a backslash-quote that ends the literal. Queries
# that take parameters (oids only) never have an identifier formatted into
# them, so a % in a name is never read as a placeholder. The raw SQL
# of create_parent must lex as a fragment of one statement (no ; -- /* $ or
# backslash outside quotes, balanced parentheses) or it is refused.
# Planning (and check mode, all of it) runs inside one transaction that is
# rolled back; create_parent is tried there under a savepoint.

from __future__ import annotations

import calendar
import datetime as _dt
import json
import re
import time

try:  # in the collection (odoo_scale.stack), or as ansible.module_utils' sibling
    from .odoo_scale_pg import (
        IdentifierError, MAX_IDENTIFIER_BYTES, check_identifier, check_timeout, connect,
        first_line, in_recovery, quote_ident, quote_qualified,
        server_version_num, set_timeouts)
except ImportError:  # standalone (timer): files side by side in /usr/local/lib/odoo-scale
    from odoo_scale_pg import (  # type: ignore[no-redef]
        IdentifierError, MAX_IDENTIFIER_BYTES, check_identifier, check_timeout, connect,
        first_line, in_recovery, quote_ident, quote_qualified,
        server_version_num, set_timeouts)

INTERVALS = ('day', 'week', 'month', 'quarter', 'year')
RETENTION_MODES = ('drop', 'detach')
COLUMN_TYPES = ('date', 'timestamp without time zone', 'timestamp with time zone')

DEFAULT_NAME_PATTERNS = {
    'day': '{parent}_p{YYYY}_{MM}_{DD}',
    'week': '{parent}_p{IYYY}w{IW}',
    'month': '{parent}_p{YYYY}_{MM}',
    'quarter': '{parent}_p{YYYY}q{Q}',
    'year': '{parent}_p{YYYY}',
}
NAME_TOKENS = ('parent', 'YYYY', 'MM', 'DD', 'Q', 'IYYY', 'IW')

# Name of the temporary CHECK constraint that proves a new partition's
# bounds before ATTACH. A plain table carrying it is our own leftover from
# an interrupted run, and the next run resumes it.
HELPER_CONSTRAINT = 'odoo_scale_partition_bounds'
MARKER_PREFIX = 'odoo-scale pg_partition: '

# A spec that would create more partitions than this in one run is almost
# certainly a mistake (a day interval over decades of data).
MAX_CREATE = 5000

# SQLSTATEs after which a step is rolled back and tried again:
# lock_not_available (lock_timeout) and deadlock_detected.
RETRY_SQLSTATES = ('55P03', '40P01')

SPEC_DEFAULTS = dict(
    schema='public',
    parent=None,
    column=None,
    interval='month',
    premake=4,
    retention=None,
    retention_mode='drop',
    retention_schema=None,
    name_pattern=None,
    default_partition=True,
    create_parent=None,
    move_batch_size=10000,
    lock_timeout='5s',
    lock_retries=3,
    now=None,
    timezone='UTC',
)


class PartitionError(Exception):
    """A one-line, user-facing failure: bad input or a refused operation."""


class ApplyError(Exception):
    """A statement failed while applying (lock_timeout, a concurrent change):
    carries the statements that did run, so callers can report them."""

    def __init__(self, msg, queries, changed):
        Exception.__init__(self, msg)
        self.queries = queries
        self.changed = changed


# ---------------------------------------------------------------- dates ---

def add_months(d, months):
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    day = min(d.day, calendar.monthrange(y, m)[1])
    return d.replace(year=y, month=m, day=day)


def floor_to(dt, interval):
    """Start of the interval holding dt (week starts Monday, quarters on
    Jan/Apr/Jul/Oct)."""
    d = _dt.datetime(dt.year, dt.month, dt.day)
    if interval == 'day':
        return d
    if interval == 'week':
        return d - _dt.timedelta(days=d.weekday())
    if interval == 'month':
        return d.replace(day=1)
    if interval == 'quarter':
        return d.replace(month=3 * ((d.month - 1) // 3) + 1, day=1)
    if interval == 'year':
        return d.replace(month=1, day=1)
    raise PartitionError('unknown interval %r' % interval)


def step(d, interval, n=1):
    if interval == 'day':
        return d + _dt.timedelta(days=n)
    if interval == 'week':
        return d + _dt.timedelta(days=7 * n)
    if interval == 'month':
        return add_months(d, n)
    if interval == 'quarter':
        return add_months(d, 3 * n)
    if interval == 'year':
        return add_months(d, 12 * n)
    raise PartitionError('unknown interval %r' % interval)


_RETENTION_RE = re.compile(
    r'^\s*(\d+)\s*(d|days?|w|weeks?|mons?|months?|quarters?|y|years?)\s*$', re.I)
_UNIT = {'d': 'day', 'day': 'day', 'days': 'day', 'w': 'week', 'week': 'week', 'weeks': 'week',
         'mon': 'month', 'mons': 'month', 'month': 'month', 'months': 'month',
         'quarter': 'quarter', 'quarters': 'quarter', 'y': 'year', 'year': 'year', 'years': 'year'}


def parse_retention(value):
    """'90 days', '12 months', '2 years', '8 weeks', '4 quarters' -> (n, unit)."""
    if value is None or (isinstance(value, str) and value.strip() == ''):
        return None
    m = _RETENTION_RE.match(str(value))
    if not m or int(m.group(1)) <= 0:
        raise PartitionError('retention %r is not an age such as "90 days", "12 months" or "2 years"'
                             % (value,))
    return int(m.group(1)), _UNIT[m.group(2).lower()]


def retention_boundary(now, retention):
    n, unit = retention
    return step(now, unit, -n)


def parse_now(value):
    if value is None or value == '':
        return None
    if isinstance(value, _dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day)
    text = str(value).strip().replace('T', ' ')
    for fmt in ('%Y-%m-%d', '%Y-%m-%d %H:%M', '%Y-%m-%d %H:%M:%S'):
        try:
            return _dt.datetime.strptime(text, fmt)
        except ValueError:
            pass
    raise PartitionError('now %r is not a date such as 2026-11-23 or 2026-11-23 10:00' % (value,))


_BOUND_RE = re.compile(r"^FOR VALUES FROM \((.+)\) TO \((.+)\)$")
_LIT_RE = re.compile(r"^'(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?)?[^']*'$")


def parse_bound_literal(text):
    """A literal from pg_get_expr(relpartbound) -> naive datetime in the
    session time zone; None for MINVALUE/MAXVALUE/infinity (unmanaged)."""
    m = _LIT_RE.match(text.strip())
    if not m:
        return None
    y, mo, d, hh, mi, ss, frac = m.groups()
    us = int((frac or '0')[:6].ljust(6, '0'))
    return _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), us)


def parse_range_bound(expr):
    m = _BOUND_RE.match(expr or '')
    if not m:
        return None, None
    return parse_bound_literal(m.group(1)), parse_bound_literal(m.group(2))


# ---------------------------------------------------------------- specs ---

def partition_name(pattern, parent, lower):
    iso = lower.isocalendar()
    tokens = dict(parent=parent, YYYY='%04d' % lower.year, MM='%02d' % lower.month,
                  DD='%02d' % lower.day, Q=str((lower.month - 1) // 3 + 1),
                  IYYY='%04d' % iso[0], IW='%02d' % iso[1])
    try:
        return pattern.format(**tokens)
    except (KeyError, IndexError, ValueError) as exc:
        raise PartitionError('name_pattern %r: unknown or malformed token %s (tokens: %s)'
                             % (pattern, exc, ', '.join('{%s}' % t for t in NAME_TOKENS)))


def _int_option(spec, key, label, minimum):
    value = spec[key]
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number < minimum or str(value).strip() != str(number):
        raise PartitionError('%s: %s must be an integer >= %d, got %r' % (label, key, minimum, value))
    return number


def normalize_spec(raw, defaults=None):
    """Merge defaults and validate one table spec; raises PartitionError with
    a one-line message. Touches no database."""
    spec = dict(SPEC_DEFAULTS)
    for src in (defaults or {}), (raw or {}):
        for key, val in src.items():
            if key not in SPEC_DEFAULTS:
                raise PartitionError('unknown table option %r (known: %s)'
                                     % (key, ', '.join(sorted(SPEC_DEFAULTS))))
            if val is not None:
                spec[key] = val
    try:
        if not spec['parent']:
            raise PartitionError('parent is required')
        label = '%s.%s' % (spec['schema'], spec['parent'])
        check_identifier(spec['schema'], 'schema')
        check_identifier(spec['parent'], 'parent')
        if not spec['column']:
            raise PartitionError('%s: column is required' % label)
        check_identifier(spec['column'], 'column')
        interval = str(spec['interval']).strip().lower()
        if interval not in INTERVALS:
            raise PartitionError('%s: unknown interval %r (one of %s)'
                                 % (label, spec['interval'], ', '.join(INTERVALS)))
        spec['interval'] = interval
        spec['premake'] = _int_option(spec, 'premake', label, 1)
        try:
            spec['retention_parsed'] = parse_retention(spec['retention'])
        except PartitionError as exc:
            raise PartitionError('%s: %s' % (label, exc))
        if spec['retention_mode'] not in RETENTION_MODES:
            raise PartitionError('%s: retention_mode %r is not one of %s'
                                 % (label, spec['retention_mode'], ', '.join(RETENTION_MODES)))
        if spec['retention_schema']:
            check_identifier(spec['retention_schema'], 'retention_schema')
        # Kept for compatibility: rows now move in the attach transaction
        # (see the header), so this no longer splits anything.
        spec['move_batch_size'] = _int_option(spec, 'move_batch_size', label, 1)
        spec['lock_retries'] = _int_option(spec, 'lock_retries', label, 0)
        try:
            spec['lock_timeout'] = check_timeout(spec['lock_timeout'], 'lock_timeout')
        except ValueError as exc:
            raise PartitionError('%s: %s' % (label, exc))
        spec['now_parsed'] = parse_now(spec['now'])
        if not spec['name_pattern']:
            spec['name_pattern'] = DEFAULT_NAME_PATTERNS[interval]
        # Fail on unknown tokens now, before anything touches the database.
        partition_name(spec['name_pattern'], spec['parent'], _dt.datetime(2026, 1, 1))
        if not re.match(r'^[A-Za-z0-9_/+:-]+$', str(spec['timezone'])):
            raise PartitionError('%s: timezone %r is not a time zone name' % (label, spec['timezone']))
        spec['default_partition'] = _boolish(spec['default_partition'], 'default_partition', label)
        spec['create_parent_sql'] = create_parent_body(spec['create_parent'], label) \
            if spec['create_parent'] else None
    except IdentifierError as exc:
        raise PartitionError(str(exc))
    spec['label'] = label
    return spec


def _boolish(value, what, label):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ('1', 'true', 'yes', 'on'):
        return True
    if text in ('0', 'false', 'no', 'off'):
        return False
    raise PartitionError('%s: %s must be a boolean, got %r' % (label, what, value))


def create_parent_body(value, label):
    """create_parent: a string of column definitions, or a list whose items
    are {name:, type:} dicts (name quoted, type taken as SQL) or strings
    (raw definitions, e.g. 'PRIMARY KEY (id, recorded_at)'). The result must
    lex as the inside of one CREATE TABLE (...) or it is refused."""
    if isinstance(value, str):
        if not value.strip():
            raise PartitionError('%s: create_parent is empty' % label)
        body = value.strip()
    else:
        if isinstance(value, dict):
            value = value.get('columns')
        if not isinstance(value, (list, tuple)) or not value:
            raise PartitionError('%s: create_parent must be a string or a list of column definitions' % label)
        parts = []
        for item in value:
            if isinstance(item, dict):
                if not item.get('name') or not item.get('type'):
                    raise PartitionError('%s: create_parent entry %r needs name and type' % (label, item))
                parts.append('%s %s' % (quote_ident(str(item['name']), 'column'), str(item['type']).strip()))
            elif isinstance(item, str) and item.strip():
                parts.append(item.strip())
            else:
                raise PartitionError('%s: create_parent entry %r is neither a string nor {name, type}'
                                     % (label, item))
        body = ', '.join(parts)
    problem = sql_fragment_problem(body)
    if problem:
        raise PartitionError('%s: create_parent refused: %s (it must be column and constraint '
                             'definitions inside one CREATE TABLE)' % (label, problem))
    return body


def sql_fragment_problem(text):
    """Why `text` could be more than a fragment inside the parentheses of
    one statement, or None. Outside '...' and "..." it refuses ; (a second
    statement), -- and /* (comments that could hide the rest), $ (dollar
    quoting) and an unbalanced ); a backslash anywhere (its meaning in a
    literal depends on standard_conforming_strings and E'' strings)."""
    if '\x00' in text:
        return 'a NUL byte'
    if '\\' in text:
        return 'a backslash'
    depth = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in ("'", '"'):
            j = i + 1
            while True:
                k = text.find(ch, j)
                if k < 0:
                    return 'an unterminated %s' % ('string literal' if ch == "'" else 'quoted identifier')
                if k + 1 < n and text[k + 1] == ch:
                    j = k + 2
                    continue
                break
            i = k + 1
            continue
        if ch == ';':
            return 'a semicolon outside quotes'
        if text.startswith('--', i) or text.startswith('/*', i):
            return 'a comment marker outside quotes'
        if ch == '$':
            return 'a $ outside quotes (dollar quoting)'
        if ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
            if depth < 0:
                return 'a ) closing the CREATE TABLE parentheses'
        i += 1
    if depth:
        return 'an unclosed ('
    return None


def normalize_specs(tables=None, single=None, defaults=None):
    """The list of table specs from `tables:` (entries override `defaults`)
    or from one table given by top-level options."""
    specs = []
    if tables:
        for entry in tables:
            if not isinstance(entry, dict):
                raise PartitionError('tables entries must be dicts, got %r' % (entry,))
            specs.append(normalize_spec(entry, defaults))
    elif single:
        specs.append(normalize_spec(single, defaults))
    else:
        raise PartitionError('nothing to do: give parent (and column) or a tables list')
    seen = set()
    for spec in specs:
        key = (spec['schema'], spec['parent'])
        if key in seen:
            raise PartitionError('%s appears twice in tables' % spec['label'])
        seen.add(key)
    return specs


# ------------------------------------------------------------ SQL text ---

def _literal(value):
    """A SQL string literal that means the same with standard_conforming_strings
    on or off: with a backslash in it, an E'' literal with backslashes doubled
    (what PostgreSQL's quote_literal() returns)."""
    text = str(value)
    if '\x00' in text:
        raise PartitionError('literal %r contains a NUL byte' % text)
    body = text.replace("'", "''")
    if '\\' in text:
        return "E'" + body.replace('\\', '\\\\') + "'"
    return "'" + body + "'"


def pending_marker(schema, parent):
    """Comment on a new partition table made but not yet attached."""
    return MARKER_PREFIX + 'attaching to ' + quote_qualified(schema, parent)


def retire_marker(schema, parent):
    """Comment on a partition being retired (detached, then dropped or moved)."""
    return MARKER_PREFIX + 'retiring from ' + quote_qualified(schema, parent)


def fmt_bound(dt, coltype):
    if coltype == 'date':
        return _literal(dt.strftime('%Y-%m-%d'))
    return _literal(dt.strftime('%Y-%m-%d %H:%M:%S'))


def range_predicate(col_q, lo, hi, coltype):
    return '%s >= %s AND %s < %s' % (col_q, fmt_bound(lo, coltype), col_q, fmt_bound(hi, coltype))


class Partition:
    __slots__ = ('oid', 'schema', 'name', 'lower', 'upper', 'is_default', 'pending', 'raw')

    def __init__(self, oid, schema, name, expr, pending=False):
        self.oid = oid
        self.schema = schema
        self.name = name
        self.raw = expr
        self.pending = pending
        self.is_default = expr == 'DEFAULT'
        self.lower, self.upper = (None, None) if self.is_default else parse_range_bound(expr)


# ------------------------------------------------------------- planning ---

class TablePlan:
    """What one spec needs: computed read-only, applied later."""

    def __init__(self, spec):
        self.spec = spec
        self.parent_q = quote_qualified(spec['schema'], spec['parent'], 'parent')
        self.col_q = quote_ident(spec['column'], 'column')
        self.coltype = None
        self.create_parent = False
        self.columns = []            # insertable columns (for row moves)
        self.default = None          # Partition or None
        self.create_default = False
        self.to_create = []          # dicts: name, lower, upper, rows, mode ('partition_of'|'attach'), resume, lock
        self.to_expire = []          # dicts: partition, action, method ('concurrent'|'plain'|'finalize')
        self.orphans = []            # dicts: schema, name, action: retired tables a run left behind
        self.stale = []              # (schema, name): empty pending-attach tables no longer wanted
        self.refused = []
        self.skipped = []
        self.unchanged = 0
        self.now = None
        self.boundary = None
        self.replica_ok = False      # may SET session_replication_role
        self.move_refusal = None     # why rows may not be moved out of the default, or None
        self.plan_ms = 0.0

    @property
    def changes(self):
        return bool(self.create_parent or self.create_default or self.to_create
                    or self.to_expire or self.orphans or self.stale)


def _fetchone(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()


def _in_transaction(cur):
    # psycopg2: 0 idle, 1 active, 2 in transaction, 3 in error, 4 unknown.
    return cur.connection.get_transaction_status() in (1, 2, 3)


def plan_table(cur, spec, server_version):
    t0 = time.monotonic()
    plan = TablePlan(spec)
    label = spec['label']
    iv = spec['interval']

    row = _fetchone(cur, 'SELECT to_regclass(%s)::oid' % _literal(plan.parent_q))
    parent_oid = row[0]
    if parent_oid is None:
        if not spec['create_parent_sql']:
            raise PartitionError('%s does not exist (set create_parent to create it)' % label)
        # Validate the DDL and the key column by really creating the parent
        # inside a transaction (or savepoint) rolled back: nothing is left.
        nested = _in_transaction(cur)
        cur.execute('SAVEPOINT odoo_scale_plan' if nested else 'BEGIN')
        try:
            try:
                cur.execute(create_parent_sql(plan))
            except Exception as exc:
                raise PartitionError('%s: create_parent failed: %s' % (label, first_line(exc)))
            parent_oid = _fetchone(cur, 'SELECT to_regclass(%s)::oid' % _literal(plan.parent_q))[0]
            _inspect_parent(cur, plan, parent_oid)
        finally:
            if nested:
                cur.execute('ROLLBACK TO SAVEPOINT odoo_scale_plan')
                cur.execute('RELEASE SAVEPOINT odoo_scale_plan')
            else:
                cur.execute('ROLLBACK')
        plan.create_parent = True
        partitions = []
    else:
        _inspect_parent(cur, plan, parent_oid)
        partitions = _list_partitions(cur, parent_oid, server_version)

    # "now" in the configured time zone, from the server clock unless fixed.
    if spec['now_parsed'] is not None:
        now = spec['now_parsed']
    else:
        now = _fetchone(cur, 'SELECT LOCALTIMESTAMP')[0]
    plan.now = now
    cur_start = floor_to(now, iv)
    end = step(cur_start, iv, spec['premake'] + 1)

    for p in partitions:
        if p.is_default:
            plan.default = p
    ranged = [p for p in partitions if not p.is_default]

    # Rows of the default partition, bucketed by interval: one scan.
    buckets = {}
    if plan.default is not None:
        dq = quote_qualified(plan.default.schema, plan.default.name)
        if _fetchone(cur, 'SELECT EXISTS (SELECT 1 FROM %s)' % dq)[0]:
            cur.execute('SELECT date_trunc(%s, %s::timestamp), count(*) FROM %s WHERE %s IS NOT NULL GROUP BY 1'
                        % (_literal(iv), plan.col_q, dq, plan.col_q))
            for b, n in cur.fetchall():
                buckets[b] = n
        _plan_move_rights(cur, plan, parent_oid, server_version)

    if spec['retention_parsed']:
        plan.boundary = retention_boundary(now, spec['retention_parsed'])
        start = floor_to(plan.boundary, iv)
    else:
        start = cur_start
        if buckets:
            start = min(start, floor_to(min(buckets), iv))

    # A DETACH ... CONCURRENTLY interrupted half-way leaves the partition
    # "detach pending". Past retention it was ours: FINALIZE it (below).
    # Otherwise someone else is detaching it: leave it alone, and do not
    # re-create its range under the same name.
    finalize = []
    for p in ranged:
        if not p.pending:
            continue
        if plan.boundary is not None and p.upper is not None and p.upper <= plan.boundary:
            finalize.append(p)
        else:
            plan.skipped.append(dict(range=[str(p.lower), str(p.upper)],
                                     reason='%s.%s is being detached (detach pending); left alone'
                                     % (p.schema, p.name)))

    # Partitions the spec wants: [start, end) in interval steps.
    wanted = []
    lo = start
    while lo < end:
        hi = step(lo, iv)
        wanted.append((lo, hi))
        lo = hi
        if len(wanted) > MAX_CREATE:
            raise PartitionError('%s: more than %d partitions would be needed from %s to %s; '
                                 'use a coarser interval or a retention' % (label, MAX_CREATE, start, end))

    live = [p for p in ranged if p not in finalize]
    exact = {(p.lower, p.upper) for p in live}
    names = {}
    for lo, hi in wanted:
        if (lo, hi) in exact:
            plan.unchanged += 1
            continue
        clash = [p for p in live if _overlaps(p, lo, hi)]
        if clash:
            plan.skipped.append(dict(range=[str(lo), str(hi)], reason='overlaps existing partition %s.%s'
                                     % (clash[0].schema, clash[0].name)))
            continue
        name = partition_name(spec['name_pattern'], spec['parent'], lo)
        nbytes = len(name.encode('utf-8'))
        if nbytes > MAX_IDENTIFIER_BYTES:
            raise PartitionError('%s: partition name %r would be %d bytes, over PostgreSQL\'s %d-byte '
                                 'limit; use a shorter parent name or name_pattern'
                                 % (label, name, nbytes, MAX_IDENTIFIER_BYTES))
        if name in names:
            raise PartitionError('%s: name_pattern %r gives the same name %r to %s and %s'
                                 % (label, spec['name_pattern'], name, names[name], lo))
        names[name] = lo
        rows = buckets.get(lo, 0)
        plan.to_create.append(dict(name=name, lower=lo, upper=hi, rows=rows, resume=False,
                                   mode='attach' if (plan.default is not None) else 'partition_of',
                                   lock='move' if rows else 'share'))

    if spec['default_partition'] and plan.default is None:
        dname = spec['parent'] + '_default'
        if len(dname.encode('utf-8')) > MAX_IDENTIFIER_BYTES:
            raise PartitionError('%s: default partition name %r is over PostgreSQL\'s %d-byte limit'
                                 % (label, dname, MAX_IDENTIFIER_BYTES))
        if not plan.create_parent:
            _check_free_name(cur, spec['schema'], dname, label)
        plan.create_default = True

    # Names already taken: our own leftovers are resumed, anything else refused.
    if not plan.create_parent:
        for item in plan.to_create:
            state = _name_state(cur, spec['schema'], item['name'])
            if state is None:
                continue
            if state == 'leftover':
                item['resume'] = True
                item['mode'] = 'attach'
                # A leftover of an older version may hold rows: attaching it
                # under the full lock keeps them visible the moment it lands.
                if plan.default is None or _fetchone(cur, 'SELECT EXISTS (SELECT 1 FROM %s)'
                                                     % quote_qualified(spec['schema'], item['name']))[0]:
                    item['lock'] = 'move'
            else:
                raise PartitionError('%s: relation %s.%s already exists and is not a partition of %s'
                                     % (label, spec['schema'], item['name'], spec['parent']))
        # Tables a run made for this parent and did not attach, for a range
        # no longer wanted: dropped when empty, reported otherwise.
        resumed = {(spec['schema'], i['name']) for i in plan.to_create if i['resume']}
        for oid, schema, name, is_part in _marked_tables(cur, pending_marker(spec['schema'], spec['parent'])):
            if is_part or (schema, name) in resumed:
                continue
            if _fetchone(cur, 'SELECT EXISTS (SELECT 1 FROM %s)' % quote_qualified(schema, name))[0]:
                plan.skipped.append(dict(range=None, reason='%s.%s was made for a partition no longer wanted '
                                         'and holds rows; left alone' % (schema, name)))
            else:
                plan.stale.append((schema, name))

    moving = [i for i in plan.to_create if i['mode'] == 'attach' and i['lock'] == 'move'
              and (i['rows'] or not i['resume'])]
    if plan.move_refusal and any(i['rows'] for i in moving):
        raise PartitionError('%s: rows in the default partition cannot be moved: %s'
                             % (label, plan.move_refusal))

    # Retention.
    if plan.boundary is not None or not plan.create_parent:
        concurrent = server_version >= 140000 and plan.default is None and not plan.create_default
        for p in ranged:
            if p.upper is None or plan.boundary is None or p.upper > plan.boundary:
                continue
            if p.pending and p not in finalize:
                continue
            method = 'finalize' if p.pending else ('concurrent' if concurrent else 'plain')
            entry = dict(partition=p, action=spec['retention_mode'], method=method,
                         concurrent=(method == 'concurrent'))
            if spec['retention_mode'] == 'drop':
                reason = _young_rows(cur, plan, quote_qualified(p.schema, p.name))
                if reason:
                    plan.refused.append(dict(partition='%s.%s' % (p.schema, p.name), reason=reason))
                    continue
            elif spec['retention_schema'] and spec['retention_schema'] != p.schema:
                _check_free_name(cur, spec['retention_schema'], p.name, label)
            plan.to_expire.append(entry)
        if not plan.create_parent:
            _plan_orphans(cur, plan)
    plan.plan_ms = (time.monotonic() - t0) * 1000.0
    return plan


def _young_rows(cur, plan, table_q):
    mx = _fetchone(cur, 'SELECT max(%s)::timestamp FROM %s' % (plan.col_q, table_q))[0]
    if mx is not None and plan.boundary is not None and mx >= plan.boundary:
        return ('holds rows up to %s, younger than the retention boundary %s; not dropped'
                % (mx, plan.boundary))
    return None


def _plan_orphans(cur, plan):
    """Tables a run detached from this parent and did not finish with."""
    spec = plan.spec
    for oid, schema, name, is_part in _marked_tables(cur, retire_marker(spec['schema'], spec['parent'])):
        if is_part:
            continue   # still (or again) a partition: handled by retention
        table_q = quote_qualified(schema, name)
        action = spec['retention_mode'] if plan.boundary is not None else 'detach'
        if action == 'drop':
            reason = _young_rows(cur, plan, table_q)
            if reason:
                plan.refused.append(dict(partition='%s.%s' % (schema, name), reason=reason))
                continue
        elif spec['retention_schema'] and spec['retention_schema'] != schema:
            _check_free_name(cur, spec['retention_schema'], name, spec['label'])
        plan.orphans.append(dict(schema=schema, name=name, action=action))


def _plan_move_rights(cur, plan, parent_oid, server_version):
    """May this session move rows out of the default partition without a
    DELETE that triggers or foreign keys act on? Sets plan.replica_ok and
    plan.move_refusal (used only if rows have to move)."""
    if server_version >= 150000:
        plan.replica_ok = bool(_fetchone(
            cur, "SELECT has_parameter_privilege('session_replication_role', 'SET')")[0])
    else:
        plan.replica_ok = bool(_fetchone(
            cur, 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')[0])
    # Triggers on the default partition that a DELETE fires (tgtype bit 8).
    cur.execute("""
        SELECT t.tgname, t.tgenabled, t.tgisinternal, k.conname
          FROM pg_trigger t LEFT JOIN pg_constraint k ON k.oid = t.tgconstraint
         WHERE t.tgrelid = %s AND (t.tgtype & 8) <> 0 AND t.tgenabled <> 'D'
         ORDER BY t.tgname""", (plan.default.oid,))
    triggers = cur.fetchall()
    dname = '%s.%s' % (plan.default.schema, plan.default.name)
    always = [t for t in triggers if t[1] in ('A', 'R')]
    if always:
        plan.move_refusal = ('trigger %s on %s fires on DELETE even with session_replication_role = '
                             'replica (enabled %s)' % (always[0][3] or always[0][0], dname,
                                                       'ALWAYS' if always[0][1] == 'A' else 'REPLICA'))
        return
    if plan.replica_ok:
        return
    cur.execute("""
        SELECT k.conname, k.conrelid::regclass::text FROM pg_constraint k
         WHERE k.contype = 'f' AND k.confrelid = %s AND k.conparentid = 0 ORDER BY 1""", (parent_oid,))
    fks = cur.fetchall()
    user = [t for t in triggers if not t[2]]
    if fks:
        why = 'foreign key %s of %s references the parent' % fks[0]
    elif user:
        why = 'trigger %s on %s fires on DELETE' % (user[0][0], dname)
    else:
        return
    plan.move_refusal = ('%s, and this role may not SET session_replication_role (superuser, or GRANT SET '
                         'ON PARAMETER session_replication_role) to move rows without firing it' % why)


def _overlaps(p, lo, hi):
    plo = p.lower if p.lower is not None else _dt.datetime.min
    phi = p.upper if p.upper is not None else _dt.datetime.max
    return plo < hi and lo < phi


def _inspect_parent(cur, plan, oid):
    spec = plan.spec
    label = spec['label']
    row = _fetchone(cur, """
        SELECT c.relkind, pt.partstrat, pt.partnatts, pt.partattrs[0]
          FROM pg_class c LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
         WHERE c.oid = %s""", (oid,))
    relkind, strat, natts, attnum = row
    if relkind != 'p':
        raise PartitionError('%s exists but is not a partitioned table; it cannot be converted in place'
                             % label)
    strat_name = {'r': 'range', 'l': 'list', 'h': 'hash'}.get(strat, strat)
    if strat != 'r':
        raise PartitionError('%s is partitioned by %s, not by range' % (label, strat_name))
    cur.execute("""
        SELECT attname, attnum, format_type(atttypid, NULL), attgenerated
          FROM pg_attribute
         WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum""", (oid,))
    cols = cur.fetchall()
    key = [c for c in cols if c[1] == attnum]
    if natts != 1 or not key:
        raise PartitionError('%s is partitioned by an expression or several columns, not by %s'
                             % (label, spec['column']))
    if key[0][0] != spec['column']:
        raise PartitionError('%s is partitioned by column %s, not by %s' % (label, key[0][0], spec['column']))
    coltype = key[0][2]
    if coltype not in COLUMN_TYPES:
        raise PartitionError('%s: column %s is of type %s; only date, timestamp and timestamptz are supported'
                             % (label, spec['column'], coltype))
    plan.coltype = coltype
    plan.columns = [c[0] for c in cols if not c[3]]


_PARTITIONS_SQL = """
    SELECT c.oid, n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid), {pending}
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE i.inhparent = %s
     ORDER BY c.relname"""


def _list_partitions(cur, parent_oid, server_version):
    pending = 'i.inhdetachpending' if server_version >= 140000 else 'false'
    cur.execute(_PARTITIONS_SQL.replace('{pending}', pending), (parent_oid,))
    return [Partition(*r) for r in cur.fetchall()]


def _marked_tables(cur, marker):
    cur.execute("""
        SELECT c.oid, n.nspname, c.relname, c.relispartition
          FROM pg_description d
          JOIN pg_class c ON c.oid = d.objoid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE d.classoid = 'pg_class'::regclass AND d.objsubid = 0 AND d.description = {}
           AND c.relkind = 'r'
         ORDER BY n.nspname, c.relname""".format(_literal(marker)))
    return cur.fetchall()


def _name_state(cur, schema, name):
    row = _fetchone(cur, """
        SELECT c.oid, c.relkind, c.relispartition,
               EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.conname = {})
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = {} AND c.relname = {}""".format(_literal(HELPER_CONSTRAINT), _literal(schema), _literal(name)))
    if row is None:
        return None
    if row[1] == 'r' and not row[2] and row[3]:
        return 'leftover'
    return 'taken'


def _check_free_name(cur, schema, name, label):
    row = _fetchone(cur, """
        SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = {} AND c.relname = {}""".format(_literal(schema), _literal(name)))
    if row:
        raise PartitionError('%s: relation %s.%s already exists' % (label, schema, name))


# ----------------------------------------------------------- statements ---

class Step:
    """One unit of work: a single statement (autocommit) or a transaction
    (stmts from BEGIN to COMMIT). An attach step has two forms (see the
    header): `stmts` is the planned one, `alt` the full-lock form it
    switches to when rows arrived in the range after planning."""

    def __init__(self, kind, stmts, item=None, tx=False, retry=True, alt=None):
        self.kind = kind
        self.stmts = stmts
        self.item = item
        self.tx = tx
        self.retry = retry
        self.alt = alt


def create_parent_sql(plan):
    return 'CREATE TABLE %s (%s) PARTITION BY RANGE (%s)' % (
        plan.parent_q, plan.spec['create_parent_sql'], plan.col_q)


def _tx(plan, *stmts):
    return (['BEGIN', 'SET LOCAL lock_timeout = %s' % _literal(plan.spec['lock_timeout'])]
            + [s for s in stmts if s] + ['COMMIT'])


def attach_statements(plan, item, lock):
    """The attach transaction of one new partition next to the default."""
    pq = quote_qualified(plan.spec['schema'], item['name'])
    dq = quote_qualified(plan.default.schema, plan.default.name)
    pred = range_predicate(plan.col_q, item['lower'], item['upper'], plan.coltype)
    cols = ', '.join(quote_ident(c) for c in plan.columns)
    bounds = 'FOR VALUES FROM (%s) TO (%s)' % (fmt_bound(item['lower'], plan.coltype), fmt_bound(item['upper'], plan.coltype))
    parent_lock = 'SHARE ROW EXCLUSIVE' if lock == 'share' else 'ACCESS EXCLUSIVE'
    head = ['LOCK TABLE ONLY %s IN %s MODE' % (plan.parent_q, parent_lock),
            'LOCK TABLE %s IN ACCESS EXCLUSIVE MODE' % dq]
    if lock == 'share':
        body = ['SELECT EXISTS (SELECT 1 FROM %s WHERE %s)' % (dq, pred)]
    else:
        replica = plan.replica_ok
        body = [
            'SET LOCAL session_replication_role = replica' if replica else None,
            'WITH moved AS (DELETE FROM %s WHERE %s RETURNING %s) INSERT INTO %s (%s) SELECT %s FROM moved'
            % (dq, pred, cols, pq, cols, cols),
            'SET LOCAL session_replication_role = DEFAULT' if replica else None,
        ]
    tail = ['ALTER TABLE %s ATTACH PARTITION %s %s' % (plan.parent_q, pq, bounds),
            'ALTER TABLE %s DROP CONSTRAINT %s' % (pq, quote_ident(HELPER_CONSTRAINT)),
            'COMMENT ON TABLE %s IS NULL' % pq]
    return _tx(plan, *(head + body + tail))


def _keep_statements(plan, schema, name, clear_marker):
    """Statements that finish keeping a detached table: marker off, moved to
    retention_schema when set."""
    spec = plan.spec
    tq = quote_qualified(schema, name)
    out = ['COMMENT ON TABLE %s IS NULL' % tq] if clear_marker else []
    if spec['retention_schema'] and spec['retention_schema'] != schema:
        out.append('CREATE SCHEMA IF NOT EXISTS %s' % quote_ident(spec['retention_schema'], 'retention_schema'))
        out.append('ALTER TABLE %s SET SCHEMA %s' % (tq, quote_ident(spec['retention_schema'], 'retention_schema')))
    return out


def statements_for(plan):
    """The steps of a plan, in order (see Step)."""
    spec = plan.spec
    schema = spec['schema']
    coltype = plan.coltype
    out = []
    if plan.create_parent:
        out.append(Step('create_parent', [create_parent_sql(plan)]))
    for item in plan.to_create:
        pq = quote_qualified(schema, item['name'])
        bounds = 'FOR VALUES FROM (%s) TO (%s)' % (fmt_bound(item['lower'], coltype), fmt_bound(item['upper'], coltype))
        if item['mode'] == 'partition_of':
            out.append(Step('create', ['CREATE TABLE %s PARTITION OF %s %s' % (pq, plan.parent_q, bounds)], item))
            continue
        if plan.default is None:
            # A resumed leftover on a parent without a default partition.
            out.append(Step('attach', _tx(plan, 'LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE' % plan.parent_q,
                                          'ALTER TABLE %s ATTACH PARTITION %s %s' % (plan.parent_q, pq, bounds),
                                          'ALTER TABLE %s DROP CONSTRAINT %s'
                                          % (pq, quote_ident(HELPER_CONSTRAINT)),
                                          'COMMENT ON TABLE %s IS NULL' % pq), item, tx=True))
            continue
        if not item['resume']:
            pred = range_predicate(plan.col_q, item['lower'], item['upper'], coltype)
            out.append(Step('prepare', _tx(
                plan,
                'CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING IDENTITY EXCLUDING INDEXES)' % (pq, plan.parent_q),
                'ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL AND %s)'
                % (pq, quote_ident(HELPER_CONSTRAINT), plan.col_q, pred),
                'COMMENT ON TABLE %s IS %s' % (pq, _literal(pending_marker(schema, spec['parent'])))),
                item, tx=True))
        out.append(Step('attach', attach_statements(plan, item, item['lock']), item, tx=True,
                        alt=attach_statements(plan, item, 'move') if item['lock'] == 'share' else None))
    if plan.create_default:
        out.append(Step('create_default', ['CREATE TABLE %s PARTITION OF %s DEFAULT'
                                           % (quote_qualified(schema, spec['parent'] + '_default'),
                                              plan.parent_q)]))
    for schema_, name in plan.stale:
        out.append(Step('stale', _tx(plan, 'DROP TABLE %s' % quote_qualified(schema_, name)),
                        dict(schema=schema_, name=name), tx=True))
    for entry in plan.orphans:
        tq = quote_qualified(entry['schema'], entry['name'])
        if entry['action'] == 'drop':
            stmts = _tx(plan, 'DROP TABLE %s' % tq)
        else:
            stmts = _tx(plan, *_keep_statements(plan, entry['schema'], entry['name'], True))
        out.append(Step('orphan', stmts, entry, tx=True))
    for entry in plan.to_expire:
        p = entry['partition']
        pq = quote_qualified(p.schema, p.name)
        finish = (['DROP TABLE %s' % pq] if entry['action'] == 'drop'
                  else _keep_statements(plan, p.schema, p.name, entry['method'] != 'plain'))
        if entry['method'] == 'concurrent':
            marker = _literal(retire_marker(schema, spec['parent']))
            out.append(Step('mark', ['COMMENT ON TABLE %s IS %s' % (pq, marker)], entry))
            out.append(Step('detach', ['ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY' % (plan.parent_q, pq)],
                            entry, retry=False))
            out.append(Step('finish', _tx(plan, *finish), entry, tx=True))
        elif entry['method'] == 'finalize':
            out.append(Step('detach', _tx(plan, 'ALTER TABLE %s DETACH PARTITION %s FINALIZE'
                                          % (plan.parent_q, pq), *finish), entry, tx=True))
        else:
            out.append(Step('detach', _tx(plan, 'ALTER TABLE %s DETACH PARTITION %s' % (plan.parent_q, pq),
                                          *finish), entry, tx=True))
    return out


def flat_queries(steps):
    q = []
    for s in steps:
        q.extend(s.stmts)
    return q


# ------------------------------------------------------------- applying ---

class _RowsArrived(Exception):
    """Rows of the range reached the default partition after planning."""


def apply_plan(conn, cur, plan, log):
    """Execute the plan's steps; log(sql) is called before each statement
    runs (raising there interrupts the run at that point, like a lost
    connection: an open transaction is rolled back). A failure leaves the
    earlier steps done; the next run picks up from there."""
    try:
        return _apply_plan(conn, cur, plan, log)
    except Exception as exc:
        raise ApplyError('%s: %s' % (plan.spec['label'], first_line(exc)), [], False) from exc


def _is_retryable(exc):
    return getattr(exc, 'pgcode', None) in RETRY_SQLSTATES


def _pause(attempt):
    time.sleep(min(0.1 * (2 ** attempt), 2.0))


def _apply_plan(conn, cur, plan, log):
    spec = plan.spec
    res = _empty_table_result(spec)
    for st in statements_for(plan):
        if st.kind == 'detach' and st.item['method'] == 'plain':
            # Plain DETACH takes ACCESS EXCLUSIVE on the parent: say why.
            st.item['fallback'] = _fallback_note(plan)
        stmts = st.stmts
        attempt = 0
        while True:
            try:
                moved = _run(cur, stmts, log, st.tx, probe=st.alt is not None and stmts is st.stmts)
                break
            except _RowsArrived:
                if plan.move_refusal:
                    raise PartitionError('rows arrived in the default partition for %s, and they cannot be '
                                         'moved: %s' % (st.item['name'], plan.move_refusal))
                stmts = st.alt
                st.item['lock'] = 'move'
            except Exception as exc:
                if not (st.retry and _is_retryable(exc) and attempt < spec['lock_retries']):
                    raise
                attempt += 1
                _pause(attempt)
        if st.kind == 'attach':
            st.item['moved'] = moved
            st.item['attempts'] = attempt + 1
    _fill_result(plan, res, done=True)
    return res


def _run(cur, stmts, log, tx, probe=False):
    """Run one step; returns the rows moved. In a transaction, any failure
    (or an exception from log) rolls it back before propagating."""
    moved = 0
    try:
        for s in stmts:
            log(s)
            cur.execute(s)
            if s.startswith('WITH moved AS'):
                moved += max(cur.rowcount, 0)
            elif probe and s.startswith('SELECT EXISTS'):
                if cur.fetchone()[0]:
                    raise _RowsArrived()
    except BaseException:
        if tx:
            _rollback(cur, log)
        raise
    return moved


def _rollback(cur, log):
    try:
        log('ROLLBACK')
    finally:
        try:
            cur.execute('ROLLBACK')
        except Exception:
            pass


def _fallback_note(plan):
    return ('plain DETACH under lock_timeout: ' +
            ('a default partition exists (CONCURRENTLY is refused then)'
             if (plan.default is not None or plan.create_default) else 'server older than 14'))


def _empty_table_result(spec):
    return dict(table=spec['label'], created=[], parent_created=False, attached_from_default=[],
                detached=[], dropped=[], refused=[], skipped=[], unchanged=0, queries=[], changed=False)


def _fill_result(plan, res, done):
    spec = plan.spec
    schema = spec['schema']
    res['parent_created'] = plan.create_parent
    for item in plan.to_create:
        name = '%s.%s' % (schema, item['name'])
        res['created'].append(name)
        moved = item.get('moved', 0) if done else item['rows']
        if moved:
            entry = dict(partition=name, rows=moved, bounds=[str(item['lower']), str(item['upper'])],
                         lock='ACCESS EXCLUSIVE on the parent' if item['lock'] == 'move'
                         else 'SHARE ROW EXCLUSIVE on the parent')
            if done:
                entry['attempts'] = item.get('attempts', 1)
            res['attached_from_default'].append(entry)
    if plan.create_default:
        res['created'].append('%s.%s_default' % (schema, spec['parent']))
    for schema_, name in plan.stale:
        res['dropped'].append('%s.%s' % (schema_, name))
    for entry in plan.orphans:
        name = '%s.%s' % (entry['schema'], entry['name'])
        d = dict(partition=name, method='resumed (detached by an interrupted run)')
        if entry['action'] == 'drop':
            res['dropped'].append(name)
        else:
            d['kept_as'] = '%s.%s' % (spec['retention_schema'] or entry['schema'], entry['name'])
        res['detached'].append(d)
    for entry in plan.to_expire:
        p = entry['partition']
        name = '%s.%s' % (p.schema, p.name)
        method = {'concurrent': 'CONCURRENTLY', 'plain': 'plain', 'finalize': 'FINALIZE'}[entry['method']]
        d = dict(partition=name, method=method, bounds=[str(p.lower), str(p.upper)])
        if entry['method'] == 'plain':
            d['note'] = entry.get('fallback') or _fallback_note(plan)
        if entry['action'] == 'detach':
            d['kept_as'] = '%s.%s' % (spec['retention_schema'] or p.schema, p.name)
        res['detached'].append(d)
        if entry['action'] == 'drop':
            res['dropped'].append(name)
    res['refused'] = list(plan.refused)
    res['skipped'] = list(plan.skipped)
    res['unchanged'] = plan.unchanged
    res['changed'] = plan.changes
    res['now'] = str(plan.now)
    if plan.boundary is not None:
        res['retention_boundary'] = str(plan.boundary)


# ---------------------------------------------------------- entry point ---

ADVISORY_LOCK = "SELECT pg_advisory_lock(hashtext('odoo-scale-partition'))"
ADVISORY_UNLOCK = "SELECT pg_advisory_unlock(hashtext('odoo-scale-partition'))"


def maintain(params, specs, check_mode=False, log=None):
    """Plan every spec (read-only, in one transaction rolled back; any bad
    input fails before a change), then apply them unless check_mode.
    `params` are connection params (odoo_scale_pg.connection_kwargs keys) or
    an open connection under params['_conn']; log(sql), if given, is called
    before each statement applied. Returns the aggregated result dict;
    raises PartitionError for bad input, ApplyError for failures."""
    t0 = time.monotonic()
    result = dict(changed=False, standby=False, created=[], attached_from_default=[], detached=[],
                  dropped=[], refused=[], skipped=[], unchanged=0, queries=[], tables=[],
                  timings=dict())
    conn = params.get('_conn') if isinstance(params, dict) else None
    own = conn is None
    if own:
        conn = connect(params)
    locked = False
    try:
        cur = conn.cursor()
        if in_recovery(cur):
            result['standby'] = True
            result['msg'] = 'server is a standby (in recovery): nothing to do'
            result['timings']['total_ms'] = round((time.monotonic() - t0) * 1000.0, 1)
            return result
        version = server_version_num(cur)
        tz = specs[0]['timezone'] if specs else 'UTC'
        for s in specs:
            if s['timezone'] != tz:
                raise PartitionError('all tables of one run must share one timezone (%s vs %s)'
                                     % (tz, s['timezone']))
        try:
            cur.execute('SET TimeZone = %s' % _literal(tz))
        except Exception as exc:
            raise PartitionError('timezone %r: %s' % (tz, first_line(exc)))
        # standard_conforming_strings is left as the session has it (see
        # the header): _literal() is right either way.
        set_timeouts(cur, lock_timeout=specs[0]['lock_timeout'] if specs else '5s')
        if not check_mode:
            # One maintainer at a time per database (Ansible and the timer).
            try:
                cur.execute(ADVISORY_LOCK)
                locked = True
            except Exception as exc:
                raise PartitionError('another partition maintenance run holds the lock: %s' % first_line(exc))
        plans = []
        cur.execute('BEGIN')
        try:
            for spec in specs:
                set_timeouts(cur, lock_timeout=spec['lock_timeout'])
                plans.append(plan_table(cur, spec, version))
        finally:
            _rollback(cur, lambda s: None)
        result['timings']['plan_ms'] = round((time.monotonic() - t0) * 1000.0, 1)
        for plan in plans:
            t1 = time.monotonic()
            if check_mode:
                res = _empty_table_result(plan.spec)
                res['queries'] = flat_queries(statements_for(plan))
                _fill_result(plan, res, done=False)
            else:
                set_timeouts(cur, lock_timeout=plan.spec['lock_timeout'])
                executed = []

                def record(sql, _append=executed.append):
                    if log is not None:
                        log(sql)
                    _append(sql)
                try:
                    res = apply_plan(conn, cur, plan, record)
                except ApplyError as exc:
                    exc.queries = result['queries'] + executed
                    exc.changed = bool(exc.queries)
                    raise
                res['queries'] = executed
            res['timings'] = dict(plan_ms=round(plan.plan_ms, 1),
                                  apply_ms=round((time.monotonic() - t1) * 1000.0, 1))
            result['tables'].append(res)
            for key in ('created', 'attached_from_default', 'detached', 'dropped', 'refused', 'skipped',
                        'queries'):
                result[key].extend(res[key])
            result['unchanged'] += res['unchanged']
            result['changed'] = result['changed'] or res['changed']
    finally:
        if locked:
            try:
                cur.execute(ADVISORY_UNLOCK)
            except Exception:
                pass
        if own:
            conn.close()
    result['timings']['total_ms'] = round((time.monotonic() - t0) * 1000.0, 1)
    return result


def summary_line(res):
    """One line per table for the journal."""
    parts = ['%s:' % res['table']]
    if res.get('parent_created'):
        parts.append('parent created,')
    parts.append('created %d' % len(res['created']))
    moved = sum(a['rows'] for a in res['attached_from_default'])
    if res['attached_from_default']:
        parts.append('(moved %d rows from default into %d)' % (moved, len(res['attached_from_default'])))
    parts.append('detached %d dropped %d unchanged %d' % (len(res['detached']), len(res['dropped']),
                                                          res['unchanged']))
    if res['refused']:
        parts.append('REFUSED %s' % '; '.join('%s (%s)' % (r['partition'], r['reason']) for r in res['refused']))
    if res['skipped']:
        parts.append('skipped %d' % len(res['skipped']))
    parts.append('in %.0f ms' % (res['timings']['plan_ms'] + res['timings']['apply_ms']))
    return ' '.join(parts)


def load_config(path):
    """Timer config: {"connection": {...}, "defaults": {...}, "tables": [...]}
    (a bare list is taken as the tables)."""
    with open(path) as fh:
        data = json.load(fh)
    if isinstance(data, list):
        data = dict(tables=data)
    if not isinstance(data, dict):
        raise PartitionError('%s: expected an object with "tables"' % path)
    conn = dict(data.get('connection') or {})
    return conn, data.get('defaults') or {}, data.get('tables') or []
