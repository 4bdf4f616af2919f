"""Monitoring: every exporter scraped by Prometheus after the converge, the
figures they report checked against what the inventory set, listeners and
credentials locked down, and real faults (replica stopped, PgBouncer's pool
held, Redis filled, cron node stopped) raising the right alert in
Alertmanager, then resolving once undone."""

from __future__ import annotations

import datetime
import os
import json
import subprocess
import time

import pytest
import requests

from conftest import CRON, PREFIX, Resp, SVC

MON = '%s-mon1' % PREFIX
HOSTS = ['pg1', 'pg2', 'pgb1', 'svc1', 'web1', 'web2', 'cron1', 'lb1', 'mon1']
JOBS = {'prometheus', 'alertmanager', 'node', 'postgres', 'pgbouncer', 'redis', 'haproxy', 'odoo', 'blackbox', 'tls'}
# Generous upper bounds on waiting for an effect, never asserted as speed.
PATIENCE = 420


@pytest.fixture(scope='module')
def mon():
    from stack_helpers import Node
    return Node(MON)


@pytest.fixture(scope='module')
def prom(mon):
    base = 'http://%s:9090' % mon.address

    def query(expr):
        r = requests.get(base + '/api/v1/query', params={'query': expr}, timeout=30)
        r.raise_for_status()
        return {tuple(sorted(s['metric'].items())): float(s['value'][1]) for s in r.json()['data']['result']}
    query.base = base
    return query


def one(values):
    assert len(values) == 1, values
    return next(iter(values.values()))


def by_instance(values):
    return {dict(k).get('instance'): v for k, v in values.items()}


def wait_for(what, check, patience=PATIENCE, step=3):
    """Poll check() until it returns a true value; fail with `what` after `patience` s."""
    deadline = time.monotonic() + patience
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail('%s: still not true after %d s (last: %r)' % (what, patience, value))
        time.sleep(step)


@pytest.fixture(scope='module')
def targets_up(prom):
    """Every active target, once each has been scraped up (a converge may
    have just started an exporter)."""
    def health():
        r = requests.get(prom.base + '/api/v1/targets', timeout=30).json()['data']['activeTargets']
        return r if r and all(t['health'] == 'up' for t in r) else None
    return wait_for('every Prometheus target up', health, patience=180)


def test_every_exporter_of_every_host_is_scraped_and_up(targets_up):
    jobs = {}
    for t in targets_up:
        jobs.setdefault(t['labels']['job'], set()).add(t['labels']['instance'])
    assert set(jobs) == JOBS
    assert jobs['node'] == {'%s-%s' % (PREFIX, h) for h in HOSTS}
    assert jobs['postgres'] == {'%s-pg1' % PREFIX, '%s-pg2' % PREFIX}
    assert jobs['pgbouncer'] == {'%s-pgb1' % PREFIX}
    assert jobs['redis'] == {'%s-svc1' % PREFIX}
    assert jobs['haproxy'] == {'%s-lb1' % PREFIX}
    assert jobs['odoo'] == {'%s-%s' % (PREFIX, h) for h in ('web1', 'web2', 'cron1')}
    # The object store's HTTPS endpoint, probed through the blackbox exporter.
    assert jobs['tls'] == {'%s-svc1' % PREFIX}


def test_a_tls_endpoint_reports_when_its_certificate_expires(targets_up, prom, s3_node):
    """The blackbox exporter's handshake with the object store's HTTPS port
    verifies against the bundle's CA, and the expiry it reports is the
    certificate's own notAfter, read on the host with openssl."""
    probe = prom('probe_success{job="tls"}')
    assert list(probe.values()) == [1.0], probe
    end = s3_node.host.check_output('openssl x509 -enddate -noout -in /etc/seaweedfs/s3.crt').split('=', 1)[1]
    expected = datetime.datetime.strptime(end, '%b %d %H:%M:%S %Y %Z').replace(tzinfo=datetime.timezone.utc).timestamp()
    expiry = one(prom('probe_ssl_earliest_cert_expiry{job="tls"}'))
    assert expiry == expected, (expiry, end)


