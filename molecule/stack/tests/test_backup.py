"""Backups with pgBackRest into the object store's backup bucket, and a
point-in-time restore.

- The repository is reached over HTTPS with a certificate of the bundle's CA
  (a client that does not trust that CA is refused), with its own key: the
  Odoo key cannot list the backup bucket, the backup key cannot list Odoo's.
- What lies in the bucket is encrypted: an archived WAL segment read
  straight from the bucket is neither a WAL page nor a zstd frame.
- The converge started a first full backup; the timers back up only where
  PostgreSQL is the primary.
- playbooks/backup.yml under pgbench writes prints the label pgBackRest
  then lists.
- Every PostgreSQL host runs pgBackRest's TLS server as postgres, on its
  internal address only, and serves only a client whose certificate the
  bundle's CA signed for a PostgreSQL host. playbooks/backup.yml -e
  backup_from_standby=true under pgbench writes copies the data files from
  the standby (pgBackRest's log names the standby's address for each of
  them; the primary sends pg_control), and pgbackrest info lists the
  backup. Asked for with no standby streaming, it is refused in one line.
- playbooks/restore.yml to a time T, while pgbench writes through
  PgBouncer: rows written before T are there, rows written after are not,
  a table dropped after T is back, the replica streams from the restored
  primary, PgBouncer serves writes, no pgbench client saw an error, and the
  data directory from before is kept aside. Real Odoo attachments made
  before T read back byte for byte through HAProxy and on each web node,
  also one deleted in Odoo after T with the autovacuum run since; one made
  after T is gone.
- A restore that fails midway (a restore point that does not exist) puts
  the old data directory back and leaves the stack serving as before.
- Bad targets (a time in the future, a time before the oldest backup, an
  unknown label, a wrong cipher passphrase) are refused with one line each,
  and nothing changes.
- playbooks/restore_drill.yml on the replica, while pgbench writes through
  PgBouncer: the latest backup restored into a throw-away cluster, its
  tables counted and its attachments read back from the bucket, the
  production servers never restarted, the replica still streaming, the
  throw-away cluster gone afterwards and the result kept as a local fact.
  A drill host that is no PostgreSQL host of the inventory is refused with
  one line, and nothing changes.
- Disaster: the primary's server killed and both data directories removed;
  restore.yml to latest rebuilds the primary from the repository alone and
  re-clones the replica; what reached the archive is back, and PgBouncer and
  Odoo serve writes again.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from conftest import Odoo, paused_databases  # noqa: E402
from test_attachments_gc import Attachment, bucket, collect  # noqa: E402,F401 (bucket: a fixture)
from stack_helpers import INVENTORY, PgbenchLoop, record_result, run_playbook  # noqa: E402

CLIENTS = 10
STANZA = 'odoo'
DATA = '/var/lib/postgresql/15/main'
CA = os.path.join(os.path.dirname(INVENTORY or '.'), 'pki', 'ca.crt')
ZSTD_MAGIC = b'\x28\xb5\x2f\xfd'


def _info(node):
    """pgbackrest info of the stanza, read on the host as postgres."""
    out = node.host.check_output('runuser -u postgres -- pgbackrest --stanza=%s --output=json info' % STANZA)
    return json.loads(out)[0]


def _flat(text):
    """Ansible's output with its line wrapping undone."""
    return ' '.join(text.split())


def _until(check, what, limit=300):
    """Poll check() until it is true; a hang guard (minutes), not a timing
    assertion: a healthy stack gets there in seconds."""
    for _ in range(limit * 2):
        if check():
            return
        time.sleep(0.5)
    raise AssertionError('%s: not reached' % what)


def _wait_no_backup_running(node):
    """The converge's first full backup runs in the background: wait until
    no backup unit is active (a state, not a duration)."""
    _until(lambda: node.host.run('systemctl is-active --quiet pgbackrest-backup@full.service '
                                 'pgbackrest-backup@diff.service pgbackrest-backup@incr.service').rc != 0,
           'no backup unit active on %s' % node.name, limit=1800)


