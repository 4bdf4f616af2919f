"""Odoo as a user sees it, in a real browser (headless Chromium) through
HAProxy: the login page, the web client with every stylesheet and script on
the first visit after the asset bundles are rebuilt, and a message one user
sends on the bus appearing live in another user's page when the two are on
different web nodes (the bus's NOTIFY crossing nodes through PgBouncer).

Screenshots go to bench/results/browser/, the message's delivery time to
bench/results/browser.json (a figure, never asserted)."""

from __future__ import annotations

import os
import secrets
import time

import pytest

from conftest import LB, WEB
from browser import WAIT, Browser, first_visit
from stack_helpers import RESULTS, haproxy_admin, haproxy_stat, record_result

SHOTS = os.path.join(RESULTS, 'browser')

BUS_LOGIN = 'odoo-scale-bus-check'


def set_node(nodes, server, state):
    """HAProxy's state for one web node in both backends (HTTP and bus)."""
    for backend in ('odoo_web', 'odoo_websocket'):
        haproxy_admin(nodes[LB], 'set server %s/%s state %s' % (backend, server, state))


def websocket_sessions(nodes, server):
    return int(haproxy_stat(nodes[LB], 'odoo_websocket', server)['scur'])


def record(name, figures):
    record_result('browser.json', name, figures)


def test_login_page_renders_with_its_assets(lb_url):
    with Browser(lb_url, SHOTS) as b:
        b.driver.get(lb_url + '/web/login')
        b.wait_css('form.oe_login_form input[name=login]')
        b.shot('login')
        assert not b.asset_problems()
        assert not b.console_errors()


def test_first_visit_after_the_bundles_are_rebuilt_loads_every_asset(primary, settings, lb_url):
    """The bundles as after a deploy: none stored yet. Each web node builds
    and names them on first use; the page one node renders must link the
    bundles under the version the other node serves (ERR_TOO_MANY_REDIRECTS
    and an unstyled page otherwise)."""
    db = settings.get('odoo_database', 'odoo')
    primary.psql("DELETE FROM ir_attachment WHERE url LIKE '/web/assets/%%'", db=db)
    urls = first_visit(lb_url, settings['odoo_admin_user_password'], SHOTS, 'home-first-visit')
    assert any(u.endswith('.min.css') for u in urls), urls
    # Both nodes now name every bundle alike: one version per bundle file.
    names = {}
    for url in urls:
        parts = url.split('/web/assets/', 1)[1].split('/')
        names.setdefault(parts[-1], set()).add(parts[0])
    assert all(len(v) == 1 for v in names.values()), names


def test_a_bus_message_reaches_a_user_on_the_other_web_node(nodes, admin, lb_url, settings):
    password = secrets.token_urlsafe(16)
    found = admin.kw('res.users', 'search', [('login', '=', BUS_LOGIN)], context={'active_test': False})
    if found:
        admin.kw('res.users', 'write', found, {'password': password, 'active': True})
    else:
        admin.kw('res.users', 'create', {'name': 'Bus Check', 'login': BUS_LOGIN, 'password': password})
    first, second = WEB
    receiver = sender = None
    set_node(nodes, first, 'ready')
    set_node(nodes, second, 'ready')
    try:
        # The receiver's page and bus connection on the first node only.
        set_node(nodes, second, 'maint')
        receiver = Browser(lb_url, SHOTS)
        receiver.login('admin', settings['odoo_admin_user_password'])
        deadline = time.time() + WAIT
        while websocket_sessions(nodes, first) < 1:
            assert time.time() < deadline, 'the web client opened no bus connection to %s' % first
            time.sleep(0.5)
        # The sender on the second node only; the receiver's bus connection
        # stays where it is.
        set_node(nodes, second, 'ready')
        set_node(nodes, first, 'maint')
        sender = Browser(lb_url, SHOTS)
        sender.login(BUS_LOGIN, password, content=False)
        token = 'odoo-scale bus check %s' % secrets.token_hex(4)
        sent = time.time()
        answer = sender.rpc('/odoo_scale_probe/notify', {'login': 'admin', 'message': token})
        assert 'error' not in answer, answer
        assert answer['result']['host'] == second, answer
        assert websocket_sessions(nodes, first) >= 1
        receiver.wait_text('.o_notification', token)
        shown = time.time()
        receiver.shot('bus-message-received')
        record('bus_message_across_nodes', {'sent_by': second, 'received_on': first,
                                            'seconds_to_show': round(shown - sent, 2)})
        assert not receiver.console_errors()
    finally:
        set_node(nodes, first, 'ready')
        set_node(nodes, second, 'ready')
        for b in (receiver, sender):
            if b is not None:
                b.close()


@pytest.fixture(scope='module', autouse=True)
def fresh_results():
    path = os.path.join(RESULTS, 'browser.json')
    if os.path.exists(path):
        os.unlink(path)
