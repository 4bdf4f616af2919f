"""The application tier with real Odoo processes, seen from outside: HAProxy,
sessions shared through Redis, attachments in the bucket, the cron split,
the derived limits and worker recycling."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid

import boto3
import psycopg2
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import CRON, LB, SVC, WEB, Odoo
from stack_helpers import haproxy_stat, node_of, record_result

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'bench'))
from loadgen import LoadGen  # noqa: E402



def conf_of(node):
    """odoo.conf of a node as a dict."""
    out = node.host.check_output('cat /etc/odoo/odoo.conf')
    return dict(line.split(' = ', 1) for line in out.splitlines() if ' = ' in line and not line.startswith('#'))


def filestore_count(node):
    return int(node.host.check_output("find /var/lib/odoo/filestore -type f 2>/dev/null | wc -l"))


def test_health_through_haproxy(lb_url):
    for _ in range(6):
        resp = requests.get(lb_url + '/web/health', timeout=10)
        assert resp.status_code == 200
        assert resp.json().get('status') == 'pass'


def test_requests_reach_both_web_nodes(lb_url):
    seen = {requests.get(lb_url + '/odoo_scale_probe/whoami', timeout=10).json()['host'] for _ in range(8)}
    assert seen == set(WEB)


def test_session_from_haproxy_is_valid_on_each_web_node(admin, web_urls):
    for name, url in web_urls.items():
        direct = Odoo(url, session_id=admin.session_id)
        assert direct.uid() == 2, 'session not valid on %s' % name


def test_session_lives_in_redis_not_on_disk(admin, nodes):
    sid = admin.session_id
    for name in WEB:
        found = nodes[name].host.run("find /var/lib/odoo/sessions -name '%s*' 2>/dev/null | wc -l" % sid[:16])
        assert found.stdout.strip() == '0', '%s keeps the session on disk' % name


def test_attachment_written_on_one_node_is_read_on_the_other_and_lands_in_the_bucket(admin, web_urls, nodes, settings):
    before = {name: filestore_count(nodes[name]) for name in WEB}
    s3 = boto3.client('s3', endpoint_url='http://%s:8333' % nodes[SVC].address,
                      aws_access_key_id=settings['objectstore_odoo_access_key'],
                      aws_secret_access_key=settings['objectstore_odoo_secret_key'],
                      region_name=settings.get('objectstore_region', 'us-east-1'),
                      config=Config(s3={'addressing_style': 'path'}))
    bucket = settings.get('objectstore_bucket', 'odoo-filestore')
    keys_before = {o['Key'] for o in s3.list_objects_v2(Bucket=bucket).get('Contents', [])}
    payload = ('odoo-scale %s\n' % uuid.uuid4()).encode() * 4096  # 180 kB: above every keep-in-DB rule
    web1 = Odoo(web_urls[WEB[0]], session_id=admin.session_id)
    att_id = web1.kw('ir.attachment', 'create', {'name': 'verify.bin', 'raw': None,
                                                 'datas': base64.b64encode(payload).decode(),
                                                 'mimetype': 'application/octet-stream'})
    web2 = Odoo(web_urls[WEB[1]], session_id=admin.session_id)
    rec = web2.kw('ir.attachment', 'read', [att_id], ['datas', 'store_fname'])[0]
    assert base64.b64decode(rec['datas']) == payload
    assert rec['store_fname'].startswith('odoo_scale_attachments://'), rec['store_fname']
    new_keys = {o['Key'] for o in s3.list_objects_v2(Bucket=bucket).get('Contents', [])} - keys_before
    bodies = [s3.get_object(Bucket=bucket, Key=k)['Body'].read() for k in new_keys]
    assert payload in bodies, 'no new object in %s holds the attachment (new keys: %s)' % (bucket, sorted(new_keys))
    assert {name: filestore_count(nodes[name]) for name in WEB} == before


def test_odoo_key_is_confined_to_its_bucket(nodes, settings):
    s3 = boto3.client('s3', endpoint_url='http://%s:8333' % nodes[SVC].address,
                      aws_access_key_id=settings['objectstore_odoo_access_key'],
                      aws_secret_access_key=settings['objectstore_odoo_secret_key'],
                      region_name='us-east-1', config=Config(s3={'addressing_style': 'path'}))
    with pytest.raises(ClientError):
        s3.create_bucket(Bucket='odoo-scale-not-mine')
    with pytest.raises(ClientError):
        s3.put_object(Bucket='odoo-scale-not-mine', Key='x', Body=b'x')


def test_websocket_upgrade_through_haproxy(nodes):
    key = base64.b64encode(os.urandom(16)).decode()
    request = ('GET /websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: http://%s\r\n\r\n'
               % (nodes[LB].address, key, nodes[LB].address))
    with socket.create_connection((nodes[LB].address, 80), timeout=15) as sock:
        sock.sendall(request.encode())
        status = sock.recv(4096).split(b'\r\n', 1)[0]
    assert status.startswith(b'HTTP/1.1 101'), status


# The README's sizing table for the bench, worked out by hand from its rules
# (memory-bound, so the same for any vCPU count): a web node of 1280 MB runs
# min(2 x vCPU + 1, (1280 - 256) // 325) = 3 workers, 5 processes with the
# gevent and main ones: 256 MB resident each + 384 MB of virtual overhead =
# 640 MB soft, 800 MB hard (x 1.25); the cron node of 1024 MB, 2 cron
# threads: 725 / 906 MB. MemoryHigh / MemoryMax: 90 % / 100 %.
SIZING = {
    'web': {'odoo_memory_mb': 1280, 'workers': 3, 'max_cron_threads': 0, 'soft_mb': 640, 'hard_mb': 800,
            'memory_high_mb': 1152, 'memory_max_mb': 1280},
    'cron': {'odoo_memory_mb': 1024, 'workers': 1, 'max_cron_threads': 2, 'soft_mb': 725, 'hard_mb': 906,
             'memory_high_mb': 921, 'memory_max_mb': 1024},
}


def test_conf_and_units_carry_the_derived_limits(nodes, node_settings):
    for name in WEB + [CRON]:
        node = nodes[name]
        role = 'cron' if name == CRON else 'web'
        want = SIZING[role]
        assert node_settings[role]['odoo_memory_mb'] == want['odoo_memory_mb'], 'the table is for the local inventory'
        conf = conf_of(node)
        assert int(conf['workers']) == want['workers']
        assert int(conf['max_cron_threads']) == want['max_cron_threads']
        assert int(conf['limit_memory_soft']) == want['soft_mb'] * 1024 * 1024
        assert int(conf['limit_memory_hard']) == want['hard_mb'] * 1024 * 1024
        assert conf['http_enable'] == ('True' if role == 'web' else 'False')
        assert conf['list_db'] == 'False'
        assert conf['admin_passwd'].startswith('$pbkdf2-sha512$')
        assert node.unit_property('odoo', 'MemoryMax') == str(want['memory_max_mb'] * 1024 * 1024)
        assert node.unit_property('odoo', 'MemoryHigh') == str(want['memory_high_mb'] * 1024 * 1024)
        assert node.unit_user('odoo') == 'odoo'
        mode = node.host.file('/etc/odoo/odoo.conf')
        assert mode.mode == 0o640 and mode.user == 'root' and mode.group == 'odoo'
        if role == 'web':
            assert want['workers'] >= 2
            listening = node.host.check_output('ss -ltnH')
            assert ':8069 ' in listening and ':8072 ' in listening


def test_cron_node_serves_no_http(nodes):
    listening = nodes[CRON].host.check_output('ss -ltnH')
    assert ':8069 ' not in listening and ':8072 ' not in listening


def test_a_cron_job_runs_on_the_cron_node_only(admin, nodes, primary, settings):
    name = 'odoo-scale probe %s' % uuid.uuid4().hex[:8]
    model_id = admin.kw('ir.model', 'search', [('model', '=', 'ir.config_parameter')])[0]
    param = 'odoo_scale.probe.%s' % uuid.uuid4().hex[:8]
    admin.kw('ir.cron', 'create', {
        'name': name, 'model_id': model_id, 'state': 'code', 'interval_number': 1, 'interval_type': 'minutes',
        'numbercall': -1, 'active': True,
        'code': "model.sudo().set_param('%s', str(time.time()))" % param,
        'nextcall': time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(time.time() - 60)),
    })
    # Woken as Odoo wakes it when a job is due (NOTIFY cron_trigger), not
    # left to its next poll (every minute); a web node woken too would show.
    primary.psql("SELECT pg_notify('cron_trigger', '%s')" % settings.get('odoo_database', 'odoo'))
    deadline = time.time() + 600          # a hang guard, not a timing
    value = False
    while time.time() < deadline and not value:
        time.sleep(1)
        value = admin.kw('ir.config_parameter', 'get_param', param)
    assert value, 'cron job %r did not run within 600 s' % name
    assert nodes[CRON].host.run("grep -c 'Starting job `%s`' /var/log/odoo/odoo.log" % name).stdout.strip() != '0'
    for web in WEB:
        assert nodes[web].host.run("grep -c 'Starting job' /var/log/odoo/odoo.log").stdout.strip() == '0', \
            '%s ran a cron job' % web


def test_listen_connections_go_through_pgbouncer_postgres_entry(nodes, settings, node_settings):
    """Cron workers (and the gevent process once a websocket subscribed)
    hold session-mode connections to PgBouncer's `postgres` entry; their
    LISTEN works: the cron test's job ran on a NOTIFY, not a poll."""
    bouncer = node_of('pgbouncer')
    conn = psycopg2.connect(host=bouncer.address, port=6432, dbname='pgbouncer',
                            user=settings.get('pgbouncer_admin_user', 'pgbouncer_admin'),
                            password=settings['pgbouncer_admin_password'], connect_timeout=10)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('SHOW CLIENTS')
        cols = [d[0] for d in cur.description]
        clients = [dict(zip(cols, row)) for row in cur.fetchall()]
    conn.close()
    from_cron = [c for c in clients if c['database'] == 'postgres' and c['addr'] == nodes[CRON].address]
    assert len(from_cron) >= node_settings['cron'].get('odoo_max_cron_threads', 2), clients


