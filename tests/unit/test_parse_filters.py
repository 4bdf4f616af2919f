"""The parsers of command output (plugins/filter/odoo_scale_parse.py), fed
what the real commands print: pg_controldata run on real clusters (running,
cleanly stopped, a standby), and HAProxy 2.6's `show servers state` and
`show stat` as Debian bookworm's haproxy answered them on the stack
scenario's load balancer (two web nodes, one drained, one in maintenance;
tests/unit/data)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'plugins', 'filter'))
import odoo_scale_parse as parse  # noqa: E402


def _controldata(server):
    cmd = [os.path.join(server.bindir, 'pg_controldata'), server.datadir]
    if os.geteuid() == 0:
        cmd = ['runuser', '-u', 'postgres', '--'] + cmd
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ, LC_ALL='C')).stdout


def test_controldata_of_a_running_primary(pg):
    data = parse.controldata(_controldata(pg))
    sysid, tli, redo = pg.sql("SELECT system_identifier::text, timeline_id, redo_lsn::text FROM pg_control_checkpoint(), "
                              "pg_control_system()")[0]
    assert data['state'] == 'in production'
    assert data['system_identifier'] == sysid
    assert data['timeline'] == tli == 1
    assert data['checkpoint_redo_lsn'] == redo
    assert data['Database cluster state'] == 'in production'      # every line under its own name too


def test_controldata_of_a_cleanly_stopped_server_and_of_a_standby(pg):
    standby = pg.make_standby()
    try:
        pg.sql('CHECKPOINT')
        in_recovery = parse.controldata(_controldata(standby))
        assert in_recovery['state'] == 'in archive recovery'
        assert in_recovery['system_identifier'] == parse.controldata(_controldata(pg))['system_identifier']
        standby.stop_clean()
        stopped = parse.controldata(_controldata(standby))
        assert stopped['state'] == 'shut down in recovery'
        assert stopped['checkpoint_lsn'].count('/') == 1
        assert stopped['min_recovery_end_lsn'].count('/') == 1
    finally:
        standby.destroy()


def test_controldata_of_nothing_gives_empty_keys():
    # What the playbooks read when there is no data directory (pg_controldata
    # failed, stdout empty).
    data = parse.controldata('')
    assert data == {'system_identifier': '', 'state': '', 'checkpoint_lsn': '', 'checkpoint_redo_lsn': '',
                    'timeline': 0, 'min_recovery_end_lsn': ''}


def test_controldata_refuses_what_is_not_its_output():
    with pytest.raises(AnsibleFilterError, match='expects pg_controldata output'):
        parse.controldata({'stdout': 'x'})
    with pytest.raises(AnsibleFilterError, match="TimeLineID is 'x'"):
        parse.controldata("Latest checkpoint's TimeLineID:       x\n")


# What HAProxy 2.6.12-1+deb12u3 (Debian bookworm) answered on the stack
# scenario's load balancer with web1 drained and web2 in maintenance
# (captured with socat on its admin socket).
DATA = os.path.join(os.path.dirname(__file__), 'data')


def _data(name):
    with open(os.path.join(DATA, name)) as fh:
        return fh.read()


def test_servers_state_names_each_servers_admin_and_operational_state():
    rows = parse.haproxy_servers_state(_data('haproxy-2.6-show-servers-state.txt'))
    assert [(r['be_name'], r['srv_name'], r['admin'], r['operational']) for r in rows] == [
        ('odoo_web', 'mol-dev-web1', 'drain', 'running'),
        ('odoo_web', 'mol-dev-web2', 'maint', 'stopped'),
        ('odoo_websocket', 'mol-dev-web1', 'drain', 'running'),
        ('odoo_websocket', 'mol-dev-web2', 'maint', 'stopped'),
    ]
    assert (rows[0]['srv_addr'], rows[0]['srv_port']) == ('172.20.0.6', '8069')


def test_servers_state_ready_when_no_forced_bit_is_set():
    text = _data('haproxy-2.6-show-servers-state.txt')
    # srv_admin_state 0: ready; 4 is maintenance from the configuration
    # ("disabled"), which `set server ... state` does not set.
    ready = text.replace('172.20.0.6 2 8 ', '172.20.0.6 2 0 ').replace('172.20.0.7 0 1 ', '172.20.0.7 2 4 ')
    assert [r['admin'] for r in parse.haproxy_servers_state(ready)] == ['ready'] * 4


def test_servers_state_refuses_an_answer_without_header():
    with pytest.raises(AnsibleFilterError, match='no header line'):
        parse.haproxy_servers_state('Unknown command.\n')


def test_stat_rows_keyed_by_the_header():
    rows = parse.haproxy_stat(_data('haproxy-2.6-show-stat.csv'))
    assert [(r['pxname'], r['svname'], r['status'], r['check_status'], r['addr']) for r in rows] == [
        ('odoo', 'FRONTEND', 'OPEN', '', ''),
        ('odoo_web', 'mol-dev-web1', 'DRAIN', 'L7OK', '172.20.0.6:8069'),
        ('odoo_web', 'mol-dev-web2', 'MAINT', '', '172.20.0.7:8069'),
        ('odoo_web', 'BACKEND', 'DOWN', '', ''),
        ('odoo_websocket', 'mol-dev-web1', 'DRAIN', 'L7OK', '172.20.0.6:8072'),
        ('odoo_websocket', 'mol-dev-web2', 'MAINT', '', '172.20.0.7:8072'),
        ('odoo_websocket', 'BACKEND', 'DOWN', '', ''),
        ('stats', 'FRONTEND', 'OPEN', '', ''),
    ]


def test_stat_refuses_another_answer():
    with pytest.raises(AnsibleFilterError, match='not the answer of `show stat`'):
        parse.haproxy_stat('Permission denied\n')
