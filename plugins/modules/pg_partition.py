#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: odoo-scale contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_partition
short_description: Keep PostgreSQL range partitions rolling (premake, retention, default partition) without pg_partman
description:
  - Maintains time-based C(PARTITION BY RANGE) tables on a PostgreSQL 13+ server (14+ for
    C(DETACH ... CONCURRENTLY)) - creates missing partitions from the retention boundary (or
    from the earliest row waiting in the default partition, or now, when there is no
    retention) up to O(premake) intervals ahead, optionally a default partition, and applies
    retention by detaching (and dropping, or keeping) partitions older than O(retention).
  - What it adds over pg_partman - no extension to install; rows that landed in the default
    partition do not block a new partition, they are moved into it in the transaction that
    attaches it, so no reader ever sees fewer rows, no concurrent insert fails, and tables
    referencing the parent through a foreign key (C(ON DELETE CASCADE), C(SET NULL) or plain)
    keep every row; retention uses C(DETACH PARTITION CONCURRENTLY) when the server allows
    it and says so when it falls back to a plain DETACH; it never drops a partition holding
    rows younger than the retention boundary; a run interrupted anywhere is finished by the
    next one; and check mode and diff show the exact SQL that would run.
  - Partitions are recognised by their bounds, not by their names. Bounds are aligned to the
    interval - days at midnight, weeks on Monday, months on the 1st, quarters on January,
    April, July and October 1st, years on January 1st - in O(timezone).
  - B(Locks, and what other sessions see at each step.) Every lock wait is bounded by
    O(lock_timeout); a step that hits it (or a deadlock) is rolled back and tried again
    O(lock_retries) times, then the run fails and the next run resumes from the catalog.
  - New partition, no default partition - C(CREATE TABLE p PARTITION OF parent FOR VALUES ...),
    ACCESS EXCLUSIVE on the parent for a catalog change (queries on the parent wait for it).
  - New partition next to a default partition, step 1 (one transaction) - CREATE TABLE p (LIKE
    parent INCLUDING ALL EXCLUDING IDENTITY EXCLUDING INDEXES), a CHECK constraint equal to its
    bounds, and a marker comment (C(odoo-scale pg_partition) C(attaching to) the parent). ACCESS SHARE on
    the parent; nobody sees p, which stays empty until step 2.
  - Step 2 when the default partition holds no row of the range (premake) - one transaction -
    C(LOCK TABLE ONLY parent IN SHARE ROW EXCLUSIVE MODE), C(LOCK TABLE default IN ACCESS EXCLUSIVE
    MODE), a check that no row of the range arrived in the default (if one did, roll back and
    take the form below), C(ATTACH PARTITION) (the CHECK spares the scan of p; the default
    partition is scanned once), CHECK and comment dropped, COMMIT. Writers (INSERT, UPDATE,
    DELETE, COPY through the parent) wait for the commit and then route to p - ATTACH's own
    SHARE UPDATE EXCLUSIVE would let an insert routed before the commit land on the default
    partition and fail with "violates partition constraint". Readers go on; queries that read
    the default partition wait for the commit and read the same rows.
  - Step 2 when rows of the range are in the default partition - one transaction -
    C(LOCK TABLE ONLY parent IN ACCESS EXCLUSIVE MODE), C(LOCK TABLE default IN ACCESS EXCLUSIVE
    MODE), C(SET LOCAL session_replication_role = replica), WITH moved AS (DELETE FROM default
    ... RETURNING ...) INSERT INTO p ..., C(SET LOCAL session_replication_role = DEFAULT),
    C(ATTACH PARTITION) (builds p's indexes), CHECK and comment dropped, COMMIT. Every reader
    and writer of the parent waits for this transaction (in bench/partitions.py on 2 cores, under a second
    for a hundred thousand rows) and then sees every row in p. A weaker lock on the parent is not enough - a
    query lists the partitions under ACCESS SHARE on the parent before it locks them, so one
    that listed them before the commit and read after it would miss the moved rows; rows
    committed out of the default in earlier transactions would be invisible until the attach.
    With C(session_replication_role = replica) no ordinary or foreign-key trigger fires, so
    the move is not a delete for tables that reference the parent, and the same keys are in p
    at commit. This needs a superuser or C(GRANT SET ON PARAMETER session_replication_role);
    without it, rows are moved only when no foreign key references the parent and no DELETE
    trigger is on the default partition. A DELETE trigger enabled ALWAYS or REPLICA on the
    default partition is refused in any case. Refusals come before any change.
  - Retention without a default partition (14+) - C(COMMENT ON TABLE p) with a marker
    (C(odoo-scale pg_partition) C(retiring from) the parent; it replaces any comment on p), C(DETACH
    PARTITION p CONCURRENTLY) (SHARE UPDATE EXCLUSIVE on the parent; reads and writes go on;
    PostgreSQL refuses it in a transaction block and when a default partition exists), then
    in one transaction C(DROP TABLE p), or C(SET SCHEMA) and the comment removed. A detach
    left "pending" is finished with C(DETACH PARTITION ... FINALIZE) and the drop in one
    transaction; a table left detached with the comment is dropped (if it holds no row younger
    than the boundary) or moved by the next run.
  - Retention with a default partition (or on 13) - one transaction - C(DETACH PARTITION p) (ACCESS
    EXCLUSIVE on the parent and on the default partition; queries on the parent wait for
    milliseconds), C(DROP TABLE p) or C(SET SCHEMA), COMMIT.
  - Planning, and all of check mode, runs in one transaction that is rolled back; no string
    reaches the server as a driver parameter, identifiers are always quoted, literals are
    written for either setting of C(standard_conforming_strings), and O(create_parent) must be
    column and constraint definitions (no C(;), comment, dollar quote, backslash or unbalanced
    parenthesis outside quotes) or it is refused before anything is changed.
  - On a hot standby (C(pg_is_in_recovery) true) the module does nothing and reports C(standby=true).
  - One run takes an advisory lock per database, so the Ansible module and the
    odoo-scale-partitions host timer (same code) never work on partitions at the same time.
  - The same options make up one entry of O(tables); top-level table options are defaults for
    every entry of O(tables).
version_added: "1.0.0"
extends_documentation_fragment:
  - odoo_scale.stack.odoo_scale_pg
author: odoo-scale contributors (!UNKNOWN)
options:
  tables:
    description:
      - Several tables maintained in one call over one connection. Each entry takes the table
        options of this module (O(parent), O(column), O(interval), ...). Every entry is
        validated and planned before anything is changed.
      - An option an entry leaves out takes the value of the top-level option of the same
        name, so the top-level options (and their defaults) are the defaults of every entry.
      - Mutually exclusive with O(parent).
    type: list
    elements: dict
    suboptions:
      schema:
        description: Schema of the parent table. Defaults to O(schema).
        type: str
      parent:
        description: The partitioned table. Every entry needs one; two entries cannot name the same table.
        type: str
      column:
        description: The range partition key (C(date), C(timestamp) or C(timestamptz)). Defaults to O(column).
        type: str
      interval:
        description:
          - Width of one partition - C(day), C(week), C(month), C(quarter) or C(year) (case and
            surrounding blanks ignored). Defaults to O(interval).
        type: str
      premake:
        description: Partitions to keep ready after the current one (at least 1). Defaults to O(premake).
        type: int
      retention:
        description: Age after which a partition is retired, such as C(12 months). Defaults to O(retention).
        type: str
      retention_mode:
        description: C(drop) or C(detach) retired partitions. Defaults to O(retention_mode).
        type: str
        choices: [drop, detach]
      retention_schema:
        description: Schema detached partitions are moved to. Defaults to O(retention_schema).
        type: str
      name_pattern:
        description: Name of a new partition (tokens as in O(name_pattern)). Defaults to O(name_pattern).
        type: str
      default_partition:
        description: Create C(<parent>_default) when missing. Defaults to O(default_partition).
        type: bool
      create_parent:
        description:
          - Column and constraint definitions of the parent, created when it does not exist (a string,
            or a list of C({name, type}) dicts and strings, as O(create_parent)). Defaults to O(create_parent).
        type: raw
      move_batch_size:
        description: Accepted for compatibility and ignored (at least 1). Defaults to O(move_batch_size).
        type: int
      lock_timeout:
        description: C(lock_timeout) for every statement. Defaults to O(lock_timeout).
        type: str
      lock_retries:
        description: Retries of a step that hit the lock timeout or a deadlock (at least 0). Defaults to O(lock_retries).
        type: int
      now:
        description: Fixed "now" instead of the server clock. Defaults to O(now).
        type: str
      timezone:
        description: Session time zone in which bounds are aligned. Defaults to O(timezone).
        type: str
  schema:
    description: Schema of the parent table (and of its partitions).
    type: str
    default: public
  parent:
    description: The partitioned table. Required unless O(tables) is given.
    type: str
  column:
    description: The range partition key, of type C(date), C(timestamp) or C(timestamptz).
    type: str
  interval:
    description: Width of one partition.
    type: str
    choices: [day, week, month, quarter, year]
    default: month
  premake:
    description: How many partitions to keep ready after the current one (at least 1).
    type: int
    default: 4
  retention:
    description:
      - Age after which a partition is retired, such as C(90 days), C(8 weeks), C(12 months),
        C(4 quarters), C(2 years). A partition is retired when its upper bound is at or before
        now minus O(retention). Null keeps everything.
    type: str
  retention_mode:
    description:
      - C(drop) detaches and drops retired partitions; C(detach) detaches them and keeps the
        tables (moved to O(retention_schema) when set).
    type: str
    choices: [drop, detach]
    default: drop
  retention_schema:
    description: With O(retention_mode=detach), the schema detached partitions are moved to (created if missing).
    type: str
  name_pattern:
    description:
      - Name of a new partition, formatted from the start of its range. Tokens are
        C({parent}), C({YYYY}), C({MM}), C({DD}), C({Q}) (quarter 1-4), C({IYYY}) and C({IW})
        (ISO year and week).
      - Defaults per interval - day C({parent}_p{YYYY}_{MM}_{DD}), week C({parent}_p{IYYY}w{IW}),
        month C({parent}_p{YYYY}_{MM}) (e.g. C(measure_p2026_11)), quarter C({parent}_p{YYYY}q{Q}),
        year C({parent}_p{YYYY}).
      - A name longer than 63 bytes is refused before anything is created.
    type: str
  default_partition:
    description:
      - Create C(<parent>_default) when the parent has no default partition. An existing
        default partition is never dropped.
    type: bool
    default: true
  create_parent:
    description:
      - Create the parent, range partitioned on O(column), when it does not exist. Either a string
        of column and constraint definitions, or a list whose items are C({name, type}) dicts
        (name quoted for you, type taken as SQL) or strings (raw definitions such as
        V(PRIMARY KEY (id, recorded_at\))). The DDL is tried in a rolled back transaction while
        planning, so check mode validates it too.
    type: raw
  move_batch_size:
    description:
      - Accepted for compatibility and ignored. Rows move out of the default partition in the
        transaction that attaches their partition (see the description), because rows committed
        out of it earlier would be invisible through the parent until the attach.
    type: int
    default: 10000
  lock_timeout:
    description:
      - C(lock_timeout) for every statement, such as C(5s) or C(500ms). While a step waits for
        a lock, queries that need a conflicting lock queue behind it for up to this long.
    type: str
    default: 5s
  lock_retries:
    description:
      - How many times a step that hit O(lock_timeout) or a deadlock is rolled back and tried
        again (after 0.2, 0.4, 0.8 ... seconds, at most 2) before the run fails.
    type: int
    default: 3
  now:
    description:
      - Fixed "now" (C(2026-11-23) or C(2026-11-23 10:00)) instead of the server clock; for tests
        and for planning ahead.
    type: str
  timezone:
    description: Session time zone in which bounds of C(timestamptz) keys are aligned.
    type: str
    default: UTC
notes:
  - Supports check mode and diff; both list the exact SQL in RV(queries) and change nothing.
  - Requires psycopg2 on the target.
seealso:
  - name: pg_partman
    description: The extension this module replaces for time-based range partitioning.
    link: https://github.com/pgpartman/pg_partman
'''

EXAMPLES = r'''
- name: Keep a monthly IoT table rolling, creating it if needed
  odoo_scale.stack.pg_partition:
    login_db: odoo
    parent: odoo_scale_iot_reading
    column: recorded_at
    interval: month
    premake: 3
    retention: 12 months
    retention_mode: detach
    retention_schema: archive
    create_parent:
      - {name: id, type: bigint GENERATED ALWAYS AS IDENTITY}
      - {name: device, type: text NOT NULL}
      - {name: reading, type: numeric}
      - {name: recorded_at, type: timestamptz NOT NULL}
      - PRIMARY KEY (id, recorded_at)

- name: A whole catalog over one connection, with shared defaults
  odoo_scale.stack.pg_partition:
    login_db: odoo
    premake: 4
    lock_timeout: 2s
    tables: "{{ db_maintenance_partition_catalog }}"

- name: Show what a run one month from now would do
  odoo_scale.stack.pg_partition:
    login_db: odoo
    parent: app_log
    column: logged_on
    interval: day
    retention: 90 days
    now: '2026-12-23'
  check_mode: true
  diff: true
'''

RETURN = r'''
changed:
  description: Whether anything was (or, in check mode, would be) created, moved, detached or dropped.
  type: bool
  returned: always
standby:
  description: True when the server is a standby; nothing is done then.
  type: bool
  returned: always
created:
  description: Partitions (and default partitions) created, as schema.name.
  type: list
  elements: str
  returned: always
  sample: [public.odoo_scale_iot_reading_p2026_11, public.odoo_scale_iot_reading_default]
attached_from_default:
  description:
    - New partitions that received rows moved out of the default partition, with the lock held on the parent and
      the attempts made.
  type: list
  elements: dict
  returned: always
  sample: [{partition: public.measure_p2026_12, rows: 12000, lock: ACCESS EXCLUSIVE on the parent, attempts: 1,
            bounds: ['2026-12-01 00:00:00', '2027-01-01 00:00:00']}]
detached:
  description:
    - Partitions detached, with the method (CONCURRENTLY, plain with the reason, FINALIZE, or resumed for a table an
      interrupted run had detached) and where a kept table is.
  type: list
  elements: dict
  returned: always
dropped:
  description:
    - Partitions dropped after detaching, and empty tables an interrupted run had made for a range no longer
      wanted.
  type: list
  elements: str
  returned: always
refused:
  description: Partitions past retention that were not dropped because they hold rows younger than the boundary.
  type: list
  elements: dict
  returned: always
skipped:
  description: Wanted ranges left alone because an existing partition with other bounds overlaps them.
  type: list
  elements: dict
  returned: always
unchanged:
  description: Number of wanted partitions that already existed.
  type: int
  returned: always
queries:
  description: The SQL executed, or in check mode the SQL that would run, in order.
  type: list
  elements: str
  returned: always
tables:
  description: The same figures per table.
  type: list
  elements: dict
  returned: always
timings:
  description: Milliseconds spent planning, applying (per table) and in total.
  type: dict
  returned: always
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.odoo_scale.stack.plugins.module_utils.odoo_scale_pg import (
    first_line, module_connect, pg_connection_argument_spec)
from ansible_collections.odoo_scale.stack.plugins.module_utils.odoo_scale_partition import (
    INTERVALS, RETENTION_MODES, SPEC_DEFAULTS, ApplyError, PartitionError, maintain, normalize_specs)

TABLE_OPTIONS = ('schema', 'parent', 'column', 'interval', 'premake', 'retention', 'retention_mode',
                 'retention_schema', 'name_pattern', 'default_partition', 'create_parent',
                 'move_batch_size', 'lock_timeout', 'lock_retries', 'now', 'timezone')


def main():
    argument_spec = pg_connection_argument_spec()
    # An entry of `tables` takes every table option with the top-level value
    # (or its default, SPEC_DEFAULTS) as its default, so the entries' options
    # have no default of their own, and `interval` there is matched by
    # normalize_spec() (case-insensitive) rather than by choices.
    table_spec = dict(
        schema=dict(type='str'),
        parent=dict(type='str'),
        column=dict(type='str'),
        interval=dict(type='str'),
        premake=dict(type='int'),
        retention=dict(type='str'),
        retention_mode=dict(type='str', choices=list(RETENTION_MODES)),
        retention_schema=dict(type='str'),
        name_pattern=dict(type='str'),
        default_partition=dict(type='bool'),
        create_parent=dict(type='raw'),
        move_batch_size=dict(type='int'),
        lock_timeout=dict(type='str'),
        lock_retries=dict(type='int'),
        now=dict(type='str'),
        timezone=dict(type='str'),
    )
    top = dict((key, dict(opts)) for key, opts in table_spec.items())
    top['interval']['choices'] = list(INTERVALS)
    # The timer shares SPEC_DEFAULTS through normalize_spec().
    for key, opts in top.items():
        if SPEC_DEFAULTS[key] is not None:
            opts['default'] = SPEC_DEFAULTS[key]
    argument_spec.update(top)
    argument_spec.update(tables=dict(type='list', elements='dict', options=table_spec))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    # Options set away from their default (normalize_spec() applies the
    # defaults itself): with none of them and no tables, there is nothing to do.
    given = dict((k, p[k]) for k in TABLE_OPTIONS
                 if p.get(k) is not None and p[k] != SPEC_DEFAULTS[k])
    try:
        if p['tables']:
            if given.get('parent'):
                raise PartitionError('give either parent or tables, not both')
            specs = normalize_specs(tables=p['tables'], defaults=given)
        else:
            specs = normalize_specs(single=given)
    except PartitionError as exc:
        module.fail_json(msg=str(exc), changed=False)

    conn = module_connect(module)
    try:
        result = maintain(dict(_conn=conn), specs, check_mode=module.check_mode)
    except PartitionError as exc:
        module.fail_json(msg=str(exc), changed=False)
    except ApplyError as exc:
        # The statements before the failing one did run (each is its own
        # transaction, and every step is resumed by the next run).
        module.fail_json(msg='partition maintenance failed: %s' % exc, changed=exc.changed, queries=exc.queries)
    except Exception as exc:  # psycopg2 errors: one line, what ran so far is in the server log
        module.fail_json(msg='partition maintenance failed: %s' % first_line(exc))
    finally:
        conn.close()

    for r in result['refused']:
        module.warn('%s: %s' % (r['partition'], r['reason']))
    for s in result['skipped']:
        module.warn('range %s..%s: %s' % (s['range'][0], s['range'][1], s['reason']))
    if module._diff:
        result['diff'] = dict(
            before='',
            after='\n'.join(result['queries']) + ('\n' if result['queries'] else ''),
        )
    module.exit_json(**result)


if __name__ == '__main__':
    main()
