"""HAProxy in front of two stand-in Odoo web nodes, verified from the
controller over the network and through the admin socket: routing, headers,
TLS redirect, upload limit, stats page, draining through
tasks/server_state.yml, failover when a node dies, the unit's user and
limits, and a check-mode run that changes nothing."""

from __future__ import annotations

import concurrent.futures
import re
import socket
import ssl
import time

import pytest
import requests
import urllib3

from conftest import playbook, set_server_state
from stack_helpers import HAPROXY_SOCKET as SOCKET
from stack_helpers import haproxy_admin as admin
from stack_helpers import haproxy_stat as stat

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

WEB1, WEB2 = 'mol-lbweb1', 'mol-lbweb2'


def get(lb, path='/', **kw):
    """GET through HAProxy's HTTPS listener (self-signed test certificate)."""
    kw.setdefault('timeout', 30)
    return requests.get('https://%s%s' % (lb.address, path), verify=False, **kw)


def hosts_seen(lb, count=12, path='/'):
    seen = []
    for _ in range(count):
        resp = get(lb, path)
        assert resp.status_code == 200, resp.text
        seen.append(resp.json()['host'])
    return seen



def wait_status(lb, server, wanted, timeout=300):
    # A hang guard, not a timing: HAProxy reports the state in seconds.
    deadline = time.time() + timeout
    while True:
        status = [stat(lb, backend, server)['status'] for backend in ('odoo_web', 'odoo_websocket')]
        if all(s.startswith(wanted) for s in status):
            return
        if time.time() > deadline:
            raise AssertionError('%s is %s, not %s' % (server, status, wanted))
        time.sleep(0.5)


def recap_changed(out, host):
    m = re.search(r'^%s\s*:\s*ok=\d+\s+changed=(\d+)' % re.escape(host), out, re.M)
    assert m, out[-2000:]
    return int(m.group(1))


def test_requests_are_balanced_over_both_web_nodes(lb):
    seen = hosts_seen(lb)
    assert set(seen) == {WEB1, WEB2}
    # roundrobin: neither node gets more than its share (+1 for other traffic).
    assert abs(seen.count(WEB1) - seen.count(WEB2)) <= 2, seen
    assert {get(lb).json()['port'] for _ in range(4)} == {8069}


def test_websocket_goes_to_the_gevent_port(lb):
    assert {get(lb, '/websocket').json()['port'] for _ in range(4)} == {8072}
    assert {get(lb, '/websocket/peek?x=1').json()['port'] for _ in range(2)} == {8072}
    assert get(lb, '/web/websocketish').json()['port'] == 8069


def test_websocket_upgrade_is_tunnelled(lb):
    with tls_socket(lb.address) as sock:
        sock.sendall(b'GET /websocket HTTP/1.1\r\nHost: mol-lb1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                     b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
        data = b''
        while b'hello from' not in data or not data.endswith(b'\n'):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b'HTTP/1.1 101'), data
    assert re.search(rb'hello from mol-lbweb[12]:8072', data), data


def test_forwarded_headers_are_set_and_not_spoofable(lb):
    headers = get(lb, '/', headers={'X-Forwarded-For': '6.6.6.6', 'X-Forwarded-Proto': 'gopher',
                                    'Host': 'erp.example.com'}).json()['headers']
    assert headers['x-forwarded-proto'] == 'https'
    assert headers['x-forwarded-host'] == 'erp.example.com'
    assert '6.6.6.6' not in headers['x-forwarded-for']
    assert re.fullmatch(r'\d+\.\d+\.\d+\.\d+', headers['x-forwarded-for']), headers['x-forwarded-for']


def test_plain_http_redirects_to_https(lb):
    resp = requests.get('http://%s/web/login?db=x' % lb.address, allow_redirects=False, timeout=10)
    assert resp.status_code == 301
    assert resp.headers['Location'] == 'https://%s/web/login?db=x' % lb.address


def tls_socket(address, port=443):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(['http/1.1'])
    return ctx.wrap_socket(socket.create_connection((address, port), 10))


