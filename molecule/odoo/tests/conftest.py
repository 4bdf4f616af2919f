"""Fixtures for the odoo scenario: container addresses, the local group_vars,
an Odoo JSON-RPC client and an admin session made through HAProxy."""

from __future__ import annotations

import os
import sys

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'shared'))
from stack_helpers import Node, load_group_vars  # noqa: E402

PREFIX = os.environ.get('ODOO_SCALE_MOL_PREFIX', 'mol-o')
WEB = ['%s-web1' % PREFIX, '%s-web2' % PREFIX]
CRON = '%s-cron1' % PREFIX
LB = '%s-lb1' % PREFIX
SVC = '%s-svc1' % PREFIX


class Odoo:
    """A tiny JSON-RPC client for one base URL."""

    def __init__(self, base, session_id=None):
        self.base = base.rstrip('/')
        self.http = requests.Session()
        if session_id:
            # A host-less cookie: sent to whichever node this client calls.
            self.http.cookies.set('session_id', session_id)

    @property
    def session_id(self):
        return self.http.cookies.get('session_id')

    def call(self, path, params, timeout=60):
        resp = self.http.post(self.base + path, json={'jsonrpc': '2.0', 'method': 'call', 'params': params, 'id': 1},
                              timeout=timeout)
        resp.raise_for_status()
        body = resp.json()
        assert 'error' not in body, body['error']
        return body['result']

    def kw(self, model, method, *args, **kwargs):
        return self.call('/web/dataset/call_kw/%s/%s' % (model, method),
                         {'model': model, 'method': method, 'args': list(args), 'kwargs': kwargs})

    def uid(self):
        return self.call('/web/session/get_session_info', {}).get('uid')


@pytest.fixture(scope='session')
def settings():
    return load_group_vars('all', 'objectstore', 'redis')


@pytest.fixture(scope='session')
def node_settings():
    """The group_vars a node of each Odoo group sees."""
    return {'web': load_group_vars('all', 'odoo_web'), 'cron': load_group_vars('all', 'odoo_cron')}


@pytest.fixture(scope='session')
def nodes():
    return {name: Node(name) for name in WEB + [CRON, LB, SVC]}


@pytest.fixture(scope='session')
def lb_url(nodes):
    return 'http://%s' % nodes[LB].address


@pytest.fixture(scope='session')
def web_urls(nodes, settings):
    return {name: 'http://%s:%d' % (nodes[name].address, settings.get('odoo_http_port', 8069)) for name in WEB}


@pytest.fixture(scope='session')
def admin(lb_url, settings):
    """An admin session made through HAProxy."""
    client = Odoo(lb_url)
    result = client.call('/web/session/authenticate',
                         {'db': settings.get('odoo_database', 'odoo'), 'login': 'admin',
                          'password': settings['odoo_admin_user_password']})
    assert result['uid'] == 2, result
    return client
