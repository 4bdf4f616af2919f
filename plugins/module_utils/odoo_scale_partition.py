# -*- coding: utf-8 -*-
# Range-partition maintenance for odoo-scale: pg_partman's core job (premake,
# retention, default partition) without an extension. Shared by the
# pg_partition Ansible module and the odoo-scale-partitions host timer, so it
# imports nothing from Ansible except the sibling odoo_scale_pg helpers.
# Copyright: odoo-scale contributors. GPL-3.0-or-later.
#
# Lock levels (PostgreSQL 14/15), the reason each step is shaped as it is:
#
# * CREATE TABLE p PARTITION OF parent FOR VALUES ... takes ACCESS EXCLUSIVE
#   on the parent for a catalog-only change. We use it only when the parent
#   has no default partition (nothing to scan, the lock is held for
#   milliseconds and lock_timeout bounds the wait).
# * With a default partition, a new range partition would make PostgreSQL
#   scan the default partition while holding ACCESS EXCLUSIVE on the parent,
#   and it fails outright if the default holds rows of that range. So we
#   instead CREATE TABLE p (LIKE parent INCLUDING ALL EXCLUDING IDENTITY)
#   (no lock on the parent), add a CHECK constraint equal to the partition
#   bounds (instant on an empty table; later inserts are checked), move the
#   default partition's rows of that range in batches, each batch its own
#   transaction (DELETE ... RETURNING feeding an INSERT: ROW EXCLUSIVE on the
#   default partition and on p, like ordinary DML), then in one short
#   transaction: LOCK ONLY parent IN SHARE UPDATE EXCLUSIVE (what ATTACH
#   takes; reads and writes continue), LOCK default IN ACCESS EXCLUSIVE (what
#   ATTACH takes anyway; we take it first so no row of the range can slip in
#   after the last batch), move the last stragglers, ALTER TABLE parent
#   ATTACH PARTITION p (the CHECK constraint proves the bounds so p is not
#   scanned; the default partition is scanned once, now free of the range),
#   drop the helper CHECK (ACCESS EXCLUSIVE on p only), COMMIT.
# * Retention: DETACH PARTITION ... CONCURRENTLY (PostgreSQL >= 14) takes
#   only SHARE UPDATE EXCLUSIVE on the parent; it cannot run in a
#   transaction block (our connection is autocommit) and is refused by
#   PostgreSQL when the parent has a default partition. Then we fall back to
#   a plain DETACH, which takes ACCESS EXCLUSIVE on the parent, bounded by
#   lock_timeout, and report the fallback. A CONCURRENTLY detach interrupted
#   half-way leaves the partition "detach pending"; the next run FINALIZEs it.
#   DROP TABLE of an already detached table locks only that table.
# * Every lock wait is bounded by lock_timeout (default 5s): a busy table
#   makes the run fail fast and retry on the next timer tick instead of
#   queueing every query behind us.

from __future__ import annotations

import calendar
import datetime as _dt
import json
import re
import time

try:
    from ansible.module_utils.odoo_scale_pg import (
        IdentifierError, MAX_IDENTIFIER_BYTES, check_identifier, check_timeout, connect,
        first_line, in_recovery, quote_ident, quote_literal, quote_qualified,
        server_version_num, set_timeouts)
