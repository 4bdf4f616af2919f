#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: odoo-scale contributors. GPL-3.0-or-later.

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_index
short_description: Apply a catalog of PostgreSQL indexes, rebuilding drifted and invalid ones online
description:
  - Creates, rebuilds and drops PostgreSQL indexes from one spec or a whole catalog
    (O(indexes)) over a single connection.
  - "What it adds over community.postgresql.postgresql_idx, which only checks that an index
    of that name exists:"
  - The wanted definition is compared with the real one from the catalog. The spec is built
    on an empty shadow copy of the table in a transaction that is always rolled back, and the
    canonical C(pg_get_indexdef()) texts are compared, so uniqueness, method, key columns and
    expressions, operator classes, sort order, INCLUDE columns, storage parameters and the
    WHERE predicate are all checked, whatever the index is called. The tablespace is
    compared when the spec names one.
  - On drift the new definition is built CONCURRENTLY under a temporary name, the old index
    is dropped CONCURRENTLY and the new one renamed, so the table never lacks the index.
  - INVALID indexes (left by a failed C(CREATE INDEX CONCURRENTLY)) are rebuilt, and the
    module never leaves an invalid index of its own behind - if a build fails it drops what
    it made and fails with a one-line message.
  - Partitioned tables are indexed with C(CREATE INDEX ... ON ONLY) on the parent, a
    CONCURRENTLY build on each partition (recursively) and C(ALTER INDEX ... ATTACH PARTITION),
    so no partition is write-locked during a build.
  - C(lock_timeout) and C(statement_timeout) are set for the session and lock timeouts are
    retried a bounded number of times with backoff.
  - Tables that do not exist (the Odoo module that owns them is not installed) are skipped
    and reported, unless the spec is O(indexes[].required).
  - Every spec, including its expressions and predicate, is validated by PostgreSQL before
    anything is changed for any index of the catalog.
  - Indexes that back a constraint are reported in RV(constraint_drift) and left alone.
  - On a hot standby it changes nothing and reports RV(standby).
  - Check mode returns the exact SQL it would run; diff mode shows the definitions before
    and after.
version_added: "1.0.0"
extends_documentation_fragment:
  - odoo_scale_pg
author: odoo-scale contributors
options:
  indexes:
    description:
      - A list of index specs applied in order over one connection. Each element takes the
        same options as a single spec given at the top level (O(name), O(table), O(columns)
        and so on). Mutually exclusive with O(name).
    type: list
    elements: dict
  name:
    description:
      - Index name, at most 63 bytes; quoted, so mixed case and odd characters are kept as given.
    type: str
  schema:
    description: Schema of the table and the index.
    type: str
    default: public
  table:
    description: Table (plain, partitioned or materialized view) to index. Required when O(state=present).
    type: str
  columns:
    description:
      - Key columns, in order. A lowercase name such as C(partner_id) is a column; any other
        string such as C(lower(email)) is an expression.
      - 'A dict gives more control: C(column) (a column name, quoted as given) or C(expr) (an SQL
        expression), and optionally C(opclass), C(collation), C(order) (C(asc) or C(desc)) and
        C(nulls) (C(first) or C(last)). Example: C({expr: lower(email), opclass: text_pattern_ops}).'
    type: list
    elements: raw
  unique:
    description: Build a unique index.
    type: bool
    default: false
  nulls_not_distinct:
    description: For a unique index, treat NULLs as equal (PostgreSQL 15 and later).
    type: bool
    default: false
  method:
    description: Index access method; any access method of type index present in C(pg_am).
    type: str
    default: btree
  where:
    description: Predicate of a partial index (SQL, validated by PostgreSQL before any change).
    type: str
  include:
    description: Non-key columns stored in the index (C(INCLUDE)).
    type: list
    elements: str
    default: []
  storage_parameters:
    description: 'Index storage parameters, for example C({fillfactor: 90}).'
    type: dict
    default: {}
  tablespace:
    description: Tablespace of the index. When not given, the tablespace is not compared.
    type: str
  state:
    description: C(present) creates or rebuilds the index, C(absent) drops it (CONCURRENTLY).
    type: str
    choices: [present, absent]
    default: present
  required:
    description:
      - Fail when the table or the extension in O(requires_extension) is missing, instead of
        skipping the spec.
    type: bool
    default: false
  allow_constraint_rebuild:
    description:
      - Rebuild a drifted index that backs a UNIQUE or PRIMARY KEY constraint that no foreign
        key references, by building a new unique index CONCURRENTLY and swapping it in with
        C(ALTER TABLE ... DROP CONSTRAINT ..., ADD CONSTRAINT ... USING INDEX) (a brief
        ACCESS EXCLUSIVE lock). Exclusion constraints, indexes referenced by foreign keys and
        partitioned constraint indexes are refused with an error.
      - When false, the drift is reported in RV(constraint_drift) and the index is left alone.
    type: bool
    default: false
  requires_extension:
    description:
      - Skip the spec, with a reason, unless this extension is installed in the database
        (for example C(pg_trgm) for a C(gin_trgm_ops) index).
    type: str
  skip_if_equivalent:
    description:
      - When the index does not exist yet but a valid index of the same definition exists under
        another name (Odoo builds many of its own, such as C(sale_order_line__order_id_index)),
        skip the spec with a reason instead of building a duplicate. When false it is built
        anyway and the twin is reported in RV(equivalent_existing).
    type: bool
    default: true
  lock_timeout:
    description: Session C(lock_timeout) for every statement.
    type: str
    default: 5s
  statement_timeout:
    description: Session C(statement_timeout); C(0) disables it.
    type: str
    default: '0'
  lock_retries:
    description: How many times a statement that hit the lock timeout is retried (with backoff).
    type: int
    default: 3
  cleanup_lock_timeout:
    description:
      - How long dropping an index this run built and cannot keep (the INVALID leftover of a
        failed or timed-out CONCURRENTLY build) may wait. C(DROP INDEX CONCURRENTLY) waits for
        the same open transactions that held up the build but blocks nobody while it waits.
      - If it still cannot drop it, the failure message says so and the next run drops it.
    type: str
    default: 60s