def raw_post(sock, length):
    """Announce a POST of `length` bytes, send nothing of it; the status line HAProxy answers."""
    with sock:
        sock.sendall(b'POST /web/binary/upload_attachment HTTP/1.1\r\nHost: x\r\n'
                     b'Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n' % length)
        sock.settimeout(10)
        return sock.recv(4096).split(b'\r\n', 1)[0].decode()


def test_oversized_upload_is_refused_with_413(lb, settings):
    limit = int(settings.get('haproxy_max_upload_mb', 128)) * 1024 * 1024
    # Refused on its headers, before a byte of the body is read.
    assert raw_post(tls_socket(lb.address), limit + 1).startswith('HTTP/1.1 413')
    assert raw_post(socket.create_connection((lb.address, 80), 10), limit + 1).startswith('HTTP/1.1 413')
    # Up to the limit the body reaches Odoo.
    body = b'x' * (4 * 1024 * 1024)
    resp = requests.post('https://%s/upload' % lb.address, data=body, verify=False, timeout=60)
    assert resp.status_code == 200 and resp.json()['received'] == len(body)


def test_stats_page_needs_the_password_and_is_internal_only(lb, settings):
    user = settings.get('haproxy_stats_user', 'stats')
    password = settings['haproxy_stats_password']
    code = "curl -s -o /dev/null -w '%{http_code}' "
    assert lb.host.check_output(code + 'http://127.0.0.1:8404/') == '401'
    assert lb.host.check_output(code + "-u '%s:wrong-password-x' http://127.0.0.1:8404/" % user) == '401'
    page = lb.host.check_output("curl -sf -u '%s:%s' 'http://127.0.0.1:8404/;csv'" % (user, password))
    assert 'odoo_web,%s,' % WEB1 in page and 'odoo_websocket,%s,' % WEB2 in page
    with pytest.raises(OSError):
        socket.create_connection((lb.address, 8404), 3).close()


def test_admin_socket(lb):
    sock = lb.host.file(SOCKET)
    assert sock.is_socket
    assert sock.group == 'haproxy'
    assert sock.mode == 0o660
    assert 'odoo_web' in admin(lb, 'show servers state')


def test_files_are_private(lb):
    for path in ('/etc/haproxy/haproxy.cfg', '/etc/haproxy/certs/odoo-scale.pem'):
        f = lb.host.file(path)
        assert (f.user, f.group) == ('root', 'haproxy'), path
        assert f.mode == 0o640, (path, oct(f.mode))


def test_runs_as_haproxy_with_limits(lb, settings):
    main = lb.unit_property('haproxy', 'MainPID')
    workers = lb.host.check_output('ps -o user= --ppid %s' % main).split()
    assert workers and set(workers) == {'haproxy'}, workers
    memory_max = int(settings.get('haproxy_memory_max_mb', 256)) * 1024 * 1024
    assert int(lb.unit_property('haproxy', 'MemoryMax')) == memory_max
    assert 0 < int(lb.unit_property('haproxy', 'MemoryHigh')) <= memory_max
    assert int(lb.unit_property('haproxy', 'LimitNOFILE')) == 65536


def test_drain_waits_for_running_requests_then_sends_nothing_new(lb):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        # Two slow requests in flight, one on each node (roundrobin).
        slow = [pool.submit(get, lb, '/slow?s=6') for _ in range(2)]
        time.sleep(1)
        started = time.time()
        out = set_server_state(WEB1, 'drain')
        waited = time.time() - started
        results = [f.result() for f in slow]
    assert recap_changed(out.stdout, WEB1) >= 1, out.stdout[-2000:]
    assert all(r.status_code == 200 for r in results)
    assert {r.json()['host'] for r in results} == {WEB1, WEB2}
    assert waited >= 3, 'the drain did not wait for the running request (%.1f s)' % waited
    wait_status(lb, WEB1, 'DRAIN')
    assert set(hosts_seen(lb, 10)) == {WEB2}
    assert {get(lb, '/websocket').json()['host'] for _ in range(4)} == {WEB2}
    # Asking again changes nothing.
    assert recap_changed(set_server_state(WEB1, 'drain').stdout, WEB1) == 0


