#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: odoo-scale contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

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
  - On drift the new definition is built CONCURRENTLY under a temporary name (C(<name>_osnew)),
    what hangs on the old index is carried over to the new one, the old index is dropped and the
    new one renamed, so the table never lacks the index.
  - "Carried over: the replica identity (C(ALTER TABLE ... REPLICA IDENTITY USING INDEX), so a
    published table keeps accepting UPDATEs), the CLUSTER mark and the comment, per partition for a
    partitioned index, and the constraint's comment for a constraint rebuild. They are moved before
    the old index is dropped. When the new definition cannot take them over (a partial, non-unique
    or hash index as replica identity, a partial or hash index as CLUSTER index) the rebuild is
    refused with a one-line reason before anything changes (tried on a shadow table first)."
  - INVALID indexes (left by a failed C(CREATE INDEX CONCURRENTLY)) are rebuilt, and the
    module never leaves an invalid index of its own behind - if a build fails it drops what
    it made and fails with a one-line message.
  - "A run interrupted anywhere is finished by the next one: an index of ours (the spec's name,
    C(<name>_osnew), or a partition index named after either) that has the wanted definition is
    completed and used - renamed into place, missing partitions built and attached, an
    interrupted partitioned build completed in place - and one that cannot be used is dropped
    after what it carries is moved. Such runs are reported in RV(resumed) and RV(leftovers). A
    valid replacement is kept when a later step fails (the next run finishes the swap)."
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
    and after. Check mode runs only the validation transaction, which is always rolled back.
  - "One statement per fragment, whatever it contains: O(where) and every expression of
    O(columns) are lexed the way PostgreSQL's scanner reads them ('' and E'' strings, B''/X''/N''/U&''
    strings and their continuation lines, quoted identifiers, dollar quotes, -- and nested /* */
    comments) and refused, with a one-line error before anything changes, if they hold a ';' or a
    comment outside a literal or parentheses that do not balance; so they cannot leave the
    parentheses the module puts them in. Names, columns, operator classes, collations, INCLUDE
    columns and the tablespace are always sent as quoted identifiers, storage parameter names must
    be plain words and their values are sent as literals (E'' when they hold a backslash). The
    session pins C(standard_conforming_strings = on) and UTF8, whatever the database or role say.
    Finally every statement is checked to lex as one statement and sent with libpq's
    C(PQexecParams) on psycopg2's own connection: the extended query protocol, where the server
    refuses a string holding a second command before running any of it. There is no
    multi-statement string anywhere, in check mode either."
  - "Locks, step by step (PostgreSQL 15), and what other sessions see:"
  - "Validation (every run, check mode too): one transaction, always rolled back, that creates an
    empty temporary copy of the table (ACCESS SHARE on the table) and builds the spec's index
    there. Readers and writers are not blocked."
  - "C(CREATE INDEX CONCURRENTLY) (plain table or one partition): SHARE UPDATE EXCLUSIVE on the
    table for the whole build. Reads and writes go on; other DDL, VACUUM and another build on that
    table wait. It waits, blocking nobody, for the transactions writing the table when it started
    and then for every older snapshot to end. The new index serves no query until it is valid."
  - "C(CREATE INDEX ... ON ONLY) (partitioned parent): SHARE on the partitioned table for an
    instant (no rows are read); writes into the partitioned table wait for that instant.
    C(ALTER INDEX ... ATTACH PARTITION): ACCESS EXCLUSIVE on the parent index and the partition's
    new index, ACCESS SHARE on the tables; queries planned against that partition wait for the
    instant it takes."
  - "Carry-over, only when the old index has them, one transaction per table:
    C(ALTER TABLE ... REPLICA IDENTITY USING INDEX) takes ACCESS EXCLUSIVE on the table for an
    instant (its readers and writers wait); C(ALTER TABLE ... CLUSTER ON) and C(COMMENT ON INDEX)
    take SHARE UPDATE EXCLUSIVE and block no reader or writer."
  - "Swap on a plain table: C(DROP INDEX CONCURRENTLY) of the old index (SHARE UPDATE EXCLUSIVE on
    the table; it waits for the transactions that may still use the old index and blocks no reader
    or writer), then C(ALTER INDEX ... RENAME) (SHARE UPDATE EXCLUSIVE on the new index only,
    blocks no reader or writer). Between the two, queries use the new index under its temporary
    name."
  - "Swap on a partitioned table, one transaction: the carry-over, C(DROP INDEX) of the old
    partitioned index (ACCESS EXCLUSIVE on the partitioned table and every partition; readers and
    writers of the whole table wait for that instant) and the renames; other sessions see the old
    tree or the new one, never neither."
  - "Constraint rebuild (O(allow_constraint_rebuild)), one transaction:
    C(ALTER TABLE ... DROP CONSTRAINT ..., ADD CONSTRAINT ... USING INDEX) and the constraint's
    comment: ACCESS EXCLUSIVE on the table for an instant."
  - "O(state=absent): C(DROP INDEX CONCURRENTLY), or a plain C(DROP INDEX) for a partitioned index
    (ACCESS EXCLUSIVE on the table and its partitions for an instant)."
  - "Every lock wait is bounded by O(lock_timeout) and retried O(lock_retries) times: a statement
    queued behind a long transaction would otherwise hold up every session queued after it."