def test_exporters_report_what_the_inventory_set(targets_up, prom, primary, settings):
    pg1, pg2 = '%s-pg1' % PREFIX, '%s-pg2' % PREFIX
    assert by_instance(prom('pg_up')) == {pg1: 1, pg2: 1}
    assert by_instance(prom('odoo_scale_pg_role_in_recovery')) == {pg1: 0, pg2: 1}
    assert by_instance(prom('odoo_scale_pg_role_streaming_replicas'))[pg1] == 1
    assert by_instance(prom('odoo_scale_pg_role_wal_receiver_streaming'))[pg2] == 1
    # A streaming replica of a stack at rest comes near zero behind (the
    # checks before this one may have just written a burst of WAL).
    def near_zero():
        lag = prom('odoo_scale_pg_replica_replay_lag_bytes')
        return lag if len(lag) == 1 and 0 <= one(lag) < 16 * 1024 * 1024 else None
    wait_for('the one replica under 16 MB behind', near_zero, patience=180)
    hit = one(prom('sum(pg_stat_database_blks_hit) / (sum(pg_stat_database_blks_hit) + sum(pg_stat_database_blks_read))'))
    assert 0.5 < hit <= 1
    # PgBouncer: the pools as the inventory sized them.
    db = settings.get('postgresql_app_database', 'odoo')
    assert one(prom('pgbouncer_up')) == 1
    assert one(prom('pgbouncer_databases_pool_size{database="%s"}' % db)) == settings['pgbouncer_app_pool_size']
    assert prom('pgbouncer_pools_client_maxwait_seconds{database="%s"}' % db)
    # Redis: maxmemory as set, the sessions counted.
    redis_mb = settings['redis_memory_mb']
    assert one(prom('redis_up')) == 1
    assert one(prom('redis_memory_max_bytes')) == redis_mb * 1024 * 1024
    assert one(prom('redis_keys_count{key="session:*"}')) >= 0
    # HAProxy: both web nodes up behind the Odoo backend.
    assert one(prom('sum(haproxy_server_status{state="UP", proxy="odoo_web"})')) == 2
    # systemd state of the single cron node's Odoo.
    assert one(prom('node_systemd_unit_state{name="odoo.service", state="active", instance="%s"}' % CRON)) == 1


def test_table_bloat_is_estimated_on_the_primary_only(targets_up, prom, primary, settings):
    """A table that lost 90 % of its rows to DELETE (a plain VACUUM keeps
    the pages) shows up mostly bloat in Prometheus once the writer runs; the
    replica writes no figures of its own."""
    db = settings.get('postgresql_app_database', 'odoo')
    primary.psql('DROP TABLE IF EXISTS monitoring_bloat_check; '
                 'CREATE TABLE monitoring_bloat_check (id serial PRIMARY KEY, name text, amount numeric); '
                 "INSERT INTO monitoring_bloat_check (name, amount) SELECT 'row ' || g, g FROM generate_series(1, 200000) g; "
                 'DELETE FROM monitoring_bloat_check WHERE mod(id, 10) <> 0', db=db)
    primary.psql('VACUUM ANALYZE monitoring_bloat_check', db=db)
    try:
        primary.host.check_output('systemctl start odoo-scale-pg-bloat-metrics.service')
        query = 'odoo_scale_pg_table_bloat_ratio{table="public.monitoring_bloat_check"}'
        ratio = wait_for('the bloated table in Prometheus', lambda: prom(query), patience=120)
        assert 0.8 < one(ratio) <= 1, ratio
        assert by_instance(prom('odoo_scale_pg_bloat_ok')) == {primary.name: 1, '%s-pg2' % PREFIX: 1}
        assert by_instance(prom('odoo_scale_pg_bloat_standby')) == {primary.name: 0, '%s-pg2' % PREFIX: 1}
        assert set(by_instance(prom('odoo_scale_pg_table_size_bytes'))) == {primary.name}
    finally:
        primary.psql('DROP TABLE IF EXISTS monitoring_bloat_check', db=db)
        primary.host.check_output('systemctl start odoo-scale-pg-bloat-metrics.service')