def _memory_recycles(node):
    """odoo_worker_recycles_total{reason="memory"} as the node's Odoo exporter serves it."""
    text = requests.get('http://%s:9188/metrics' % node.address, timeout=30).text
    m = re.search(r'^odoo_worker_recycles_total\{reason="memory"\} (\d+)$', text, re.M)
    assert m, text[-2000:]
    return int(m.group(1))


def test_worker_over_soft_limit_is_recycled_while_node_serves(web_urls, nodes):
    """A worker past limit_memory_soft is replaced after its request while
    the node keeps serving, and the node's Odoo exporter counts the recycle
    (what OdooWorkerMemoryRecycles alerts on)."""
    url = web_urls[WEB[0]]
    node = nodes[WEB[0]]
    recycles = _memory_recycles(node)
    hit = requests.get(url + '/odoo_scale_probe/exceed_soft', timeout=60)
    assert hit.status_code == 200, hit.text[:300]
    info = hit.json()
    assert info['vms'] > info['soft']
    deadline = time.time() + 300          # a hang guard, not a timing
    statuses = []
    while time.time() < deadline:
        statuses.append(requests.get(url + '/web/health', timeout=10).status_code)
        if node.host.run('kill -0 %d' % info['pid']).rc != 0:
            break
        time.sleep(0.5)
    assert node.host.run('kill -0 %d' % info['pid']).rc != 0, 'worker %d still alive past its soft limit' % info['pid']
    log = node.host.check_output("grep -c 'Worker (%d) virtual memory limit' /var/log/odoo/odoo.log || true" % info['pid'])
    assert log.strip() != '0'
    statuses += [requests.get(url + '/web/health', timeout=10).status_code for _ in range(10)]
    assert set(statuses) == {200}
    deadline = time.monotonic() + 300         # a hang guard: the exporter reads the log twice a second
    while _memory_recycles(node) <= recycles and time.monotonic() < deadline:
        time.sleep(1)
    assert _memory_recycles(node) >= recycles + 1