except ImportError:  # standalone (timer): files side by side in /usr/local/lib/odoo-scale
    from odoo_scale_pg import (  # type: ignore[no-redef]
        IdentifierError, MAX_IDENTIFIER_BYTES, check_identifier, check_timeout, connect,
        first_line, in_recovery, quote_ident, quote_literal, quote_qualified,
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

# A spec that would create more partitions than this in one run is almost
# certainly a mistake (a day interval over decades of data).
MAX_CREATE = 5000

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
        try:
            premake = int(spec['premake'])
        except (TypeError, ValueError):
            raise PartitionError('%s: premake %r is not an integer' % (label, spec['premake']))
        if isinstance(spec['premake'], bool) or premake < 1 or str(spec['premake']).strip() != str(premake):
            raise PartitionError('%s: premake must be an integer >= 1, got %r' % (label, spec['premake']))
        spec['premake'] = premake
        try:
            spec['retention_parsed'] = parse_retention(spec['retention'])
        except PartitionError as exc:
            raise PartitionError('%s: %s' % (label, exc))
        if spec['retention_mode'] not in RETENTION_MODES:
            raise PartitionError('%s: retention_mode %r is not one of %s'
                                 % (label, spec['retention_mode'], ', '.join(RETENTION_MODES)))
        if spec['retention_schema']:
            check_identifier(spec['retention_schema'], 'retention_schema')
        try:
            batch = int(spec['move_batch_size'])
        except (TypeError, ValueError):
            batch = 0
        if batch < 1:
            raise PartitionError('%s: move_batch_size must be an integer >= 1, got %r'
                                 % (label, spec['move_batch_size']))
        spec['move_batch_size'] = batch
        spec['lock_timeout'] = check_timeout(spec['lock_timeout'], 'lock_timeout')
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
    (raw definitions, e.g. 'PRIMARY KEY (id, recorded_at)')."""
    if isinstance(value, str):
        if not value.strip():
            raise PartitionError('%s: create_parent is empty' % label)
        return value.strip()
    if isinstance(value, dict):
        value = value.get('columns')
    if not isinstance(value, (list, tuple)) or not value:
        raise PartitionError('%s: create_parent must be a string or a list of column definitions' % label)
    parts = []
    for item in value:
        if isinstance(item, dict):
            if not item.get('name') or not item.get('type'):
                raise PartitionError('%s: create_parent entry %r needs name and type' % (label, item))
            parts.append('%s %s' % (quote_ident(str(item['name']), 'column'), item['type']))
        elif isinstance(item, str) and item.strip():
            parts.append(item.strip())
        else:
            raise PartitionError('%s: create_parent entry %r is neither a string nor {name, type}'
                                 % (label, item))
    return ', '.join(parts)


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

def fmt_bound(dt, coltype):
    if coltype == 'date':
        return quote_literal(dt.strftime('%Y-%m-%d'))
    return quote_literal(dt.strftime('%Y-%m-%d %H:%M:%S'))


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
        self.to_create = []          # dicts: name, lower, upper, rows, mode ('partition_of'|'attach'), resume
        self.to_finalize = []        # Partition (detach pending)
        self.to_expire = []          # dicts: partition, action, concurrent, max
        self.refused = []
        self.skipped = []
        self.unchanged = 0
        self.now = None
        self.boundary = None
        self.plan_ms = 0.0

    @property
    def changes(self):
        return bool(self.create_parent or self.create_default or self.to_create
                    or self.to_finalize or self.to_expire)


def _fetchone(cur, sql, args=None):
    cur.execute(sql, args)
    return cur.fetchone()


def plan_table(cur, spec, server_version):
    t0 = time.monotonic()
    plan = TablePlan(spec)
    label = spec['label']
    iv = spec['interval']

    row = _fetchone(cur, 'SELECT to_regclass(%s)::oid', (plan.parent_q,))
    parent_oid = row[0]
    if parent_oid is None:
        if not spec['create_parent_sql']:
            raise PartitionError('%s does not exist (set create_parent to create it)' % label)
        # Validate the DDL and the key column by really creating the parent
        # inside a transaction we roll back: nothing is left behind.
        cur.execute('BEGIN')
        try:
            try:
                cur.execute(create_parent_sql(plan))
            except Exception as exc:
                raise PartitionError('%s: create_parent failed: %s' % (label, first_line(exc)))
            parent_oid = _fetchone(cur, 'SELECT to_regclass(%s)::oid', (plan.parent_q,))[0]
            _inspect_parent(cur, plan, parent_oid)
        finally:
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
            cur.execute('SELECT date_trunc(%%s, %s::timestamp), count(*) FROM %s WHERE %s IS NOT NULL '
                        'GROUP BY 1' % (plan.col_q, dq, plan.col_q), (iv,))
            for b, n in cur.fetchall():
                buckets[b] = n

    if spec['retention_parsed']:
        plan.boundary = retention_boundary(now, spec['retention_parsed'])
        start = floor_to(plan.boundary, iv)
    else:
        start = cur_start
        if buckets:
            start = min(start, floor_to(min(buckets), iv))

    # A DETACH ... CONCURRENTLY interrupted half-way leaves the partition
    # "detach pending". Past retention it was ours: FINALIZE it. Otherwise
    # someone else is detaching it: leave it alone, and do not re-create
    # its range under the same name.
    for p in ranged:
        if not p.pending:
            continue
        if plan.boundary is not None and p.upper is not None and p.upper <= plan.boundary:
            plan.to_finalize.append(p)
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

    live = [p for p in ranged if p not in plan.to_finalize]
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
        plan.to_create.append(dict(name=name, lower=lo, upper=hi, rows=buckets.get(lo, 0), resume=False,
                                   mode='attach' if (plan.default is not None) else 'partition_of'))

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
            else:
                raise PartitionError('%s: relation %s.%s already exists and is not a partition of %s'
                                     % (label, spec['schema'], item['name'], spec['parent']))

    # Retention.
    if plan.boundary is not None:
        concurrent = server_version >= 140000 and plan.default is None and not plan.create_default
        for p in ranged:
            if p.upper is None or p.upper > plan.boundary:
                continue
            if p.pending and p not in plan.to_finalize:
                continue
            entry = dict(partition=p, action=spec['retention_mode'], concurrent=concurrent and not p.pending)
            if spec['retention_mode'] == 'drop':
                pq = quote_qualified(p.schema, p.name)
                mx = _fetchone(cur, 'SELECT max(%s)::timestamp FROM %s' % (plan.col_q, pq))[0]
                if mx is not None and mx >= plan.boundary:
                    plan.refused.append(dict(
                        partition='%s.%s' % (p.schema, p.name),
                        reason='holds rows up to %s, younger than the retention boundary %s; not dropped'
                               % (mx, plan.boundary)))
                    continue
            elif spec['retention_schema']:
                _check_free_name(cur, spec['retention_schema'], p.name, label, schema_may_be_missing=True)
            plan.to_expire.append(entry)
    plan.plan_ms = (time.monotonic() - t0) * 1000.0
    return plan


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


def _list_partitions(cur, parent_oid, server_version):
    pending = 'i.inhdetachpending' if server_version >= 140000 else 'false'
    cur.execute("""
        SELECT c.oid, n.nspname, c.relname, pg_get_expr(c.relpartbound, c.oid), %s
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE i.inhparent = %%s
         ORDER BY c.relname""" % pending, (parent_oid,))
    return [Partition(*r) for r in cur.fetchall()]


def _name_state(cur, schema, name):
    row = _fetchone(cur, """
        SELECT c.oid, c.relkind, c.relispartition,
               EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.conname = %s)
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relname = %s""", (HELPER_CONSTRAINT, schema, name))
    if row is None:
        return None
    if row[1] == 'r' and not row[2] and row[3]:
        return 'leftover'
    return 'taken'


def _check_free_name(cur, schema, name, label, schema_may_be_missing=False):
    row = _fetchone(cur, """
        SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = %s AND c.relname = %s""", (schema, name))
    if row:
        raise PartitionError('%s: relation %s.%s already exists' % (label, schema, name))


# ----------------------------------------------------------- statements ---

def create_parent_sql(plan):
    return 'CREATE TABLE %s (%s) PARTITION BY RANGE (%s)' % (
        plan.parent_q, plan.spec['create_parent_sql'], plan.col_q)


def statements_for(plan):
    """The exact SQL, in order, as (kind, sql, item) triples."""
    spec = plan.spec
    schema = spec['schema']
    coltype = plan.coltype
    out = []
    if plan.create_parent:
        out.append(('create_parent', create_parent_sql(plan), None))
    for p in plan.to_finalize:
        out.append(('finalize', 'ALTER TABLE %s DETACH PARTITION %s FINALIZE'
                    % (plan.parent_q, quote_qualified(p.schema, p.name)), p))
    default_q = None
    if plan.default is not None:
        default_q = quote_qualified(plan.default.schema, plan.default.name)
    cols = ', '.join(quote_ident(c) for c in plan.columns)
    for item in plan.to_create:
        pq = quote_qualified(schema, item['name'])
        bounds = 'FOR VALUES FROM (%s) TO (%s)' % (fmt_bound(item['lower'], coltype),
                                                  fmt_bound(item['upper'], coltype))
        if item['mode'] == 'partition_of':
            out.append(('create', 'CREATE TABLE %s PARTITION OF %s %s' % (pq, plan.parent_q, bounds), item))
            continue
        pred = range_predicate(plan.col_q, item['lower'], item['upper'], coltype)
        if not item['resume']:
            out.append(('create', 'CREATE TABLE %s (LIKE %s INCLUDING ALL EXCLUDING IDENTITY)'
                        % (pq, plan.parent_q), item))
            out.append(('check', 'ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL AND %s)'
                        % (pq, quote_ident(HELPER_CONSTRAINT), plan.col_q, pred), item))
        move_final = None
        if default_q:
            move = ('WITH moved AS (DELETE FROM %s WHERE ctid = ANY (ARRAY(SELECT ctid FROM %s WHERE %s '
                    'LIMIT %d)) RETURNING %s) INSERT INTO %s (%s) SELECT %s FROM moved'
                    % (default_q, default_q, pred, spec['move_batch_size'], cols, pq, cols, cols))
            if item['rows']:
                out.append(('move', move, item))
            move_final = ('WITH moved AS (DELETE FROM %s WHERE %s RETURNING %s) INSERT INTO %s (%s) '
                          'SELECT %s FROM moved' % (default_q, pred, cols, pq, cols, cols))
        out.append(('attach_tx', None, dict(item=item, stmts=[
            'BEGIN',
            'SET LOCAL lock_timeout = %s' % quote_literal(spec['lock_timeout']),
            'LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE' % plan.parent_q,
        ] + (['LOCK TABLE %s IN ACCESS EXCLUSIVE MODE' % default_q, move_final] if default_q else []) + [
            'ALTER TABLE %s ATTACH PARTITION %s %s' % (plan.parent_q, pq, bounds),
            'ALTER TABLE %s DROP CONSTRAINT %s' % (pq, quote_ident(HELPER_CONSTRAINT)),
            'COMMIT',
        ])))
    if plan.create_default:
        out.append(('create_default', 'CREATE TABLE %s PARTITION OF %s DEFAULT'
                    % (quote_qualified(schema, spec['parent'] + '_default'), plan.parent_q), None))
    for entry in plan.to_expire:
        p = entry['partition']
        pq = quote_qualified(p.schema, p.name)
        if not p.pending:
            out.append(('detach', 'ALTER TABLE %s DETACH PARTITION %s%s'
                        % (plan.parent_q, pq, ' CONCURRENTLY' if entry['concurrent'] else ''), entry))
        if entry['action'] == 'drop':
            out.append(('drop', 'DROP TABLE %s' % pq, entry))
        elif spec['retention_schema'] and spec['retention_schema'] != p.schema:
            rs = quote_ident(spec['retention_schema'], 'retention_schema')
            out.append(('schema', 'CREATE SCHEMA IF NOT EXISTS %s' % rs, entry))
            out.append(('move_schema', 'ALTER TABLE %s SET SCHEMA %s' % (pq, rs), entry))
    return out


def flat_queries(stmts):
    q = []
    for kind, sql, item in stmts:
        if kind == 'attach_tx':
            q.extend(item['stmts'])
        else:
            q.append(sql)
    return q


# ------------------------------------------------------------- applying ---

def apply_plan(conn, cur, plan, log):
    """Execute the plan's statements; log(sql) records each one as it runs.
    Statements run one by one (autocommit), so a failure leaves the earlier
    ones done; every step is resumable and the next run picks up from there."""
    try:
        return _apply_plan(conn, cur, plan, log)
    except Exception as exc:
        raise ApplyError('%s: %s' % (plan.spec['label'], first_line(exc)), [], False) from exc


def _apply_plan(conn, cur, plan, log):
    spec = plan.spec
    res = _empty_table_result(spec)
    for kind, sql, item in statements_for(plan):
        if kind == 'move':
            total = 0
            batches = 0
            log(sql)
            while True:
                cur.execute(sql)
                n = cur.rowcount
                if n <= 0:
                    break
                total += n
                batches += 1
                if n < spec['move_batch_size']:
                    break
            item['moved'] = total
            item['batches'] = batches
            continue
        if kind == 'attach_tx':
            it = item['item']
            try:
                for s in item['stmts']:
                    log(s)
                    cur.execute(s)
                    if s.startswith('WITH moved'):
                        it['moved'] = it.get('moved', 0) + max(cur.rowcount, 0)
                        if cur.rowcount > 0:
                            it['batches'] = it.get('batches', 0) + 1
            except Exception:
                _rollback(conn, cur)
                raise
            continue
        if kind == 'detach' and not item['concurrent']:
            # Plain DETACH takes ACCESS EXCLUSIVE on the parent: say why.
            item['fallback'] = ('plain DETACH under lock_timeout: ' +
                                ('a default partition exists (CONCURRENTLY is refused then)'
                                 if (plan.default is not None or plan.create_default)
                                 else 'server older than 14'))
        log(sql)
        cur.execute(sql)
    _fill_result(plan, res, done=True)
    return res


def _rollback(conn, cur):
    try:
        cur.execute('ROLLBACK')
    except Exception:
        pass


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
        if moved or (not done and item['rows']):
            res['attached_from_default'].append(dict(
                partition=name, rows=moved,
                batches=item.get('batches', 0) if done else
                -(-item['rows'] // spec['move_batch_size']),
                bounds=[str(item['lower']), str(item['upper'])]))
    if plan.create_default:
        res['created'].append('%s.%s_default' % (schema, spec['parent']))
    for p in plan.to_finalize:
        res['detached'].append(dict(partition='%s.%s' % (p.schema, p.name), method='FINALIZE'))
    for entry in plan.to_expire:
        p = entry['partition']
        name = '%s.%s' % (p.schema, p.name)
        if not p.pending:
            d = dict(partition=name, method='CONCURRENTLY' if entry['concurrent'] else 'plain',
                     bounds=[str(p.lower), str(p.upper)])
            if not entry['concurrent']:
                d['note'] = entry.get('fallback') or (
                    'plain DETACH under lock_timeout: a default partition exists (CONCURRENTLY is refused then)'
                    if (plan.default is not None or plan.create_default) else
                    'plain DETACH under lock_timeout: server older than 14')
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

def maintain(params, specs, check_mode=False):
    """Plan every spec (read-only; any bad input fails before a change),
    then apply them unless check_mode. `params` are connection params
    (odoo_scale_pg.connection_kwargs keys) or an open connection under
    params['_conn']. Returns the aggregated result dict; raises
    PartitionError for bad input and psycopg2 errors for failures."""
    t0 = time.monotonic()
    result = dict(changed=False, standby=False, created=[], attached_from_default=[], detached=[],
                  dropped=[], refused=[], skipped=[], unchanged=0, queries=[], tables=[],
                  timings=dict())
    conn = params.get('_conn') if isinstance(params, dict) else None
    own = conn is None
    if own:
        conn = connect(params)
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
            cur.execute('SET TimeZone = %s', (tz,))
        except Exception as exc:
            raise PartitionError('timezone %r: %s' % (tz, first_line(exc)))
        set_timeouts(cur, lock_timeout=specs[0]['lock_timeout'] if specs else '5s')
        if not check_mode:
            # One maintainer at a time per database (Ansible and the timer).
            try:
                cur.execute("SELECT pg_advisory_lock(hashtext('odoo-scale-partition'))")
            except Exception as exc:
                raise PartitionError('another partition maintenance run holds the lock: %s' % first_line(exc))
        plans = []
        for spec in specs:
            set_timeouts(cur, lock_timeout=spec['lock_timeout'])
            plans.append(plan_table(cur, spec, version))
        result['timings']['plan_ms'] = round((time.monotonic() - t0) * 1000.0, 1)
        for plan in plans:
            t1 = time.monotonic()
            if check_mode:
                res = _empty_table_result(plan.spec)
                stmts = statements_for(plan)
                res['queries'] = flat_queries(stmts)
                _fill_result(plan, res, done=False)
            else:
                set_timeouts(cur, lock_timeout=plan.spec['lock_timeout'])
                executed = []
                try:
                    res = apply_plan(conn, cur, plan, executed.append)
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
        if not check_mode:
            cur.execute("SELECT pg_advisory_unlock(hashtext('odoo-scale-partition'))")
    finally:
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
        parts.append('skipped %d overlapping' % len(res['skipped']))
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
