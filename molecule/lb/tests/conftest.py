"""Fixtures for verifying the load balancer scenario: the HAProxy node and
the stand-in web nodes from molecule's inventory, their container addresses,
the local secrets, and a runner for tasks/server_state.yml."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from stack_helpers import INVENTORY, Node, load_group_vars, node_of  # noqa: E402

SCENARIO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


@pytest.fixture(scope='session')
def settings():
    """all + lb group_vars of the local inventory (molecule links them)."""
    return load_group_vars('all', 'lb')


@pytest.fixture(scope='session')
def lb():
    return node_of('lb')


@pytest.fixture(scope='session')
def webs():
    return [Node('mol-lbweb1'), Node('mol-lbweb2')]


def ansible_env():
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    cfg = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', ''), 'ansible.cfg')
    if os.path.exists(cfg):
        env['ANSIBLE_CONFIG'] = cfg
    return env


def playbook(name, *extra):
    """ansible-playbook molecule/lb/<name> against molecule's inventory."""
    cmd = ['ansible-playbook', '-i', INVENTORY, os.path.join(SCENARIO, name)] + list(extra)
    return subprocess.run(cmd, env=ansible_env(), capture_output=True, text=True, timeout=600)


def set_server_state(server, state, *extra):
    """Run tasks/server_state.yml as other playbooks call it; returns the CompletedProcess."""
    out = playbook('server_state.yml', '-e', 'haproxy_server=%s' % server, '-e', 'haproxy_server_state=%s' % state,
                   *extra)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return out