def test_odoo_requests_are_measured_by_route_class(targets_up, prom, admin, lb_url):
    """Requests made through HAProxy show up in Prometheus under their route
    class, with Odoo's own timing, and the P90 the health report grades."""
    def total(cls):
        return sum(prom('odoo_http_requests_total{route_class="%s", code="2xx"}' % cls).values())
    before = {cls: total(cls) for cls in ('rpc', 'web')}
    for _ in range(20):
        admin.kw('res.partner', 'search_count', [])
    for _ in range(10):
        assert requests.get(lb_url + '/web/login', timeout=60).status_code == 200
    wait_for('20 RPC and 10 page requests counted',
             lambda: total('rpc') >= before['rpc'] + 20 and total('web') >= before['web'] + 10, patience=120)
    p90 = prom('histogram_quantile(0.9, sum by (le, route_class) '
               '(rate(odoo_http_request_duration_seconds_bucket{route_class=~"web|rpc"}[5m])))')
    assert {dict(k)['route_class'] for k in p90} == {'web', 'rpc'}
    assert all(0 < v < 30 for v in p90.values()), p90
    assert sum(prom('odoo_http_request_queries_total{route_class="rpc"}').values()) > 0


def test_a_watched_database_can_still_be_dropped(targets_up, prom, primary):
    """Once Prometheus has seen a new database, DROP DATABASE still works:
    the exporter holds no connection in it (with --auto-discover-databases
    it did, and bench/backup.py's dropdb failed: "being accessed by other
    users"; Odoo's database manager would too)."""
    primary.psql('DROP DATABASE IF EXISTS monitoring_drop_test')
    primary.psql('CREATE DATABASE monitoring_drop_test')
    # Two scrapes that saw it: an exporter that opens a connection per
    # database it discovers has one open by the second.
    wait_for('two scrapes seeing the new database',
             lambda: [v for v in prom('count_over_time(pg_stat_database_numbackends'
                                      '{datname="monitoring_drop_test"}[5m])').values() if v >= 2], patience=180)
    primary.psql('DROP DATABASE monitoring_drop_test')


def test_backup_state_is_reported(targets_up, prom, primary):
    """pgBackRest's newest full backup, as `pgbackrest info` reads it, reaches
    Prometheus (textfile collector)."""
    def full_backups():
        info = primary.host.check_output("runuser -u postgres -- pgbackrest --stanza=odoo --output=json info")
        return [b['timestamp']['stop'] for b in json.loads(info)[0]['backup']
                if b['type'] == 'full' and not b.get('error')]
    # The converge's first full backup runs in the background.
    stops = wait_for('a full backup in the repository', full_backups, patience=1800, step=10)
    primary.host.check_output('systemctl start odoo-scale-pgbackrest-metrics.service')
    expr = 'pgbackrest_last_backup_timestamp_seconds{type="full", instance="%s"}' % primary.name

    def newest():
        values = prom(expr)
        return values if values and one(values) >= max(stops) else None
    assert one(wait_for('the newest full backup in Prometheus', newest, patience=120)) == max(stops)
    assert by_instance(prom('pgbackrest_info_ok'))[primary.name] == 1


def listeners(node):
    """{port: set of bound addresses} of the listening TCP sockets."""
    out = node.host.check_output("ss -Hltn | awk '{print $4}'")
    seen = {}
    for line in out.split():
        addr, _, port = line.rpartition(':')
        seen.setdefault(int(port), set()).add(addr.strip('[]'))
    return seen


@pytest.mark.parametrize('host,ports', [
    ('pg1', [9100, 9187]), ('pgb1', [9100, 9127]), ('svc1', [9100, 9121]), ('lb1', [9100, 8405]),
    ('mon1', [9100, 9090, 9093, 9115]), ('cron1', [9100, 9188]), ('web1', [9100, 9188])])
def test_every_exporter_listens_on_the_internal_address_only(targets_up, host, ports):
    from stack_helpers import Node
    node = Node('%s-%s' % (PREFIX, host))
    seen = listeners(node)
    for port in ports:
        assert seen.get(port) == {node.address}, (port, seen.get(port))
    assert 9094 not in seen, 'Alertmanager cluster gossip listens: %s' % seen.get(9094)