def test_session_survives_a_redis_restart(admin, nodes):
    nodes[SVC].host.check_output('systemctl restart redis-server')
    assert admin.uid() == 2


def _wait_samples(gen, more):
    """Until the load generator has finished `more` requests beyond now."""
    target = len(gen.samples) + more
    deadline = time.time() + 300
    while len(gen.samples) < target:
        assert time.time() < deadline, 'the load generator stalled at %d requests' % len(gen.samples)
        time.sleep(0.2)


def test_no_request_fails_across_redis_restarts(lb_url, settings, nodes):
    """Five clients (login page, JSON-RPC read and write with a session)
    through HAProxy while Redis restarts three times: each request waits for
    the session store instead of failing."""
    gen = LoadGen(lb_url, settings['odoo_admin_user_password'], db=settings.get('odoo_database', 'odoo'),
                  workers=5).start()
    try:
        for _ in range(3):
            _wait_samples(gen, 40)
            nodes[SVC].host.check_output('systemctl restart redis-server')
        _wait_samples(gen, 40)
    finally:
        gen.stop()
    report = gen.report()
    record_result('faults.json', 'redis_restarts_under_load', {'restarts': 3, **{k: report[k] for k in ('sent', 'failed', 'p50_ms', 'p99_ms')}})
    assert report['sent'] > 0 and report['failed'] == 0, report