def _backup_client(s3, settings, verify=CA):
    return s3(settings['objectstore_backup_access_key'], settings['objectstore_backup_secret_key'], verify)


def test_the_repository_is_served_over_https_with_the_bundle_ca_and_its_own_key(s3, settings):
    from botocore.exceptions import ClientError, SSLError
    bucket = settings['objectstore_backup_bucket']
    assert os.path.exists(CA), 'the bundle CA is not on the controller at %s' % CA
    listed = _backup_client(s3, settings).list_objects_v2(Bucket=bucket, Prefix='pgbackrest/')
    keys = [obj['Key'] for obj in listed.get('Contents', [])]
    assert any('/archive/%s/' % STANZA in key for key in keys), keys[:20]

    # A client that trusts only the usual public CAs is refused.
    with pytest.raises(SSLError):
        _backup_client(s3, settings, verify=True).list_objects_v2(Bucket=bucket)

    # Each key sees its own bucket only.
    odoo = s3(settings['objectstore_odoo_access_key'], settings['objectstore_odoo_secret_key'], CA)
    with pytest.raises(ClientError) as denied:
        odoo.list_objects_v2(Bucket=bucket)
    assert denied.value.response['Error']['Code'] == 'AccessDenied'
    with pytest.raises(ClientError) as denied:
        _backup_client(s3, settings).list_objects_v2(Bucket=settings.get('objectstore_bucket', 'odoo-filestore'))
    assert denied.value.response['Error']['Code'] == 'AccessDenied'


def test_what_lies_in_the_bucket_is_encrypted(s3, primary, settings):
    bucket = settings['objectstore_backup_bucket']
    client = _backup_client(s3, settings)
    listed = client.list_objects_v2(Bucket=bucket, Prefix='pgbackrest/archive/%s/' % STANZA)
    segments = [obj['Key'] for obj in listed.get('Contents', []) if re.search(r'/[0-9A-F]{24}-[0-9a-f]{40}', obj['Key'])]
    assert segments, 'no archived WAL segment in the bucket'
    data = client.get_object(Bucket=bucket, Key=segments[0])['Body'].read()
    assert not data.startswith(ZSTD_MAGIC), 'an archived segment is a plain zstd frame'
    # A WAL page starts with its magic number (0xD110 for PostgreSQL 15, little-endian).
    assert data[:2] != b'\x10\xd1', 'an archived segment is a plain WAL page'
    assert data.startswith(b'Salted__'), data[:16]
    info = client.get_object(Bucket=bucket, Key='pgbackrest/archive/%s/archive.info' % STANZA)['Body'].read()
    assert b'[db]' not in info and b'db-system-id' not in info, 'archive.info is readable text'
    # And the host's own pgBackRest reads it back with the passphrase.
    assert _info(primary)['status']['code'] in (0, 2)


def test_the_converge_took_a_first_full_backup_and_the_timers_follow_the_primary(primary, replica):
    _wait_no_backup_running(primary)
    info = _info(primary)
    fulls = [b for b in info['backup'] if b['type'] == 'full']
    assert fulls, info['status']
    assert info['status']['code'] == 0, info['status']
    for node in (primary, replica):
        for timer in ('pgbackrest-full.timer', 'pgbackrest-diff.timer'):
            assert node.host.service(timer).is_enabled, '%s on %s' % (timer, node.name)
            assert node.unit_property(timer, 'ActiveState') == 'active', '%s on %s' % (timer, node.name)
    # On the replica the unit's condition skips it: no backup is taken there.
    before = len(info['backup'])
    replica.host.run_test('systemctl start pgbackrest-backup@incr.service')
    assert replica.unit_property('pgbackrest-backup@incr.service', 'Result') == 'success'
    assert 'being skipped' in replica.host.run('systemctl status pgbackrest-backup@incr.service').stdout
    assert len(_info(primary)['backup']) == before