def test_exporter_credentials_stay_out_of_sight(targets_up, bouncer, primary, redis_node, settings):
    # Passwords in neither the process list nor the units' properties.
    for node, unit, secret in [(bouncer, 'odoo-scale-pgbouncer-exporter', settings['pgbouncer_stats_password']),
                               (redis_node, 'prometheus-redis-exporter', settings['redis_monitor_password'])]:
        assert secret not in node.host.check_output('ps -eo args')
        assert secret not in node.host.check_output('systemctl show %s' % unit)
        assert node.unit_user(unit) == 'prometheus'
    for node, path in [(bouncer, '/etc/odoo-scale-pgbouncer-exporter.env'),
                       (redis_node, '/etc/default/prometheus-redis-exporter')]:
        f = node.host.file(path)
        assert (f.user, f.group, f.mode) == ('root', 'root', 0o600), path
    # The PostgreSQL role: pg_monitor only, no password at all (peer).
    row = primary.psql("SELECT rolsuper, rolpassword IS NULL, (SELECT string_agg(b.rolname, ',') FROM pg_auth_members m "
                       "JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = a.oid) FROM pg_authid a "
                       "WHERE rolname = 'prometheus'")
    assert row == 'f|t|pg_monitor'
    # The Redis monitor user reads INFO, never a session.
    conn = Resp(redis_node.address)
    try:
        conn('AUTH', 'monitor', settings['redis_monitor_password'])
        assert 'used_memory' in conn('INFO', 'memory')
        with pytest.raises(Exception, match='NOPERM'):
            conn('GET', 'session:someone')
    finally:
        conn.close()


# -- Faults and alerts --------------------------------------------------------

def alertmanager_alerts(mon):
    r = requests.get('http://%s:9093/api/v2/alerts' % mon.address, params={'active': 'true'}, timeout=30)
    r.raise_for_status()
    now = datetime.datetime.now(datetime.timezone.utc)
    live = []
    for a in r.json():
        ends = datetime.datetime.fromisoformat(a['endsAt'].replace('Z', '+00:00'))
        if a['status']['state'] == 'active' and ends > now:
            live.append(a['labels'])
    return live


def firing(mon, name, **labels):
    return [a for a in alertmanager_alerts(mon)
            if a['alertname'] == name and all(a.get(k) == v for k, v in labels.items())]