def test_no_request_fails_across_pgbouncer_restarts(lb_url, settings, bouncer):
    """Five clients through HAProxy while PgBouncer restarts three times
    (`systemctl restart pgbouncer`: a package upgrade or a unit setting).
    Odoo's pooled connections to the old process are dead afterwards and the
    new process takes a moment to listen: no request may fail for either.
    Figures: bench/results/faults.json."""
    gen = LoadGen(lb_url, settings['odoo_admin_user_password'], db=settings.get('odoo_database', 'odoo'),
                  workers=5).start()
    pids = []
    first = None
    try:
        _wait_samples(gen, 40)
        first = time.time()
        for _ in range(3):
            bouncer.host.check_output('systemctl restart pgbouncer')
            pids.append(bouncer.host.check_output('systemctl show -p MainPID --value pgbouncer'))
            _wait_samples(gen, 40)
    finally:
        gen.stop()
    before, during = gen.report(until=first), gen.report(since=first)
    record_result('faults.json', 'pgbouncer_restarts_under_load', {
        'restarts': 3, 'sent_during': during['sent'], 'failed_during': during['failed'],
        'p50_ms_before': before['p50_ms'], 'p99_ms_before': before['p99_ms'],
        'p50_ms_during': during['p50_ms'], 'p99_ms_during': during['p99_ms'], 'failures': during['failures']})
    assert len(set(pids)) == 3, 'PgBouncer did not restart three times: main PIDs %s' % pids
    assert before['failed'] == 0, before
    assert during['sent'] > 0 and during['failed'] == 0, during


def test_redis_gone_past_the_wait_is_a_503_not_a_500(admin, lb_url, nodes, settings):
    """Redis stopped for longer than odoo_session_redis_wait: the request
    gets a 503 with Retry-After and the node logs one line, no traceback;
    with Redis back the same session works again."""
    marks = {name: int(nodes[name].host.check_output('wc -l < /var/log/odoo/odoo.log')) for name in WEB}
    nodes[SVC].host.check_output('systemctl stop redis-server')
    try:
        resp = requests.get(lb_url + '/web/webclient/version_info', cookies={'session_id': admin.session_id},
                            timeout=120)
    finally:
        nodes[SVC].host.check_output('systemctl start redis-server')
    assert resp.status_code == 503, (resp.status_code, resp.text[:500])
    assert resp.headers.get('Retry-After') == '5', dict(resp.headers)
    logs = ''.join(nodes[name].host.check_output('tail -n +%d /var/log/odoo/odoo.log' % (marks[name] + 1)) for name in WEB)
    assert 'odoo_scale_session_redis: Redis did not answer GETEX within' in logs, logs[-3000:]
    assert 'Traceback' not in logs, logs[-3000:]
    assert admin.uid() == 2


