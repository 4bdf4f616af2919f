# -*- coding: utf-8 -*-
"""Parsers of the command output the roles and day-2 playbooks read:
pg_controldata, and HAProxy's `show servers state` and `show stat`. One
place, with unit tests, instead of a regex_search or a field index copied
into each playbook (a field moved by a new release then breaks every copy
at once, here, in a test)."""

from __future__ import annotations

import csv
import io

from ansible.errors import AnsibleFilterError

# pg_controldata's names (LC_ALL=C) for the keys the playbooks use.
_CONTROLDATA_KEYS = {
    'Database system identifier': 'system_identifier',
    'Database cluster state': 'state',
    'Latest checkpoint location': 'checkpoint_lsn',
    "Latest checkpoint's REDO location": 'checkpoint_redo_lsn',
    "Latest checkpoint's TimeLineID": 'timeline',
    'Minimum recovery ending location': 'min_recovery_end_lsn',
}


def controldata(text):
    """pg_controldata's output as a dict: every `name: value` line under its
    own name, plus system_identifier, state ('shut down', 'in production',
    'in archive recovery', ...), checkpoint_lsn, checkpoint_redo_lsn,
    min_recovery_end_lsn (strings) and timeline (int). Empty or foreign text
    (no data directory) gives those keys empty, timeline 0."""
    if text is None:
        text = ''
    if not isinstance(text, str):
        raise AnsibleFilterError('odoo_scale_controldata expects pg_controldata output (a string), got %s'
                                 % type(text).__name__)
    out = {key: '' for key in _CONTROLDATA_KEYS.values()}
    for line in text.splitlines():
        name, sep, value = line.partition(':')
        if not sep:
            continue
        name, value = name.strip(), value.strip()
        out[name] = value
        if name in _CONTROLDATA_KEYS:
            out[_CONTROLDATA_KEYS[name]] = value
    try:
        out['timeline'] = int(out['timeline'] or 0)
    except ValueError:
        raise AnsibleFilterError("odoo_scale_controldata: Latest checkpoint's TimeLineID is %r, not a number"
                                 % out['timeline'])
    return out


# srv_admin_state bits (HAProxy's SRV_ADMF_*) that `set server <b>/<s> state`
# sets: forced maintenance (FMAINT) and forced drain (FDRAIN).
_ADMIN_MAINT = 0x01
_ADMIN_DRAIN = 0x08
# srv_op_state: HAProxy's SRV_ST_*.
_OP_STATES = {0: 'stopped', 1: 'starting', 2: 'running', 3: 'stopping'}


def haproxy_servers_state(text):
    """`show servers state` as a list of dicts, one per server, keyed by the
    header's field names (be_name, srv_name, srv_op_state, srv_admin_state,
    ...), plus `admin`: 'maint', 'drain' or 'ready' (what `set server ...
    state` last made of it, maintenance first), and `operational`:
    'stopped', 'starting', 'running' or 'stopping'."""
    if not isinstance(text, str):
        raise AnsibleFilterError('odoo_scale_haproxy_servers_state expects the answer of `show servers state`, got %s'
                                 % type(text).__name__)
    header, rows = None, []
    for line in text.splitlines():
        if line.startswith('#'):
            header = line.lstrip('#').split()
            continue
        fields = line.split()
        if header is None or len(fields) < len(header):
            continue        # the version line, a blank line
        row = dict(zip(header, fields))
        try:
            admin, operational = int(row['srv_admin_state']), int(row['srv_op_state'])
        except (KeyError, ValueError):
            raise AnsibleFilterError('odoo_scale_haproxy_servers_state: no numeric srv_admin_state/srv_op_state in %r'
                                     % line)
        row['admin'] = 'maint' if admin & _ADMIN_MAINT else 'drain' if admin & _ADMIN_DRAIN else 'ready'
        row['operational'] = _OP_STATES.get(operational, str(operational))
        rows.append(row)
    if header is None:
        raise AnsibleFilterError('odoo_scale_haproxy_servers_state: no header line in %r' % text[:200])
    return rows


def haproxy_stat(text):
    """`show stat` (CSV) as a list of dicts keyed by its header (pxname,
    svname, scur, status, check_status, ...): frontends, backends and
    servers alike; select on svname to keep the servers."""
    if not isinstance(text, str):
        raise AnsibleFilterError('odoo_scale_haproxy_stat expects the answer of `show stat`, got %s'
                                 % type(text).__name__)
    body = text.lstrip()
    if not body.startswith('# pxname,'):
        raise AnsibleFilterError('odoo_scale_haproxy_stat: not the answer of `show stat`: %r' % text[:200])
    return [row for row in csv.DictReader(io.StringIO(body[2:])) if row.get('pxname')]


class FilterModule(object):
    def filters(self):
        return {
            'odoo_scale_controldata': controldata,
            'odoo_scale_haproxy_servers_state': haproxy_servers_state,
            'odoo_scale_haproxy_stat': haproxy_stat,
        }