def test_enable_puts_the_node_back(lb):
    out = set_server_state(WEB1, 'enabled')
    assert recap_changed(out.stdout, WEB1) >= 1
    wait_status(lb, WEB1, 'UP')
    assert set(hosts_seen(lb, 10)) == {WEB1, WEB2}
    assert recap_changed(set_server_state(WEB1, 'enabled').stdout, WEB1) == 0


def test_drain_gives_up_after_its_timeout_with_a_warning(lb):
    # Requests far longer than the drain timeout: the playbook must return
    # (with its warning) while they are still running. What the run reports
    # is asserted, not its wall time.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(get, lb, '/slow?s=30', timeout=90) for _ in range(2)]
        time.sleep(1)
        out = set_server_state(WEB1, 'drain', '-e', 'haproxy_drain_timeout=2')
        still_running = sum(not f.done() for f in slow)
        assert all(f.result().status_code == 200 for f in slow)
    try:
        assert 'still had 1 request(s) running after 2 s of draining' in out.stdout, out.stdout[-2000:]
        assert still_running >= 1, 'the drain returned only after the running requests ended'
    finally:
        set_server_state(WEB1, 'enabled')
    wait_status(lb, WEB1, 'UP')


def test_maintenance_and_back(lb):
    set_server_state(WEB2, 'maint')
    try:
        wait_status(lb, WEB2, 'MAINT')
        assert set(hosts_seen(lb, 6)) == {WEB1}
    finally:
        set_server_state(WEB2, 'enabled')
    wait_status(lb, WEB2, 'UP')


def test_a_dead_node_is_marked_down_without_errors(lb, webs):
    web2 = webs[1]
    errors = []
    web2.host.check_output('systemctl stop odoo-standin@8069')
    try:
        # While HAProxy notices, refused connections are retried elsewhere.
        deadline = time.time() + 300          # a hang guard: checks every 2 s, down after 3
        while True:
            resp = get(lb)
            if resp.status_code != 200:
                errors.append(resp.status_code)
            if stat(lb, 'odoo_web', WEB2)['status'].startswith('DOWN'):
                break
            assert time.time() < deadline, 'HAProxy never marked %s DOWN' % WEB2
            time.sleep(0.2)
        # Each backend checks its own port: the node's websocket server
        # (8072) still answers, so it stays in the websocket backend.
        assert stat(lb, 'odoo_websocket', WEB2)['status'].startswith('UP')
        seen = hosts_seen(lb, 20)
        assert set(seen) == {WEB1}
        assert errors == []
    finally:
        web2.host.check_output('systemctl start odoo-standin@8069')
    wait_status(lb, WEB2, 'UP')


def test_a_dead_websocket_server_leaves_the_web_backend_alone(lb, webs):
    web2 = webs[1]
    web2.host.check_output('systemctl stop odoo-standin@8072')
    try:
        deadline = time.time() + 300          # a hang guard: checks every 2 s, down after 3
        while not stat(lb, 'odoo_websocket', WEB2)['status'].startswith('DOWN'):
            assert time.time() < deadline, 'HAProxy never marked the websocket server of %s DOWN' % WEB2
            time.sleep(0.2)
        assert stat(lb, 'odoo_web', WEB2)['status'].startswith('UP')
        assert set(hosts_seen(lb, 10)) == {WEB1, WEB2}
    finally:
        web2.host.check_output('systemctl start odoo-standin@8072')
    wait_status(lb, WEB2, 'UP')
    assert set(hosts_seen(lb, 10)) == {WEB1, WEB2}


def test_check_mode_changes_nothing(lb):
    out = playbook('converge.yml', '--check')
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert recap_changed(out.stdout, lb.name) == 0, out.stdout[-3000:]