notes:
  - Statements run in autocommit mode; C(CONCURRENTLY) never runs in a transaction block.
  - Dropping a partitioned index cannot be done CONCURRENTLY; it takes a short ACCESS EXCLUSIVE
    lock bounded by O(lock_timeout).
  - An index of the same definition under another name is reported in RV(equivalent_existing) and
    a warning; the spec's index is still built beside it.
requirements:
  - psycopg2
'''

EXAMPLES = r'''
- name: Apply the Odoo index catalog
  pg_index:
    login_db: odoo
    lock_timeout: 3s
    indexes: "{{ db_maintenance_index_catalog }}"

- name: One partial, covering index
  pg_index:
    login_db: odoo
    name: odoo_scale_aml_account_date
    table: account_move_line
    columns: [account_id, date]
    include: [balance]
    where: "parent_state = 'posted'"

- name: Trigram search on partner names, only where pg_trgm is installed
  pg_index:
    login_db: odoo
    name: odoo_scale_res_partner_name_trgm
    table: res_partner
    method: gin
    columns:
      - {column: name, opclass: gin_trgm_ops}
    requires_extension: pg_trgm

- name: Drop an index
  pg_index:
    login_db: odoo
    name: old_index
    state: absent
'''

RETURN = r'''
created:
  description: Indexes created.
  returned: always
  type: list
  elements: str
rebuilt:
  description: Indexes rebuilt because they drifted or were INVALID.
  returned: always
  type: list
  elements: str
dropped:
  description: Indexes dropped (O(state=absent)).
  returned: always
  type: list
  elements: str
unchanged:
  description: Indexes already as specified.
  returned: always
  type: list
  elements: str
skipped_indexes:
  description: Specs skipped because their table or extension is missing (not C(skipped), which
    Ansible would read as a skipped task).
  returned: always
  type: list
  elements: str
skip_reasons:
  description: Why each skipped spec was skipped.
  returned: always
  type: dict
  sample: {odoo_scale_mail_message_model_res_id: "table public.mail_message does not exist"}
invalid_recovered:
  description: INVALID indexes that were rebuilt (or would be, in check mode).
  returned: always
  type: list
  elements: str
differences:
  description: For each drifted index, the attributes that differ (unique, method, columns,
    include, nulls_not_distinct, storage_parameters, where, tablespace, valid).
  returned: always
  type: dict
  sample: {odoo_scale_sol_order: [columns, where]}