class PoolHold:
    """More clients than PgBouncer's `postgres` pool (pool + reserve) has
    server connections, each in a long statement: the rest wait."""

    def __init__(self, bouncer, settings, clients):
        self.procs = []
        env = dict(os.environ, PGPASSWORD=settings['postgresql_app_password'], PGCONNECT_TIMEOUT='10')
        for _ in range(clients):
            self.procs.append(subprocess.Popen(
                ['psql', '-X', '-h', bouncer.address, '-p', '6432', '-U', settings.get('postgresql_app_user', 'odoo'),
                 '-d', 'postgres', '-c', 'SELECT pg_sleep(900) /* monitoring-test */'],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def release(self, primary):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(timeout=60)
        primary.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                     "WHERE query LIKE 'SELECT pg_sleep(900) /* monitoring-test */%'")


def fill_redis(redis_node, settings):
    """Writes 1 MB values as the admin user until Redis refuses (noeviction)."""
    conn = Resp(redis_node.address, timeout=30)
    conn('AUTH', settings['redis_admin_password'])
    blob = 'x' * (1024 * 1024)
    written = 0
    try:
        for i in range(4 * settings['redis_memory_mb']):
            try:
                conn('SET', 'monitoring-test:%d' % i, blob)
                written += 1
            except Exception as exc:  # OOM command not allowed when used memory > 'maxmemory'
                assert 'OOM' in str(exc), exc
                break
    finally:
        conn.close()
    return written


def empty_redis(redis_node, settings, written):
    conn = Resp(redis_node.address, timeout=30)
    conn('AUTH', settings['redis_admin_password'])
    try:
        for i in range(written + 1):
            conn('UNLINK', 'monitoring-test:%d' % i)
    finally:
        conn.close()


@pytest.fixture(scope='module')
def faults(targets_up, mon, primary, replica, bouncer, redis_node, settings):
    """All four faults at once (their alerts' `for` windows overlap instead
    of adding up): what fired in Alertmanager, then what resolved once each
    fault was undone."""
    from stack_helpers import Node
    cron = Node(CRON)
    expected = {
        'replica stopped': ('PostgresReplicaNotStreaming', {'instance': primary.name}),
        'pool held': ('PgBouncerClientsWaiting', {'database': 'postgres'}),
        'redis full': ('RedisMemoryHigh', {}),
        'cron stopped': ('OdooCronDown', {}),
    }
    for name, (alert, labels) in expected.items():
        assert not firing(mon, alert, **labels), '%s already fires before the fault' % alert
    pool = settings.get('pgbouncer_postgres_pool_size', 10) + settings.get('pgbouncer_app_reserve_pool_size', 5)
    hold = redis_written = None
    result = {'fired': {}, 'resolved': {}}
    try:
        replica.host.check_output('systemctl stop postgresql@15-main')
        cron.host.check_output('systemctl stop odoo')
        hold = PoolHold(bouncer, settings, pool + 6)
        redis_written = fill_redis(redis_node, settings)
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline and len(result['fired']) < len(expected):
            for name, (alert, labels) in expected.items():
                if name not in result['fired'] and firing(mon, alert, **labels):
                    result['fired'][name] = True
            time.sleep(3)
    finally:
        if hold:
            hold.release(primary)
        if redis_written is not None:
            empty_redis(redis_node, settings, redis_written)
        cron.host.check_output('systemctl start odoo')
        replica.host.check_output('systemctl start postgresql@15-main')
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and len(result['resolved']) < len(expected):
        for name, (alert, labels) in expected.items():
            if name not in result['resolved'] and not firing(mon, alert, **labels):
                result['resolved'][name] = True
        time.sleep(3)
    result['redis_mb_written'] = redis_written
    return result


@pytest.mark.parametrize('fault', ['replica stopped', 'pool held', 'redis full', 'cron stopped'])
def test_a_fault_fires_its_alert_and_it_resolves_once_undone(faults, fault):
    assert faults['fired'].get(fault), '%s: its alert never reached Alertmanager (%s)' % (fault, faults)
    assert faults['resolved'].get(fault), '%s: its alert did not resolve after the fault was undone' % fault


def test_a_cron_job_failing_repeatedly_raises_its_alert(targets_up, mon, prom, admin, primary, settings):
    """A scheduled action that raises, with three missed runs to catch up
    (doall): the cron node, woken as Odoo wakes it when a job is due
    (NOTIFY cron_trigger), runs it three times at once, Odoo logs each
    failure, the alert names the job although the exporter never saw it
    succeed or fail before."""
    name = 'monitoring-test failing job %d' % time.time()
    model = admin.kw('ir.model', 'search', [['model', '=', 'res.partner']])[0]
    past = (datetime.datetime.utcnow() - datetime.timedelta(seconds=150)).strftime('%Y-%m-%d %H:%M:%S')
    cron = admin.kw('ir.cron', 'create', {
        'name': name, 'model_id': model, 'state': 'code',
        'code': 'raise UserError("monitoring-test: this job fails on purpose")',
        'interval_number': 1, 'interval_type': 'minutes', 'numbercall': -1, 'doall': True, 'nextcall': past})
    try:
        primary.psql("SELECT pg_notify('cron_trigger', '%s')" % settings.get('odoo_database', 'odoo'))
        wait_for('OdooCronJobFailing for %r in Alertmanager' % name,
                 lambda: firing(mon, 'OdooCronJobFailing', cron=name))
        failures = one(prom('sum(odoo_cron_job_failures_total{cron="%s"})' % name))
        assert failures >= 2
    finally:
        admin.kw('ir.cron', 'unlink', [cron])


def test_prometheus_checks_the_rules_it_runs(mon):
    """The rules file on disk is the one promtool accepts and Prometheus loaded."""
    mon.host.check_output('promtool check rules /etc/prometheus/rules/odoo-scale.yml')
    r = requests.get('http://%s:9090/api/v1/rules' % mon.address, timeout=30).json()['data']['groups']
    names = {rule['name'] for g in r for rule in g['rules']}
    assert {'PostgresReplicaNotStreaming', 'PostgresReplicaLagging', 'PgBouncerClientsWaiting',
            'PgBouncerPoolSaturated', 'RedisMemoryHigh', 'OdooHttp5xx', 'OdooCronDown', 'DiskAlmostFull',
            'BackupTooOld', 'OdooSlowRequests', 'OdooWorkerMemoryRecycles', 'OdooCronJobFailing',
            'CertificateExpiresSoon', 'TlsEndpointFailing'} <= names
    assert all(rule.get('health') == 'ok' for g in r for rule in g['rules']), r