version_added: "1.0.0"
extends_documentation_fragment:
  - odoo_scale.stack.odoo_scale_pg
author: odoo-scale contributors (!UNKNOWN)
options:
  indexes:
    description:
      - A list of index specs applied in order over one connection. Each element takes the
        same options as a single spec given at the top level (O(name), O(table), O(columns)
        and so on), with the same defaults. Mutually exclusive with O(name).
      - The session options (O(lock_timeout), O(statement_timeout), O(lock_retries),
        O(cleanup_lock_timeout)) and the connection options are given once, at the top level.
    type: list
    elements: dict
    suboptions:
      name:
        description: Index name, at most 63 bytes (as O(name)). Every element needs one.
        type: str
      schema:
        description: Schema of the table and the index.
        type: str
        default: public
      table:
        description: Table to index. Required when O(indexes[].state=present).
        type: str
      columns:
        description:
          - Key columns or expressions, in order; strings or dicts with C(column) or C(expr)
            and optionally C(opclass), C(collation), C(order) and C(nulls) (as O(columns)).
          - Required when O(indexes[].state=present).
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
        description: Index access method.
        type: str
        default: btree
      where:
        description: Predicate of a partial index.
        type: str
      include:
        description: Non-key columns stored in the index (C(INCLUDE)).
        type: list
        elements: str
        default: []
      storage_parameters:
        description: Index storage parameters.
        type: dict
        default: {}
      tablespace:
        description: Tablespace of the index; not compared when not given.
        type: str
      state:
        description: C(present) creates or rebuilds the index, C(absent) drops it.
        type: str
        choices: [present, absent]
        default: present
      required:
        description: Fail, instead of skipping the element, when its table or O(indexes[].requires_extension) is missing.
        type: bool
        default: false
      allow_constraint_rebuild:
        description: Rebuild a drifted index that backs a constraint (as O(allow_constraint_rebuild)).
        type: bool
        default: false
      requires_extension:
        description: Skip the element, with a reason, unless this extension is installed.
        type: str
      skip_if_equivalent:
        description: Skip the element when an index of the same definition exists under another name.
        type: bool
        default: true
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
  - Statements run in autocommit mode; C(CONCURRENTLY) never runs in a transaction block. Only the
    carry-over, the partitioned swap and the constraint swap group a few short statements in one
    transaction.
  - Dropping a partitioned index cannot be done CONCURRENTLY; it takes a short ACCESS EXCLUSIVE
    lock bounded by O(lock_timeout).
  - The lock levels above were read from C(pg_locks) on PostgreSQL 15. Renaming an index takes
    SHARE UPDATE EXCLUSIVE since PostgreSQL 12 (ACCESS EXCLUSIVE before).
  - An index of the same definition under another name is reported in RV(equivalent_existing) and
    a warning; the spec's index is still built beside it.
requirements:
  - psycopg2
'''

EXAMPLES = r'''
- name: Apply the Odoo index catalog
  odoo_scale.stack.pg_index:
    login_db: odoo
    lock_timeout: 3s
    indexes: "{{ db_maintenance_index_catalog }}"

- name: One partial, covering index
  odoo_scale.stack.pg_index:
    login_db: odoo
    name: odoo_scale_aml_account_date
    table: account_move_line
    columns: [account_id, date]
    include: [balance]
    where: "parent_state = 'posted'"