def test_a_backup_on_demand_under_load_prints_its_label(primary, pgbench_env):
    conninfo, env = pgbench_env
    _wait_no_backup_running(primary)
    with PgbenchLoop(conninfo, env, CLIENTS) as load:
        run = run_playbook('backup.yml', '-e', 'backup_type=full')
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    said = re.search(r'backup (\d{8}-\d{6}F) \(full\): database ([\d.]+) MB .* stored ([\d.]+) MB', _flat(run.stdout))
    assert said, run.stdout[-2000:]
    labels = {b['label']: b for b in _info(primary)['backup']}
    assert said.group(1) in labels, sorted(labels)
    assert labels[said.group(1)]['error'] is False
    load.assert_clean()


SERVER_PORT = 8432
BACKUP_LOG = '/var/log/pgbackrest/%s-backup.log' % STANZA


def _tls_answer(address, cert=None):
    """What pgBackRest's TLS server at address sends first to a client that
    trusts the bundle CA and shows `cert` (a (crt, key) pair) or no
    certificate: its greeting, or the error that ended the session."""
    import socket
    import ssl
    context = ssl.create_default_context(cafile=CA)
    if cert:
        context.load_cert_chain(*cert)
    try:
        with socket.create_connection((address, SERVER_PORT), timeout=30) as raw:
            with context.wrap_socket(raw, server_hostname=address) as tls:
                return tls.recv(4096)
    except (ssl.SSLError, OSError) as exc:
        return exc


def test_every_pg_host_serves_pgbackrest_over_tls_to_the_bundle_s_clients_only(primary, replica, tmp_path):
    for node in (primary, replica):
        assert node.unit_property('pgbackrest-server.service', 'ActiveState') == 'active', node.name
        assert node.unit_user('pgbackrest-server.service') == 'postgres', node.name
        assert int(node.unit_property('pgbackrest-server.service', 'MemoryMax')) > 0, node.name
        listening = node.host.check_output("ss -Htln 'sport = :%d' | awk '{print $4}'" % SERVER_PORT).split()
        assert listening == ['%s:%d' % (node.address, SERVER_PORT)], (node.name, listening)
        key = node.host.file('/etc/pgbackrest/tls.key')
        # pgBackRest reads it as postgres and takes 0640 only from root.
        assert (key.user, key.group, key.mode) == ('root', 'postgres', 0o640), (node.name, key.user, oct(key.mode))
    # The primary's certificate (the bundle CA's, CN the primary) is greeted.
    pki = os.path.join(os.path.dirname(CA), 'hosts', primary.name)
    greeted = _tls_answer(replica.address, (os.path.join(pki, 'pgbackrest.crt'), os.path.join(pki, 'pgbackrest.key')))
    assert isinstance(greeted, bytes) and b'"name":"pgBackRest"' in greeted, greeted
    # The same CN signed by anyone else is refused in the handshake.
    forged = [str(tmp_path / 'forged.crt'), str(tmp_path / 'forged.key')]
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                    '-subj', '/CN=%s' % primary.name, '-addext', 'extendedKeyUsage=clientAuth', '-days', '1',
                    '-out', forged[0], '-keyout', forged[1]], check=True, capture_output=True)
    refused = _tls_answer(replica.address, forged)
    assert isinstance(refused, Exception), refused
    # pgBackRest's own client with that certificate cannot reach the
    # standby (check then finds no standby to check).
    primary.host.check_output('install -d -m 0700 -o postgres /tmp/forged')
    for path in forged:
        with open(path, 'rb') as fh:
            primary.host.check_output('echo %s | base64 -d | install -m 0600 -o postgres /dev/stdin /tmp/forged/%s'
                                      % (base64.b64encode(fh.read()).decode(), os.path.basename(path)))
    run = primary.host.run('runuser -u postgres -- pgbackrest --stanza=%s --pg2-host-cert-file=/tmp/forged/forged.crt '
                           '--pg2-host-key-file=/tmp/forged/forged.key --log-level-console=warn check' % STANZA)
    primary.host.check_output('rm -rf /tmp/forged')
    assert run.rc != 0 and 'unable to check pg2: [ServiceError] TLS error' in run.stdout + run.stderr \
        and 'unknown ca' in run.stdout + run.stderr, run.stdout + run.stderr