def _docker_address(name):
    return subprocess.run(['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name],
                          check=True, capture_output=True, text=True).stdout.strip()


def _wait_server(lb, server, wanted, backends=('odoo_web', 'odoo_websocket'), bound=300):
    """Until HAProxy shows `server` `wanted` in every backend; past `bound`
    seconds the check is declared failed (a bound on waiting, not a timing)."""
    deadline = time.time() + bound
    while True:
        status = [haproxy_stat(lb, backend, server)['status'] for backend in backends]
        if all(s.startswith(wanted) for s in status):
            return
        assert time.time() < deadline, '%s is %s in HAProxy, not %s' % (server, status, wanted)
        time.sleep(0.5)


def test_a_web_node_killed_under_load_is_left_on_the_first_failures(lb_url, settings, nodes):
    """A web node's container stopped hard (docker kill: no drain, no FIN
    from a process that shuts down cleanly) while five clients work through
    HAProxy. No page view fails (a GET the node had in hand is replayed on
    the other node); at most the JSON-RPC calls the node had in hand fail (a
    POST may have run, so it is never replayed). HAProxy takes the node out
    on the connection failures of live traffic ("Health analyze": observe
    layer4), not after `fall` probes of `inter` seconds each; the requests
    that still went to it waited timeout connect (500 ms) and went to the
    other node. p99 before and during the fault: bench/results/faults.json.
    The node is started again and comes back UP in both backends."""
    victim, lb = WEB[1], nodes[LB]
    address = _docker_address(victim)
    since = lb.host.check_output('date +%s')
    gen = LoadGen(lb_url, settings['odoo_admin_user_password'], db=settings.get('odoo_database', 'odoo'),
                  workers=5).start()
    killed = None
    try:
        _wait_samples(gen, 40)
        killed = time.time()
        subprocess.run(['docker', 'kill', victim], check=True, capture_output=True)
        _wait_server(lb, victim, 'DOWN', backends=('odoo_web',))
        _wait_samples(gen, 60)
    finally:
        gen.stop()
        if killed is not None:
            subprocess.run(['docker', 'start', victim], check=True, capture_output=True)
    before, during = gen.report(until=killed), gen.report(since=killed)
    record_result('faults.json', 'web_node_killed_under_load', {
        'failed_during': during['failed'], 'sent_during': during['sent'], 'p99_ms_before': before['p99_ms'],
        'p99_ms_during': during['p99_ms'], 'p50_ms_during': during['p50_ms'], 'failures': during['failures']})
    log = lb.host.check_output("journalctl --since @%s --no-pager -o cat | grep -F 'odoo_web/%s is DOWN' || true"
                               % (since, victim))
    try:
        assert before['failed'] == 0, before
        assert during['sent'] > 60, during
        assert during['failed'] <= gen.workers, during
        assert all(f['kind'] != 'page' for f in during['failures']), during['failures']
        assert 'reason: Health analyze' in log, log
    finally:
        # Docker gives the container its address back when it is free: the
        # configuration HAProxy runs with names that address.
        assert _docker_address(victim) == address, 'docker gave %s a new address' % victim
        _wait_server(lb, victim, 'UP')
    statuses = {requests.get(lb_url + '/web/health', timeout=30).status_code for _ in range(6)}
    assert statuses == {200}


def test_default_admin_password_is_refused(lb_url, settings):
    resp = requests.post(lb_url + '/web/session/authenticate', timeout=30, json={
        'jsonrpc': '2.0', 'method': 'call', 'id': 1,
        'params': {'db': settings.get('odoo_database', 'odoo'), 'login': 'admin', 'password': 'admin'}})
    body = resp.json()
    assert 'error' in body and 'AccessDenied' in json.dumps(body['error'])


def test_master_password_hash_matches_the_secret(nodes, settings):
    node = nodes[CRON]
    script = ("import configparser, sys; from passlib.context import CryptContext; "
              "c = configparser.RawConfigParser(); c.read('/etc/odoo/odoo.conf'); "
              "ok = CryptContext(['pbkdf2_sha512']).verify(sys.stdin.read().rstrip('\\n'), c['options']['admin_passwd']); "
              "print(ok)")
    out = node.host.run("/opt/odoo/current/venv/bin/python -c %s <<'EOF'\n%s\nEOF" % (
        "\"%s\"" % script, settings["odoo_admin_password"]))
    assert out.stdout.strip() == 'True', out.stderr