- name: Trigram search on partner names, only where pg_trgm is installed
  odoo_scale.stack.pg_index:
    login_db: odoo
    name: odoo_scale_res_partner_name_trgm
    table: res_partner
    method: gin
    columns:
      - {column: name, opclass: gin_trgm_ops}
    requires_extension: pg_trgm

- name: Drop an index
  odoo_scale.stack.pg_index:
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
resumed:
  description: Specs for which something an interrupted earlier run left was finished or dropped
    (see RV(leftovers)).
  returned: always
  type: list
  elements: str
leftovers:
  description: For each spec in RV(resumed), what was done with the leftovers.
  returned: always
  type: dict
  sample: {odoo_scale_sol_order: ["renamed public.odoo_scale_sol_order_osnew, left by an interrupted rebuild, to odoo_scale_sol_order"]}
carried:
  description: For each rebuilt index, what was moved from the old index to the new one (replica
    identity, cluster mark, comment, constraint comment).
  returned: always
  type: dict
  sample: {odoo_scale_sol_order: [comment, replica identity]}
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
  description: The statements executed, or in check mode the exact statements that would be
    (C(BEGIN) and C(COMMIT) around the steps that run in one transaction).
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
from ansible_collections.odoo_scale.stack.plugins.module_utils.odoo_scale_pg import (
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
from ansible_collections.odoo_scale.stack.plugins.module_utils.odoo_scale_index import (
    DEFAULT_TABLESPACE_SQL,
    INDEX_SPEC_OPTIONS,
    SpecError,
    Step,
    attach_sql,
    attached_index,
    child_name,
    cluster_on_sql,
    comment_sql,
    compare,
    constraint_comment,
    constraint_comment_sql,
    display_name,
    drop_sql,
    find_index,
    find_table,
    index_size,
    index_tree,
    normalise,
    parse_indexdef,
    partitions,
    rename_sql,
    render_create,
    replica_identity_sql,
    table_by_oid,
    temp_name,
)

try:
    import psycopg2
except ImportError:  # reported by module_connect()
    psycopg2 = None

LOCK_NOT_AVAILABLE = '55P03'
# Not 'skipped': Ansible reads a true `skipped` in a result as a skipped task.
RESULT_LISTS = ('created', 'rebuilt', 'dropped', 'unchanged', 'skipped_indexes', 'invalid_recovered',
                'resumed')


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
                           timings={}, sizes={}, standby=False, carried={}, leftovers={})
        self.spec, self.wanted = None, None
        self.dropping, self.freed, self.renamed = set(), set(), {}
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

    def execute(self, step, what, creates=None):
        """Run one step (a statement, or statements in one transaction),
        retrying it when it hits the lock timeout. A CREATE INDEX
        CONCURRENTLY cancelled while waiting leaves an INVALID index behind,
        which is dropped before the retry."""
        statements = step.statements if isinstance(step, Step) else [step]
        in_transaction = len(statements) > 1
        self.queries.extend(statements)
        for attempt in range(self.lock_retries + 1):
            try:
                for sql in statements:
                    self.run_sql(sql)
                return
            except (SqlTextError, psycopg2.Error) as exc:
                if in_transaction:
                    self.cur.execute('ROLLBACK')
                if isinstance(exc, SqlTextError):
                    raise RunFailed('%s: %s' % (what, exc))
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

    def _shadow_table(self, table_oid):
        """An empty temporary copy of a table (partitioned like it)."""
        shadow = self.shadows.get(table_oid)
        if shadow is None:
            table = table_by_oid(self.cur, table_oid)
            shadow = 'odoo_scale_shadow_%d' % len(self.shadows)
            sql = 'CREATE TEMP TABLE %s (LIKE %s)' % (
                quote_ident(shadow), quote_qualified(table['schema'], table['table'], 'table'))
            if table['partkey']:
                # Partitioned too, so partition-key rules for unique indexes are checked.
                sql += ' PARTITION BY ' + table['partkey']
            self.run_sql(sql)
            self.shadows[table_oid] = shadow
        return shadow

    def _shadow_index(self, spec, table_oid):
        shadow = self._shadow_table(table_oid)
        self.shadow_count += 1
        name = 'odoo_scale_shadow_idx_%d' % self.shadow_count
        self.run_sql(render_create(spec, name, 'pg_temp', shadow, tablespace=False))
        return shadow, name

    def _shadow_definition(self, spec, table):
        """pg_get_indexdef() of spec built on an empty copy of its table:
        PostgreSQL validates and canonicalises the expressions and predicate
        exactly as it would for the real index."""
        _shadow, name = self._shadow_index(spec, table['oid'])
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
        plan.update(action='skip', reason=reason, steps=[], leftovers=[], carried=[])
        return plan

    # -- the catalog as it will be after the steps planned so far ----------
    def _find(self, schema, name):
        """find_index(), minus indexes already planned to be dropped and
        plus names already planned to be renamed."""
        key = (schema, name)
        if key in self.renamed:
            return self.renamed[key]
        if key in self.freed:
            return None
        row = find_index(self.cur, schema, name)
        if row is None or row['oid'] in self.dropping:
            return None
        return row

    def _tablespace(self, row):
        if row['tablespace'] is not None:
            return row['tablespace']
        self.cur.execute(DEFAULT_TABLESPACE_SQL)
        return self.cur.fetchone()[0]

    def _differences(self, row):
        differences = compare(self.wanted, parse_indexdef(row['definition']))
        if self.spec.get('tablespace') and self._tablespace(row) != self.spec['tablespace']:
            differences.append('tablespace')
        if not row['valid']:
            differences.append('valid')
        return differences

    def _usable(self, row):
        """An index of the spec's definition that is valid, or partitioned
        with every attached index valid (missing partitions can be built
        and attached)."""
        if [d for d in self._differences(row) if d != 'valid']:
            return False
        if not row['partitioned']:
            return row['valid']
        return all(node['valid'] for node in index_tree(self.cur, row['oid']) if not node['partitioned'])

    def _nodes_of(self, row):
        return dict((node['table_oid'], dict(node)) for node in index_tree(self.cur, row['oid']))

    # -- plan pieces -------------------------------------------------------
    def _drop(self, plan, row, note=None):
        plan['steps'].append(Step(drop_sql(row['schema'], row['name'], row['partitioned'], if_exists=True)))
        for node in index_tree(self.cur, row['oid']):
            self.dropping.add(node['oid'])
        if note:
            plan['leftovers'].append(note % ('%s.%s' % (row['schema'], row['name'])))

    def _retire(self, plan, goner, keeper_nodes, note):
        """Move what hangs on a leftover to the keeper, then drop it."""
        for statements in self._carry(plan, goner, keeper_nodes):
            plan['steps'].append(Step(statements))
        self._drop(plan, goner, note)

    def _tree(self, plan, name, schema, table, table_oid, partitioned, parent, roots, nodes):
        """Steps that leave a complete, valid index of the spec on this table
        (attached under `parent`, the node of the partitioned index above):
        an index left by an interrupted run under one of our names is used
        and completed when it has the wanted definition and dropped when it
        cannot be used; otherwise one is built as `name`. Partitions are
        handled recursively. Records each table's index in `nodes`."""
        current = None
        if parent is not None and parent['oid'] is not None:
            current = attached_index(self.cur, parent['oid'], table_oid)
        candidates = [name]
        if parent is not None:
            candidates += [child_name(root, table) for root in roots]
        for cand_name in sorted(set(candidates), key=candidates.index):
            cand = self._find(schema, cand_name)
            if cand is None or (current is not None and cand['oid'] == current['oid']):
                continue
            ours = cand['table_oid'] == table_oid and not cand['constraint'] and cand['parent'] is None
            if not ours:
                if cand_name == name and current is None:
                    raise SpecError('index name %s.%s is already taken by another index' % (schema, name))
                continue
            if current is None and self._usable(cand):
                current = cand
                if parent is not None or cand_name != plan['spec']['name']:
                    plan['leftovers'].append('completed %s.%s left by an interrupted run' % (schema, cand_name))
            else:
                self._drop(plan, cand, 'dropped %s left by an interrupted run')
        if current is None:
            node = dict(oid=None, schema=schema, name=name, table_oid=table_oid, table=table, attached=False,
                        replident=False, clustered=False, comment=None)
            plan['steps'].append(Step(render_create(plan['spec'], name, schema, table, concurrently=not partitioned,
                                                    only=partitioned), creates=(schema, name, partitioned)))
        else:
            node = dict(oid=current['oid'], schema=schema, name=current['name'], table_oid=table_oid, table=table,
                        attached=current['parent'] is not None, replident=current['replident'],
                        clustered=current['clustered'], comment=current['comment'])
        nodes[table_oid] = node
        if partitioned:
            for part in partitions(self.cur, table_oid):
                if part['relkind'] not in ('r', 'p'):
                    raise SpecError('partition %s.%s of %s cannot be indexed' % (part['schema'], part['table'], table))
                self._tree(plan, child_name(roots[0], part['table']), part['schema'], part['table'], part['oid'],
                           part['relkind'] == 'p', node, roots, nodes)
        if parent is not None and not node['attached']:
            plan['steps'].append(Step(attach_sql(parent['schema'], parent['name'], schema, node['name'])))
            node['attached'] = True
        return node

    def _check_carry(self, plan, node, what):
        """Refuse, before anything changes, a rebuild whose new index cannot
        take over the replica identity or the CLUSTER mark of the old one:
        the new definition is tried on a shadow copy of the table."""
        shadow, index = self._shadow_index(plan['spec'], node['table_oid'])
        sql = (replica_identity_sql if what == 'replica identity' else cluster_on_sql)('pg_temp', shadow, index)
        self.cur.execute('SAVEPOINT odoo_scale_carry')
        try:
            self.run_sql(sql)
        except psycopg2.Error as exc:
            self.cur.execute('ROLLBACK TO SAVEPOINT odoo_scale_carry')
            raise SpecError('%s.%s is the %s of table %s.%s and the new definition cannot take it over (%s); '
                            'nothing rebuilt' % (node['schema'], node['name'],
                                                 'replica identity' if what == 'replica identity' else
                                                 'CLUSTER index', node['table_schema'], node['table'],
                                                 _message(exc)))
        self.cur.execute('RELEASE SAVEPOINT odoo_scale_carry')

    def _carry(self, plan, goner, keeper_nodes):
        """Statements, one list per table, that give the keeper's index on
        each table what the goner's index there has: replica identity,
        CLUSTER mark, comment."""
        out = []
        for node in index_tree(self.cur, goner['oid']):
            target = keeper_nodes.get(node['table_oid'])
            if target is None or target['oid'] == node['oid']:
                continue
            statements = []
            if node['replident'] and not target['replident']:
                self._check_carry(plan, node, 'replica identity')
                statements.append(replica_identity_sql(node['table_schema'], node['table'], target['name']))
                target['replident'] = True
                plan['carried'].append('replica identity')
            if node['clustered'] and not target['clustered']:
                self._check_carry(plan, node, 'cluster')
                statements.append(cluster_on_sql(node['table_schema'], node['table'], target['name']))
                target['clustered'] = True
                plan['carried'].append('cluster mark')
            if node['comment'] is not None and target['comment'] != node['comment']:
                statements.append(comment_sql(target['schema'], target['name'], node['comment']))
                target['comment'] = node['comment']
                plan['carried'].append('comment')
            if statements:
                out.append(statements)
        return out

    def _renames(self, nodes, root_oid, final):
        """ALTER INDEX ... RENAME statements that give the keeper tree the
        final names (partition indexes are named after the root)."""
        statements = []
        for table_oid, node in nodes.items():
            want = final if table_oid == root_oid else child_name(final, node['table'])
            if node['name'] == want:
                continue
            holder = self._find(node['schema'], want)
            if holder is not None and holder['oid'] != node['oid']:
                raise SpecError('index name %s.%s is already taken by another index' % (node['schema'], want))
            statements.append(rename_sql(node['schema'], node['name'], want))
        return statements

    def _canonical_names(self, plan, existing):
        """Partition indexes still under the temporary name of a rebuild
        that was interrupted while renaming are given their final names."""
        if not existing['partitioned']:
            return
        tmp = temp_name(existing['name'])
        statements = []
        for node in index_tree(self.cur, existing['oid'])[1:]:
            want = child_name(existing['name'], node['table'])
            if node['name'] != child_name(tmp, node['table']) or self._find(node['schema'], want) is not None:
                continue
            statements.append(rename_sql(node['schema'], node['name'], want))
            self.freed.add((node['schema'], node['name']))
            self.renamed[(node['schema'], want)] = dict(node, name=want)
        if statements:
            plan['steps'].append(Step(statements))
            plan['leftovers'].append('renamed partition indexes left under temporary names')

    # -- one spec ----------------------------------------------------------
    def plan_one(self, spec):
        schema, name = spec['schema'], spec['name']
        tmp = temp_name(name)
        plan = dict(spec=spec, display=display_name(spec), action='unchanged', steps=[], differences=[],
                    before=None, after=None, reason=None, existing=None, equivalent=[], carried=[], leftovers=[])
        self.spec, self.dropping, self.freed, self.renamed = spec, set(), set(), {}
        existing = find_index(self.cur, schema, name)
        leftover = find_index(self.cur, schema, tmp)
        plan['existing'] = existing
        if existing:
            plan['before'] = existing['definition']
        if spec['state'] == 'absent':
            return self._plan_absent(plan, existing, leftover)

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
        if leftover and (leftover['table_oid'] != table['oid'] or leftover['constraint'] or leftover['parent']):
            raise SpecError('index name %s.%s, which rebuilds of %s use, is already taken by another index'
                            % (schema, tmp, name))
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
        self.wanted = parse_indexdef(self._shadow_definition(spec, table))
        plan['after'] = self._display_definition(spec, self.wanted, partitioned)
        args = (schema, spec['table'], table['oid'], partitioned, None)

        if existing is None:
            nodes = {}
            if leftover and self._usable(leftover):
                # interrupted after the old index was dropped: finish the new one and rename it
                self._tree(plan, tmp, *args, roots=[tmp, name], nodes=nodes)
                plan['steps'].append(Step(self._renames(nodes, table['oid'], name), keeps_new=True))  # never empty
                plan['action'] = 'resume'
                plan['leftovers'].append('renamed %s.%s, left by an interrupted rebuild, to %s' % (schema, tmp, name))
                return plan
            plan['action'] = 'create'
            plan['equivalent'] = self._equivalents(table, exclude=(tmp,))
            if plan['equivalent'] and spec['skip_if_equivalent']:
                return self._skip(plan, 'index %s has the same definition' % ', '.join(plan['equivalent']))
            self._tree(plan, name, *args, roots=[name, tmp], nodes=nodes)
            if leftover:
                self._retire(plan, leftover, nodes, 'dropped %s, left by an interrupted rebuild')
            return plan

        plan['differences'] = self._differences(existing)
        self._canonical_names(plan, existing)
        if not plan['differences']:
            if leftover:
                self._retire(plan, leftover, self._nodes_of(existing), 'dropped %s, left by an interrupted rebuild')
            plan['action'] = 'resume' if plan['steps'] else 'unchanged'
            return plan
        if existing['constraint']:
            return self._plan_constraint(plan, table, partitioned, existing, leftover)
        plan['action'] = 'rebuild'
        if plan['differences'] == ['valid'] and partitioned and self._usable(existing):
            # an interrupted build of a partitioned index: complete it in place
            self._tree(plan, name, *args, roots=[name, tmp], nodes={})
            if leftover:
                self._retire(plan, leftover, self._nodes_of(existing), 'dropped %s, left by an interrupted rebuild')
            return plan
        if leftover and not self._usable(leftover):
            self._retire(plan, leftover, self._nodes_of(existing), 'dropped %s, left by an interrupted rebuild')
        nodes = {}
        self._tree(plan, tmp, *args, roots=[tmp, name], nodes=nodes)
        self._swap(plan, existing, nodes, table['oid'])
        return plan

    def _plan_absent(self, plan, existing, leftover):
        spec = plan['spec']
        schema, name = spec['schema'], spec['name']
        if existing is not None:
            if spec.get('table') and (existing['table_schema'], existing['table']) != (schema, spec['table']):
                raise SpecError('index %s.%s is on table %s.%s, not %s' % (
                    schema, name, existing['table_schema'], existing['table'], spec['table']))
            if existing['constraint']:
                plan.update(action='constraint_absent')
                return plan
            plan['action'] = 'drop'
            plan['steps'].append(Step(drop_sql(schema, name, existing['partitioned'])))
        ours = (leftover is not None and not leftover['constraint'] and leftover['parent'] is None
                and (existing is None or leftover['table_oid'] == existing['table_oid'])
                and (not spec.get('table') or (leftover['table_schema'], leftover['table']) == (schema, spec['table'])))
        if ours:
            self._drop(plan, leftover, 'dropped %s, left by an interrupted rebuild')
            if plan['action'] == 'unchanged':
                plan['action'] = 'resume'
        return plan

    def _swap(self, plan, existing, nodes, table_oid):
        """Carry over what hangs on the old index, drop it, rename the new
        one into place. A partitioned swap is one transaction; a plain one
        drops the old index CONCURRENTLY, which no transaction can hold."""
        spec = plan['spec']
        carry = self._carry(plan, existing, nodes)
        self._drop_later(existing)
        renames = self._renames(nodes, table_oid, spec['name'])
        drop = drop_sql(spec['schema'], spec['name'], existing['partitioned'])
        if existing['partitioned']:
            plan['steps'].append(Step([sql for statements in carry for sql in statements] + [drop] + renames,
                                      keeps_new=True))
            return
        for statements in carry:
            plan['steps'].append(Step(statements, keeps_new=True))
        plan['steps'].append(Step(drop, keeps_new=True))
        if renames:  # never empty: the new index is built as <name>_osnew
            plan['steps'].append(Step(renames, keeps_new=True))

    def _drop_later(self, row):
        for node in index_tree(self.cur, row['oid']):
            self.dropping.add(node['oid'])

    def _equivalents(self, table, exclude=()):
        """Valid indexes of the table with the wanted definition under other
        names (Odoo may already have one)."""
        self.cur.execute('SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_index i '
                         'JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s AND i.indisvalid '
                         'ORDER BY c.relname', (table['oid'],))
        return [name for name, definition in self.cur.fetchall()
                if name not in exclude and not compare(self.wanted, parse_indexdef(definition))]

    def _plan_constraint(self, plan, table, partitioned, existing, leftover):
        spec = plan['spec']
        constraint = existing['constraint']
        if not spec['allow_constraint_rebuild']:
            plan['action'] = 'constraint_drift'
            plan['steps'] = []  # partition-index renames are not worth a change here
            plan['leftovers'] = []
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
        if leftover and not self._usable(leftover):
            self._retire(plan, leftover, self._nodes_of(existing), 'dropped %s, left by an interrupted rebuild')
        nodes = {}
        self._tree(plan, tmp, spec['schema'], spec['table'], table['oid'], False, None, [tmp], nodes)
        for statements in self._carry(plan, existing, nodes):
            plan['steps'].append(Step(statements, keeps_new=True))
        # USING INDEX renames the new index to the constraint name.
        swap = ['ALTER TABLE %s DROP CONSTRAINT %s, ADD CONSTRAINT %s %s USING INDEX %s' % (
            quote_qualified(spec['schema'], spec['table'], 'table'), quote_ident(constraint['name']),
            quote_ident(constraint['name']), 'PRIMARY KEY' if constraint['type'] == 'p' else 'UNIQUE',
            quote_ident(tmp))]
        comment = constraint_comment(self.cur, existing)
        if comment is not None:
            swap.append(constraint_comment_sql(spec['schema'], spec['table'], constraint['name'], comment))
            plan['carried'].append('constraint comment')
        plan['steps'].append(Step(swap, keeps_new=True))
        plan['action'] = 'rebuild'
        return plan

    # -- applying --------------------------------------------------------
    def apply(self, plan):
        if not plan['steps']:
            return
        created, keep_new = [], False
        started = time.monotonic()
        for step in plan['steps']:
            if step.creates:
                created.append(step.creates)
            try:
                self.execute(step, plan['display'], creates=step.creates)
            except RunFailed as exc:
                raise RunFailed(str(exc) + self._cleanup(created, keep_new))
            keep_new = keep_new or step.keeps_new
        self.result['timings'][plan['display']] = round(time.monotonic() - started, 3)

    def _cleanup(self, created, keep_new):
        """Drop what a failed plan built, parents first (that drops the
        partition indexes attached to them). A valid replacement is kept
        once it carries what hung on the original or the original is gone:
        the next run finishes the swap."""
        notes = []
        for schema, name, partitioned in created:
            found = find_index(self.cur, schema, name)
            if found is None:
                continue
            if keep_new and found['valid']:
                notes.append('kept valid %s.%s, the next run finishes the swap' % (schema, name))
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
        elif action == 'unchanged':
            self.result['unchanged'].append(name)
        if plan['leftovers']:
            self.result['resumed'].append(name)
            self.result['leftovers'][name] = plan['leftovers']
        if plan['carried']:
            self.result['carried'][name] = sorted(set(plan['carried']))
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
        if plan['action'] in ('create', 'rebuild') or (plan['action'] == 'resume' and not plan['before']):
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
            run.result['queries'] = [sql for p in plans for step in p['steps'] for sql in step.statements]
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