def test_a_backup_from_the_standby_under_load_copies_its_files_from_the_standby(primary, replica, pgbench_env):
    conninfo, env = pgbench_env
    _wait_no_backup_running(primary)
    logged = int(primary.host.check_output('stat -c %%s %s' % BACKUP_LOG))
    with PgbenchLoop(conninfo, env, CLIENTS) as load:
        run = run_playbook('backup.yml', '-e', 'backup_type=incr', '-e', 'backup_from_standby=true')
    said = _flat(run.stdout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    told = re.search(r'backup (\S+I) \(incr\): database .* files copied from the standby, in (\d+) s', said)
    assert told, said[-2000:]
    labels = {b['label']: b for b in _info(primary)['backup']}
    assert told.group(1) in labels and labels[told.group(1)]['error'] is False, sorted(labels)
    load.assert_clean()

    # pgBackRest's own log of this run (file level detail): it waited for
    # the standby's replay, read every relation file from the standby, and
    # only pg_control and the like from the primary.
    log = primary.host.check_output('tail -c +%d %s' % (logged + 1, BACKUP_LOG))
    assert 'wait for replay on the standby to reach' in log and 'replay on the standby reached' in log, log[-3000:]
    from_standby = re.findall(r'backup file %s:(\S+)' % re.escape(replica.address), log)
    from_primary = re.findall(r'backup file (/\S+)', log)
    assert any('/base/' in name for name in from_standby), log[-3000:]
    assert not any('/base/' in name for name in from_primary), from_primary
    assert any(name.endswith('/global/pg_control') for name in from_primary), from_primary
    record_result('backup.json', 'incr_backup_from_standby', {
        'seconds': int(told.group(2)), 'files_from_standby': len(from_standby), 'files_from_primary': len(from_primary),
        'pgbench_clients': CLIENTS})


def test_a_backup_from_the_standby_without_one_streaming_is_refused_in_one_line(primary, replica):
    _wait_no_backup_running(primary)
    before = [b['label'] for b in _info(primary)['backup']]
    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    replica.host.check_output('systemctl stop postgresql@15-main')
    try:
        _until(lambda: primary.psql("SELECT count(*) FROM pg_stat_replication WHERE application_name = '%s'" % slot)
               == '0', 'the replica is gone from pg_stat_replication')
        run = run_playbook('backup.yml', '-e', 'backup_type=incr', '-e', 'backup_from_standby=true')
    finally:
        replica.host.check_output('systemctl start postgresql@15-main')
    said = _flat(run.stdout + run.stderr)
    assert run.returncode != 0, said[-2000:]
    assert re.search(r'backup from the standby asked for, but no standby streams from %s .*nothing was changed'
                     % re.escape(primary.name), said), said[-2000:]
    assert 'Back up (waits' not in said, said[-2000:]
    assert [b['label'] for b in _info(primary)['backup']] == before
    _until(lambda: primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = '%s'" % slot)
           == 'streaming', 'the replica streams again')


def _rows(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_a_point_in_time_restore_brings_back_what_was_there_at_that_time(primary, replica, connect, settings,
                                                                          pgbench_env, admin, lb_url, web_urls, bucket):
    """Rows and real Odoo attachments: what was there at T is back, what
    came after is gone. An attachment deleted in Odoo after T, and the
    autovacuum run since, reads back byte for byte through HAProxy and on
    each web node (its file stayed in the bucket: odoo_scale_filestore_gc)."""
    db = settings.get('postgresql_app_database', 'odoo')
    conninfo, env = pgbench_env
    _wait_no_backup_running(primary)
    primary.psql('DROP TABLE IF EXISTS pitr_rows, pitr_dropped; '
                 'CREATE TABLE pitr_rows (tag text NOT NULL); '
                 'CREATE TABLE pitr_dropped AS SELECT g AS n FROM generate_series(1, 1000) g; '
                 'GRANT ALL ON pitr_rows, pitr_dropped TO %s' % settings.get('postgresql_app_user', 'odoo'), db=db)
    timeline_before = int(primary.psql('SELECT timeline_id FROM pg_control_checkpoint()'))
    # The table must be in a backup's reach: the newest backup is older than
    # it, and the archived WAL carries it from there to T.
    att_before = Attachment(admin, 'pitr-before')
    att_dropped_after = Attachment(admin, 'pitr-before-dropped-after')
    conn = connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.executemany('INSERT INTO pitr_rows VALUES (%s)', [('A',)] * 50)
    target = primary.psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00'")
    with conn.cursor() as cur:
        cur.executemany('INSERT INTO pitr_rows VALUES (%s)', [('B',)] * 50)
        cur.execute('DROP TABLE pitr_dropped')
    conn.close()
    att_after = Attachment(admin, 'pitr-after')
    admin.kw('ir.attachment', 'unlink', [att_dropped_after.id])
    collect(admin)   # fs_attachment's own collector would delete the dropped file here

    with PgbenchLoop(conninfo, env, CLIENTS) as load:
        time.sleep(2)
        began = time.monotonic()
        run = run_playbook('restore.yml', '-e', 'restore_target=%s' % target)
        took = time.monotonic() - began
    fig = load.figures()
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    held = re.search(r'writes held on PgBouncer for ([\d.]+) s', _flat(run.stdout))
    record_result('backup.json', 'restore_to_time', {
        'playbook_seconds': round(took, 1), 'writes_held_seconds': float(held.group(1)) if held else None,
        'database_mb': round(int(primary.psql("SELECT sum(pg_database_size(oid)) FROM pg_database")) / 1048576, 1),
        'pgbench_clients': CLIENTS, 'pgbench_transactions': fig['transactions'], 'pgbench_failed': fig['failed']})

    conn = connect()
    conn.autocommit = True
    assert _rows(conn, 'SELECT tag, count(*) FROM pitr_rows GROUP BY tag ORDER BY tag') == [('A', 50)]
    assert _rows(conn, 'SELECT count(*) FROM pitr_dropped') == [(1000,)]
    with conn.cursor() as cur:
        cur.execute("INSERT INTO pitr_rows VALUES ('after') RETURNING tag")
        assert cur.fetchone() == ('after',)
    conn.close()
    assert int(primary.psql('SELECT timeline_id FROM pg_control_checkpoint()')) > timeline_before
    # No trace of the restore's recovery settings: nothing waits for a restart.
    for node in (primary, replica):
        assert node.psql('SELECT string_agg(name, \',\') FROM pg_settings WHERE pending_restart') == '', node.name
        assert 'recovery_target' not in node.host.file(DATA + '/postgresql.auto.conf').content_string, node.name
    assert primary.host.run_test('ls -d %s.before-restore-*' % DATA)

    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    assert primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = '%s'" % slot) == 'streaming'
    assert replica.psql('SELECT pg_is_in_recovery()') == 't'
    primary.psql("INSERT INTO pitr_rows VALUES ('replicated')", db=db)
    lsn = primary.psql('SELECT pg_current_wal_lsn()')
    _until(lambda: replica.psql("SELECT pg_last_wal_replay_lsn() >= '%s'" % lsn) == 't', 'replica replays the insert')
    assert replica.psql("SELECT count(*) FROM pitr_rows WHERE tag IN ('A', 'replicated')", db=db) == '51'
    assert not any(paused_databases(connect, settings).values()), 'a PgBouncer database was left paused'
    load.assert_clean()
    primary.psql('DROP TABLE pitr_rows, pitr_dropped', db=db)

    for url in [lb_url] + sorted(web_urls.values()):
        client = Odoo(url, session_id=admin.session_id)
        for att in (att_before, att_dropped_after):
            resp = client.http.get('%s/web/content/%d?download=true' % (url, att.id), timeout=60)
            assert resp.status_code == 200 and resp.content == att.payload, \
                '%s: attachment %d (%s): HTTP %s, %d bytes' % (url, att.id, att.store_fname, resp.status_code,
                                                               len(resp.content))
    assert admin.kw('ir.attachment', 'search_count', [['id', '=', att_after.id]]) == 0
    assert bucket(att_dropped_after)
    admin.kw('ir.attachment', 'unlink', [att_before.id, att_dropped_after.id])


def test_a_restore_that_fails_midway_puts_the_old_data_back(primary, replica, connect, settings, pgbench_env):
    """A restore point that does not exist: PostgreSQL refuses to start at the
    end of the archive, and the run puts the data directory it kept aside
    back, starts it, restarts the replicas and resumes PgBouncer, while
    pgbench writes through PgBouncer without one failed transaction."""
    db = settings.get('postgresql_app_database', 'odoo')
    conninfo, env = pgbench_env
    primary.psql('DROP TABLE IF EXISTS restore_kept; CREATE TABLE restore_kept AS SELECT 42 AS n', db=db)
    timeline = primary.psql('SELECT timeline_id FROM pg_control_checkpoint()')
    with PgbenchLoop(conninfo, env, CLIENTS) as load:
        time.sleep(2)
        run = run_playbook('restore.yml', '-e', 'restore_target=no-such-restore-point', '-e', 'restore_target_type=name')
    said = _flat(run.stdout + run.stderr)
    assert run.returncode != 0, said[-3000:]
    assert 'the data directory from before it is back in place and serving' in said, said[-3000:]
    assert primary.psql('SELECT n FROM restore_kept', db=db) == '42'
    assert primary.psql('SELECT timeline_id FROM pg_control_checkpoint()') == timeline
    assert primary.host.run_test('ls -d %s.failed-restore-*' % DATA)
    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    _until(lambda: primary.psql("SELECT count(*) FROM pg_stat_replication WHERE application_name = '%s' "
                                "AND state = 'streaming'" % slot) == '1', 'replica streams again')
    assert not any(paused_databases(connect, settings).values()), 'a PgBouncer database was left paused'
    load.assert_clean()
    primary.psql('DROP TABLE restore_kept', db=db)


def test_bad_restore_targets_are_refused_before_anything_changes(primary, replica, connect, settings):
    started = {node.name: node.psql('SELECT pg_postmaster_start_time()') for node in (primary, replica)}
    kept = primary.host.run('ls -d %s.before-restore-* 2>/dev/null' % DATA).stdout.split()
    cases = {
        'future': (['-e', 'restore_target=2999-01-01T00:00:00+00'], r'is in the future'),
        'before': (['-e', 'restore_target=2001-01-01T00:00:00+00'], r'is before the end of the oldest backup'),
        'label': (['-e', 'restore_target=20010101-000000F'], r'is not a backup label of stanza odoo'),
        'key': (['-e', 'restore_target=latest', '-e', 'pgbackrest_repo_cipher_pass=not-the-passphrase-at-all'],
                r'the repository of stanza odoo cannot be used'),
        'garbage': (['-e', 'restore_target=latest', '-e', 'restore_target_type=time'],
                    r'is not a time PostgreSQL can read'),
    }
    with ThreadPoolExecutor(len(cases)) as pool:
        runs = {name: pool.submit(run_playbook, 'restore.yml', *args) for name, (args, _) in cases.items()}
        runs = {name: future.result() for name, future in runs.items()}
    for name, (_, expected) in cases.items():
        run = runs[name]
        said = _flat(run.stdout + run.stderr)
        assert run.returncode != 0, '%s: %s' % (name, said[-2000:])
        assert re.search(expected, said), '%s: %s' % (name, said[-3000:])
        assert 'nothing was changed' in said, '%s: %s' % (name, said[-2000:])
        assert 'Pause the application database' not in said, name
    assert {node.name: node.psql('SELECT pg_postmaster_start_time()') for node in (primary, replica)} == started
    assert primary.host.run('ls -d %s.before-restore-* 2>/dev/null' % DATA).stdout.split() == kept
    assert not any(paused_databases(connect, settings).values())


DRILL_DIR = '/var/lib/postgresql/restore-drill'
DRILL_FACT = '/etc/ansible/facts.d/restore_drill.fact'


def test_a_restore_drill_restores_the_latest_backup_beside_production(primary, replica, connect, settings,
                                                                        pgbench_env):
    conninfo, env = pgbench_env
    _wait_no_backup_running(primary)
    latest = _info(primary)['backup'][-1]['label']
    started = {node.name: node.psql('SELECT pg_postmaster_start_time()') for node in (primary, replica)}
    with PgbenchLoop(conninfo, env, CLIENTS) as load:
        time.sleep(2)
        run = run_playbook('restore_drill.yml', '-e', 'restore_drill_host=%s' % replica.name)
    said = _flat(run.stdout)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    ready = re.search(r'restore drill on (\S+): backup (\S+) of stanza %s restored and ready in ([\d.]+) s' % STANZA, said)
    assert ready, said[-3000:]
    assert ready.group(1) == replica.name and ready.group(2) == latest, ready.group(0)
    tables = re.findall(r'table (\S+): (\d+) rows', said)
    assert tables and any(int(rows) > 0 for _, rows in tables), said[-3000:]
    files = re.search(r'attachments: (\d+) checked, (\d+) ok', said)
    assert files and int(files.group(1)) >= 1 and files.group(1) == files.group(2), said[-3000:]
    assert 'result: ok' in said, said[-3000:]

    # Production untouched: neither server restarted, the replica streams,
    # no client saw an error, PgBouncer is not paused.
    assert {node.name: node.psql('SELECT pg_postmaster_start_time()') for node in (primary, replica)} == started
    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    assert primary.psql("SELECT state FROM pg_stat_replication WHERE application_name = '%s'" % slot) == 'streaming'
    fig = load.assert_clean()
    assert not any(paused_databases(connect, settings).values())
    # The throw-away cluster is gone, and it archived nothing.
    assert not replica.host.file(DRILL_DIR).exists
    assert replica.host.run('pgrep -f "[%s]%s"' % (DRILL_DIR[0], DRILL_DIR[1:])).rc != 0

    fact = replica.host.file(DRILL_FACT)
    assert fact.mode == 0o644 and fact.user == 'root', (oct(fact.mode), fact.user)
    result = json.loads(fact.content_string)
    assert result['ok'] is True and result['label'] == latest and result['host'] == replica.name, result
    assert result['recovery_seconds'] == float(ready.group(3)), result
    assert result['attachments']['checked'] == int(files.group(1)) == result['attachments']['ok'], result
    for secret in ('objectstore_backup_secret_key', 'objectstore_odoo_secret_key', 'pgbackrest_repo_cipher_pass'):
        if settings.get(secret):
            assert str(settings[secret]) not in fact.content_string, secret
    record_result('backup.json', 'restore_drill', {
        'recovery_seconds': result['recovery_seconds'], 'label': latest,
        'backup_mb': round(_info(primary)['backup'][-1]['info']['size'] / 1048576, 1),
        'tables_counted': len(result['tables']), 'attachments_checked': result['attachments']['checked'],
        'pgbench_clients': CLIENTS, 'pgbench_transactions': fig['transactions'], 'pgbench_failed': fig['failed']})


def test_a_drill_host_outside_the_inventory_is_refused(primary, replica, bouncer):
    facts = {node.name: node.host.run('cat %s' % DRILL_FACT).stdout for node in (primary, replica)}
    for host in ('no-such-host', bouncer.name):
        run = run_playbook('restore_drill.yml', '-e', 'restore_drill_host=%s' % host)
        said = _flat(run.stdout + run.stderr)
        assert run.returncode != 0, said[-2000:]
        assert re.search(r'restore_drill_host=%s is not a host of pg_primary or pg_replica in this inventory .*'
                         r'nothing was changed' % re.escape(host), said), said[-2000:]
        assert 'Restore the latest backup' not in said, said[-2000:]
    assert {node.name: node.host.run('cat %s' % DRILL_FACT).stdout for node in (primary, replica)} == facts
    for node in (primary, replica, bouncer):
        assert not node.host.file(DRILL_DIR).exists, node.name


def test_both_data_directories_lost_are_rebuilt_from_the_repository_alone(primary, replica, connect, settings,
                                                                           admin, lb_url):
    """Disaster: the primary's server killed and both servers' data
    directories removed. restore.yml to latest rebuilds the primary from
    the repository alone and re-clones the replica: rows that reached the
    archive before the loss are back, the replica streams, PgBouncer serves
    writes, Odoo answers and writes through HAProxy."""
    db = settings.get('postgresql_app_database', 'odoo')
    _wait_no_backup_running(primary)
    primary.psql('DROP TABLE IF EXISTS disaster_rows; CREATE TABLE disaster_rows AS SELECT g AS n FROM generate_series(1, 500) g; '
                 'GRANT ALL ON disaster_rows TO %s' % settings.get('postgresql_app_user', 'odoo'), db=db)
    # pgbackrest check switches to a new WAL segment and returns once the
    # one holding the table is archived: the repository has it.
    primary.host.check_output('runuser -u postgres -- pgbackrest --stanza=%s check' % STANZA)
    timeline_before = int(primary.psql('SELECT timeline_id FROM pg_control_checkpoint()'))
    for node in (primary, replica):
        node.host.check_output('systemctl kill --signal=KILL postgresql@15-main; '
                               'timeout 300 sh -c "while systemctl is-active --quiet postgresql@15-main; do sleep 0.2; done"; '
                               'rm -rf %s' % DATA)
        assert not node.host.file(DATA).exists, node.name

    began = time.monotonic()
    run = run_playbook('restore.yml', '-e', 'restore_target=latest')
    took = time.monotonic() - began
    said = _flat(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r'does not answer and its unit postgresql@15-main(\.service)? is not running', said), said[-3000:]
    assert 'from the repository alone (the primary was down)' in said, said[-3000:]
    record_result('backup.json', 'disaster_restore_latest', {
        'playbook_seconds': round(took, 1),
        'database_mb': round(int(primary.psql("SELECT sum(pg_database_size(oid)) FROM pg_database")) / 1048576, 1)})

    assert primary.psql('SELECT count(*) FROM disaster_rows', db=db) == '500'
    assert int(primary.psql('SELECT timeline_id FROM pg_control_checkpoint()')) > timeline_before
    conn = connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('INSERT INTO disaster_rows VALUES (501) RETURNING n')
        assert cur.fetchone() == (501,)
    conn.close()
    slot = 'odoo_scale_' + replica.name.replace('-', '_')
    _until(lambda: primary.psql("SELECT count(*) FROM pg_stat_replication WHERE application_name = '%s' "
                                "AND state = 'streaming'" % slot) == '1', 'replica streams from the rebuilt primary')
    lsn = primary.psql('SELECT pg_current_wal_lsn()')
    _until(lambda: replica.psql("SELECT pg_last_wal_replay_lsn() >= '%s'" % lsn) == 't', 'replica replays the insert')
    assert replica.psql('SELECT count(*) FROM disaster_rows', db=db) == '501'
    assert not any(paused_databases(connect, settings).values()), 'a PgBouncer database was left paused'
    primary.psql('DROP TABLE disaster_rows', db=db)

    # Odoo through HAProxy: its connections to PgBouncer outlived the loss.
    assert Odoo(lb_url).http.get(lb_url + '/web/login', timeout=60).status_code == 200
    partner = admin.kw('res.partner', 'create', {'name': 'after the disaster'})
    assert admin.kw('res.partner', 'read', [partner], ['name'])[0]['name'] == 'after the disaster'
    admin.kw('res.partner', 'unlink', [partner])


def test_the_object_store_never_died_under_the_backups(s3_node):
    """Every backup and restore above went through the object store: systemd
    restarted weed for none of it (a kill by the kernel at MemoryMax, say)."""
    assert s3_node.unit_property('seaweedfs.service', 'NRestarts') == '0'