equivalent_existing:
  description: For each index created, valid indexes of the same table that already had the same
    definition under another name (the spec's index is built anyway; consider dropping one).
  returned: always
  type: dict
  sample: {odoo_scale_mail_message_model_res_id: [mail_message_model_res_id_idx]}
constraint_drift:
  description: Drifted indexes that back a constraint and were left alone.
  returned: always
  type: list
  elements: dict
  sample: [{name: sale_order_pkey, constraint: sale_order_pkey, differences: [storage_parameters]}]
timings:
  description: Seconds spent on each index that was changed.
  returned: always
  type: dict
sizes:
  description: Size in bytes (pg_relation_size, summed over partitions) of each present index after the run.
  returned: always
  type: dict
queries:
  description: The statements executed, or in check mode the exact statements that would be.
  returned: always
  type: list
  elements: str
standby:
  description: True when the server is a standby and nothing was done.
  returned: always
  type: bool
diff:
  description: Index definitions before and after, one line per index (diff mode).
  returned: when diff mode is on
  type: dict
'''

import re
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.odoo_scale_pg import (
    SqlTextError,
    check_timeout,
    execute_statement,
    first_line,
    in_recovery,
    module_connect,
    pg_connection_argument_spec,
    quote_ident,
    quote_qualified,
    set_timeouts,
)
from ansible.module_utils.odoo_scale_index import (
    DEFAULT_TABLESPACE_SQL,
    INDEX_SPEC_OPTIONS,
    SpecError,
    Step,
    build_steps,
    compare,
    display_name,
    drop_sql,
    find_index,
    find_table,
    index_size,
    normalise,
    parse_indexdef,
    render_create,
    temp_name,
)

try:
    import psycopg2
except ImportError:  # reported by module_connect()
    psycopg2 = None

LOCK_NOT_AVAILABLE = '55P03'
# Not 'skipped': Ansible reads a true `skipped` in a result as a skipped task.
RESULT_LISTS = ('created', 'rebuilt', 'dropped', 'unchanged', 'skipped_indexes', 'invalid_recovered')


class RunFailed(Exception):
    """A one-line failure after changes may have started."""


def _message(exc):
    return re.sub(r'^(ERROR|FATAL):\s+', '', first_line(exc))


def _is_lock_timeout(exc):
    return getattr(exc, 'pgcode', None) == LOCK_NOT_AVAILABLE


class IndexRun:
    def __init__(self, module, conn):
        self.module = module
        self.conn = conn
        self.cur = conn.cursor()
        self.lock_timeout = module.params['lock_timeout']
        self.cleanup_lock_timeout = module.params['cleanup_lock_timeout']
        self.lock_retries = max(0, module.params['lock_retries'])
        self.queries = []
        self.result = dict((key, []) for key in RESULT_LISTS)
        self.result.update(skip_reasons={}, differences={}, constraint_drift=[], equivalent_existing={},
                           timings={}, sizes={}, standby=False)
        self.shadows = {}
        self.shadow_count = 0

    def run_sql(self, sql):
        """Every statement built from a spec goes out here: one statement,
        over the extended query protocol (see odoo_scale_pg)."""
        execute_statement(self.conn, sql)

    # -- retries ---------------------------------------------------------
    def _backoff(self, attempt):
        time.sleep(min(0.5 * 2 ** attempt, 8.0))

    def _lock_message(self, what, exc, attempts):
        return '%s: lock_timeout %s reached %d time%s (lock_retries=%d): %s' % (
            what, self.lock_timeout, attempts, '' if attempts == 1 else 's', self.lock_retries, _message(exc))

    def execute(self, sql, what, creates=None):
        """Run one change, retrying it when it hits the lock timeout. A
        CREATE INDEX CONCURRENTLY cancelled while waiting leaves an INVALID
        index behind, which is dropped before the retry."""
        self.queries.append(sql)
        for attempt in range(self.lock_retries + 1):
            try:
                self.run_sql(sql)
                return
            except SqlTextError as exc:
                raise RunFailed('%s: %s' % (what, exc))
            except psycopg2.Error as exc:
                if not _is_lock_timeout(exc):
                    raise RunFailed('%s: %s' % (what, _message(exc)))
                if attempt == self.lock_retries:
                    raise RunFailed(self._lock_message(what, exc, attempt + 1))
                if creates and find_index(self.cur, creates[0], creates[1]):
                    if self.drop_leftover(*creates):
                        # still in the way: give up now; the failure cleanup tries once more
                        raise RunFailed(self._lock_message(what, exc, attempt + 1))
                self._backoff(attempt)

    def drop_leftover(self, schema, name, partitioned):
        """Drop an index this run built and cannot keep; returns an error
        message or None. DROP INDEX CONCURRENTLY waits for the transactions
        that also held up the build, but blocks nobody while it waits, so it
        gets cleanup_lock_timeout rather than lock_timeout. A partitioned
        index is dropped with a blocking lock, so it keeps lock_timeout."""
        sql = drop_sql(schema, name, partitioned, if_exists=True)
        if partitioned:
            try:
                self.execute(sql, 'cleanup')
            except RunFailed as exc:
                return str(exc)
            return None
        self.queries.append(sql)
        try:
            set_timeouts(self.cur, lock_timeout=self.cleanup_lock_timeout)
            self.run_sql(sql)
        except SqlTextError as exc:
            return str(exc)
        except psycopg2.Error as exc:
            return _message(exc)
        finally:
            set_timeouts(self.cur, lock_timeout=self.lock_timeout)
        return None

    # -- planning (read-only; shadow objects live in a rolled-back transaction)
    def plan_all(self, specs):
        for attempt in range(self.lock_retries + 1):
            try:
                return self._plan_all(specs)
            except psycopg2.Error as exc:
                if not _is_lock_timeout(exc):
                    raise
                if attempt == self.lock_retries:
                    raise RunFailed(self._lock_message('validating the catalog', exc, attempt + 1))
                self._backoff(attempt)

    def _plan_all(self, specs):
        plans, errors = [], []
        self.shadows, self.shadow_count = {}, 0
        self.cur.execute('BEGIN')
        try:
            for position, spec in enumerate(specs, 1):
                before_shadows = set(self.shadows)
                self.cur.execute('SAVEPOINT odoo_scale_spec')
                try:
                    plans.append(self.plan_one(spec))
                    self.cur.execute('RELEASE SAVEPOINT odoo_scale_spec')
                except (psycopg2.Error, SpecError, SqlTextError) as exc:
                    if _is_lock_timeout(exc):
                        raise
                    self.cur.execute('ROLLBACK TO SAVEPOINT odoo_scale_spec')
                    for key in set(self.shadows) - before_shadows:
                        del self.shadows[key]
                    text = _message(exc) if isinstance(exc, psycopg2.Error) else str(exc)
                    errors.append('index #%d %s: %s' % (position, spec['name'], text))
        finally:
            self.cur.execute('ROLLBACK')
        if errors:
            raise SpecError('nothing changed; invalid index specs: ' + '; '.join(errors))
        return plans

    def _shadow_definition(self, spec, table):
        """pg_get_indexdef() of spec built on an empty copy of its table:
        PostgreSQL validates and canonicalises the expressions and predicate
        exactly as it would for the real index."""
        shadow = self.shadows.get(table['oid'])
        if shadow is None:
            shadow = 'odoo_scale_shadow_%d' % len(self.shadows)
            sql = 'CREATE TEMP TABLE %s (LIKE %s)' % (
                quote_ident(shadow), quote_qualified(spec['schema'], spec['table'], 'table'))
            if table['partkey']:
                # Partitioned too, so partition-key rules for unique indexes are checked.
                sql += ' PARTITION BY ' + table['partkey']
            self.run_sql(sql)
            self.shadows[table['oid']] = shadow
        self.shadow_count += 1
        name = 'odoo_scale_shadow_idx_%d' % self.shadow_count
        self.run_sql(render_create(spec, name, 'pg_temp', shadow, tablespace=False))
        self.cur.execute('SELECT pg_get_indexdef(%s::regclass)', (quote_qualified('pg_temp', name),))
        return self.cur.fetchone()[0]

    def _display_definition(self, spec, wanted, partitioned):
        """The wanted index as pg_get_indexdef() would print it."""
        self.cur.execute('SELECT quote_ident(%s), quote_ident(%s), quote_ident(%s)',
                         (spec['name'], spec['schema'], spec['table']))
        name, schema, table = self.cur.fetchone()
        return 'CREATE %sINDEX %s ON %s%s.%s USING %s' % (
            'UNIQUE ' if wanted['unique'] else '', name, 'ONLY ' if partitioned else '',
            schema, table, wanted['body'])

    def _skip(self, plan, reason):
        if plan['spec']['required']:
            raise SpecError(reason + ' and the index is required')
        plan.update(action='skip', reason=reason)
        return plan

    def plan_one(self, spec):
        schema, name = spec['schema'], spec['name']
        plan = dict(spec=spec, display=display_name(spec), action='unchanged', steps=[],
                    differences=[], before=None, after=None, reason=None, existing=None, equivalent=[])
        existing = find_index(self.cur, schema, name)
        plan['existing'] = existing
        if existing:
            plan['before'] = existing['definition']
        if spec['state'] == 'absent':
            if existing is None:
                return plan
            if spec.get('table') and (existing['table_schema'], existing['table']) != (schema, spec['table']):
                raise SpecError('index %s.%s is on table %s.%s, not %s' % (
                    schema, name, existing['table_schema'], existing['table'], spec['table']))
            if existing['constraint']:
                plan.update(action='constraint_absent')
                return plan
            plan['action'] = 'drop'
            plan['steps'] = [Step(drop_sql(schema, name, existing['partitioned']))]
            return plan

        extension = spec.get('requires_extension')
        if extension:
            self.cur.execute('SELECT 1 FROM pg_extension WHERE extname = %s', (extension,))
            if self.cur.fetchone() is None:
                return self._skip(plan, 'extension %s is not installed' % extension)
        table = find_table(self.cur, schema, spec['table'])
        if table is None:
            return self._skip(plan, 'table %s.%s does not exist' % (schema, spec['table']))
        if existing and existing['table_oid'] != table['oid']:
            raise SpecError('index %s.%s already exists on table %s.%s' % (
                schema, name, existing['table_schema'], existing['table']))
        self.cur.execute("SELECT amtype FROM pg_am WHERE amname = %s", (spec['method'],))
        row = self.cur.fetchone()
        if row is None or row[0] != 'i':
            self.cur.execute("SELECT string_agg(amname, ', ' ORDER BY amname) FROM pg_am WHERE amtype = 'i'")
            raise SpecError('unknown index method %r (this server has: %s)' % (
                spec['method'], self.cur.fetchone()[0]))
        if spec.get('tablespace'):
            self.cur.execute('SELECT 1 FROM pg_tablespace WHERE spcname = %s', (spec['tablespace'],))
            if self.cur.fetchone() is None:
                raise SpecError('tablespace %s does not exist' % spec['tablespace'])

        partitioned = table['relkind'] == 'p'
        wanted = parse_indexdef(self._shadow_definition(spec, table))
        plan['after'] = self._display_definition(spec, wanted, partitioned)
        if existing is None:
            plan['action'] = 'create'
            plan['equivalent'] = self._equivalents(table, wanted)
            if plan['equivalent'] and spec['skip_if_equivalent']:
                return self._skip(plan, 'index %s has the same definition' % ', '.join(plan['equivalent']))
            plan['steps'], _renames = build_steps(self.cur, spec, name, name, schema,
                                                  table['oid'], partitioned)
            return plan

        differences = compare(wanted, parse_indexdef(existing['definition']))
        if spec.get('tablespace'):
            current = existing['tablespace']
            if current is None:
                self.cur.execute(DEFAULT_TABLESPACE_SQL)
                current = self.cur.fetchone()[0]
            if current != spec['tablespace']:
                differences.append('tablespace')
        if not existing['valid']:
            differences.append('valid')
        plan['differences'] = differences
        if not differences:
            return plan
        if existing['constraint']:
            return self._plan_constraint(plan, table, partitioned)
        plan['action'] = 'rebuild'
        plan['steps'] = self._swap_steps(spec, table, partitioned, existing)
        return plan

    def _equivalents(self, table, wanted):
        """Valid indexes of the table with the wanted definition under other
        names (Odoo may already have one)."""
        self.cur.execute('SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i '
                         'JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s AND i.indisvalid '
                         'ORDER BY c.relname', (table['oid'],))
        return [name for name, definition in self.cur.fetchall()
                if not compare(wanted, parse_indexdef(definition))]

    def _swap_steps(self, spec, table, partitioned, existing):
        """Build beside, drop the old index, rename the new one into place."""
        schema, name = spec['schema'], spec['name']
        tmp = temp_name(name)
        steps, renames = build_steps(self.cur, spec, tmp, name, schema, table['oid'], partitioned)
        steps.append(Step(drop_sql(schema, name, existing['partitioned']), drops_original=True))
        steps.append(Step('ALTER INDEX %s RENAME TO %s' % (
            quote_qualified(schema, tmp, 'index'), quote_ident(name))))
        for part_schema, built, wanted in renames:
            steps.append(Step('ALTER INDEX %s RENAME TO %s' % (
                quote_qualified(part_schema, built, 'index'), quote_ident(wanted))))
        return steps

    def _plan_constraint(self, plan, table, partitioned):
        spec, existing = plan['spec'], plan['existing']
        constraint = existing['constraint']
        if not spec['allow_constraint_rebuild']:
            plan['action'] = 'constraint_drift'
            return plan
        self.cur.execute("SELECT count(*) FROM pg_constraint WHERE conindid = %s AND contype = 'f'",
                         (existing['oid'],))
        referenced = self.cur.fetchone()[0]
        if constraint['type'] not in ('p', 'u') or referenced or partitioned:
            raise SpecError('index %s backs constraint %s (%s); only an unpartitioned UNIQUE or '
                            'PRIMARY KEY constraint that no foreign key references can be rebuilt' % (
                                spec['name'], constraint['name'],
                                'referenced by a foreign key' if referenced else 'type %s' % constraint['type']))
        if spec['name'] != constraint['name']:
            raise SpecError('index %s backs constraint %s: the spec must use the constraint name'
                            % (spec['name'], constraint['name']))
        tmp = temp_name(spec['name'])
        steps, _renames = build_steps(self.cur, spec, tmp, tmp, spec['schema'], table['oid'], False)
        # USING INDEX renames the new index to the constraint name.
        steps.append(Step('ALTER TABLE %s DROP CONSTRAINT %s, ADD CONSTRAINT %s %s USING INDEX %s' % (
            quote_qualified(spec['schema'], spec['table'], 'table'), quote_ident(constraint['name']),
            quote_ident(constraint['name']), 'PRIMARY KEY' if constraint['type'] == 'p' else 'UNIQUE',
            quote_ident(tmp)), drops_original=True))
        plan['action'] = 'rebuild'
        plan['steps'] = steps
        return plan

    # -- applying --------------------------------------------------------
    def apply(self, plan):
        if not plan['steps']:
            return
        created, original_dropped = [], False
        started = time.monotonic()
        for step in plan['steps']:
            if step.creates:
                created.append(step.creates)
            try:
                self.execute(step.sql, plan['display'], creates=step.creates)
            except RunFailed as exc:
                raise RunFailed(str(exc) + self._cleanup(created, original_dropped))
            original_dropped = original_dropped or step.drops_original
        self.result['timings'][plan['display']] = round(time.monotonic() - started, 3)

    def _cleanup(self, created, original_dropped):
        """Drop what a failed plan built, parents first (that drops the
        partition indexes attached to them). A valid replacement is kept
        once the original is gone, so the table keeps an index."""
        notes = []
        for schema, name, partitioned in created:
            found = find_index(self.cur, schema, name)
            if found is None:
                continue
            if original_dropped and found['valid']:
                notes.append('kept valid %s.%s' % (schema, name))
                continue
            error = self.drop_leftover(schema, name, partitioned)
            if error:
                notes.append('could not drop %s.%s, the next run will: %s' % (schema, name, error))
            else:
                notes.append('dropped %s.%s' % (schema, name))
        return (' (%s)' % '; '.join(notes)) if notes else ''

    def record(self, plan):
        name = plan['display']
        action = plan['action']
        if action == 'skip':
            self.result['skipped_indexes'].append(name)
            self.result['skip_reasons'][name] = plan['reason']
        elif action == 'create':
            self.result['created'].append(name)
            if plan['equivalent']:
                self.result['equivalent_existing'][name] = plan['equivalent']
                self.module.warn('index %s duplicates existing index %s' % (name, ', '.join(plan['equivalent'])))
        elif action == 'drop':
            self.result['dropped'].append(name)
        elif action == 'rebuild':
            self.result['rebuilt'].append(name)
        elif action == 'constraint_absent':
            self.module.warn('index %s backs constraint %s and was not dropped' % (
                name, plan['existing']['constraint']['name']))
        elif action == 'constraint_drift':
            self.result['constraint_drift'].append(dict(
                name=name, constraint=plan['existing']['constraint']['name'],
                differences=plan['differences']))
            self.module.warn('index %s backs constraint %s and differs from its spec (%s); left alone' % (
                name, plan['existing']['constraint']['name'], ', '.join(plan['differences'])))
        else:
            self.result['unchanged'].append(name)
        if plan['differences']:
            self.result['differences'][name] = plan['differences']
            if 'valid' in plan['differences'] and action == 'rebuild':
                self.result['invalid_recovered'].append(name)

    def record_size(self, plan):
        spec = plan['spec']
        if spec['state'] == 'present' and plan['action'] != 'skip':
            if find_index(self.cur, spec['schema'], spec['name']):
                self.result['sizes'][plan['display']] = index_size(self.cur, spec['schema'], spec['name'])


def _diff(plans):
    before = [p['before'] for p in plans if p['before']]
    after = []
    for plan in plans:
        if plan['action'] in ('create', 'rebuild'):
            after.append(plan['after'])
        elif plan['action'] != 'drop' and plan['before']:
            after.append(plan['before'])
    return dict(before=''.join(line + '\n' for line in before),
                after=''.join(line + '\n' for line in after))


def main():
    argument_spec = pg_connection_argument_spec()
    argument_spec.update(INDEX_SPEC_OPTIONS)
    argument_spec.update(
        indexes=dict(type='list', elements='dict', options=INDEX_SPEC_OPTIONS),
        lock_timeout=dict(type='str', default='5s'),
        statement_timeout=dict(type='str', default='0'),
        lock_retries=dict(type='int', default=3),
        cleanup_lock_timeout=dict(type='str', default='60s'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[('indexes', 'name')],
                           required_one_of=[('indexes', 'name')])
    params = module.params
    if params['indexes'] is not None:
        raw_specs = params['indexes']
    else:
        raw_specs = [dict((key, params[key]) for key in INDEX_SPEC_OPTIONS)]
    try:
        check_timeout(params['lock_timeout'], 'lock_timeout')
        check_timeout(params['statement_timeout'], 'statement_timeout')
        check_timeout(params['cleanup_lock_timeout'], 'cleanup_lock_timeout')
        specs = [normalise(raw) for raw in raw_specs]
    except ValueError as exc:  # SpecError, IdentifierError and timeouts
        module.fail_json(msg=str(exc))
    names = [(s['schema'], s['name']) for s in specs]
    if len(set(names)) != len(names):
        module.fail_json(msg='index names must be unique within one call')

    conn = module_connect(module)
    run = IndexRun(module, conn)
    try:
        if in_recovery(run.cur):
            run.result['standby'] = True
            module.exit_json(changed=False, queries=[], msg='server is a standby (in recovery): '
                             'indexes are built on the primary and replicate; nothing done', **run.result)
        set_timeouts(run.cur, params['lock_timeout'], params['statement_timeout'])
        try:
            plans = run.plan_all(specs)
        except (SpecError, RunFailed) as exc:
            module.fail_json(msg=str(exc), queries=[], **run.result)
        except psycopg2.Error as exc:
            module.fail_json(msg='validating the catalog: %s' % _message(exc), queries=[], **run.result)

        changed = any(p['steps'] for p in plans)
        extra = dict(diff=_diff(plans)) if module._diff else {}
        if module.check_mode:
            for plan in plans:
                run.record(plan)
            run.result['queries'] = [step.sql for p in plans for step in p['steps']]
            module.exit_json(changed=changed, **dict(run.result, **extra))

        for plan in plans:
            try:
                run.apply(plan)
            except RunFailed as exc:
                module.fail_json(msg=str(exc), changed=bool(run.queries), queries=run.queries, **run.result)
            run.record(plan)
            run.record_size(plan)
        module.exit_json(changed=changed, queries=run.queries, **dict(run.result, **extra))
    finally:
        conn.close()


if __name__ == '__main__':
    main()
