"""Throwaway PostgreSQL servers for the plugin tests: Debian's binaries, a
cluster in a temp directory, run as the postgres user (initdb refuses root),
listening on a unix socket and 127.0.0.1 on a free port."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2


def pg_bindir():
    for cand in sorted(glob.glob('/usr/lib/postgresql/*/bin'), reverse=True):
        if os.path.exists(os.path.join(cand, 'initdb')):
            return cand
    found = shutil.which('initdb')
    if found:
        return os.path.dirname(os.path.realpath(found))
    raise RuntimeError('no PostgreSQL server binaries: run scripts/setup-host.sh '
                       '(installs postgresql-15)')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _exit_cleanly_on_sigterm():
    """A SIGTERM (a `timeout`, a CI run being stopped) ends the process
    through SystemExit, so `with PgServer()` and the fixtures still stop and
    remove their server: a killed bench used to leave one running its last
    statement, eating CPU, until the machine restarted."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


class PgServer:
    """One cluster. Use as a context manager or call start()/stop()."""

    def __init__(self, base_dir=None, extra_conf=None):
        self.bindir = pg_bindir()
        self.root = tempfile.mkdtemp(prefix='odoo-scale-pg-', dir=base_dir)
        self.datadir = os.path.join(self.root, 'data')
        self.sockdir = self.root
        self.port = free_port()
        self.extra_conf = extra_conf or {}
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            pw = pwd.getpwnam('postgres')
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o755)

    # -- plumbing --------------------------------------------------------
    def _run(self, *argv, check=True):
        cmd = [os.path.join(self.bindir, argv[0])] + list(argv[1:])
        if self._as_postgres:
            cmd = ['runuser', '-u', 'postgres', '--'] + cmd
        return subprocess.run(cmd, check=check, capture_output=True, text=True)

    def conf(self):
        base = {
            'listen_addresses': "'127.0.0.1'",
            'port': str(self.port),
            'unix_socket_directories': "'%s'" % self.sockdir,
            'fsync': 'off',
            'synchronous_commit': 'off',
            'full_page_writes': 'off',
            'shared_preload_libraries': "'pg_stat_statements'",
            'wal_level': 'replica',
            'max_wal_senders': '4',
            'max_replication_slots': '4',
            'hot_standby': 'on',
            'log_min_messages': 'warning',
        }
        base.update(self.extra_conf)
        return base

    def write_conf(self):
        with open(os.path.join(self.datadir, 'postgresql.auto.conf'), 'a') as fh:
            for key, val in self.conf().items():
                fh.write('%s = %s\n' % (key, val))

    def initdb(self):
        self._run('initdb', '-D', self.datadir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8',
                  '--locale=C.UTF-8', '--no-sync')
        with open(os.path.join(self.datadir, 'pg_hba.conf'), 'a') as fh:
            fh.write('local replication all trust\nhost replication all 127.0.0.1/32 trust\n')
        self.write_conf()

    def start(self):
        _exit_cleanly_on_sigterm()
        if not os.path.exists(self.datadir):
            self.initdb()
        res = self._run('pg_ctl', '-D', self.datadir, '-l', os.path.join(self.root, 'log'),
                        '-w', '-t', '60', 'start', check=False)
        if res.returncode != 0:
            log = ''
            try:
                with open(os.path.join(self.root, 'log')) as fh:
                    log = fh.read()[-2000:]
            except OSError:
                pass
            raise RuntimeError('pg_ctl start failed: %s %s %s' % (res.stdout, res.stderr, log))
        return self

    def stop(self):
        self._run('pg_ctl', '-D', self.datadir, '-m', 'immediate', '-w', 'stop', check=False)

    def stop_clean(self):
        """A clean (fast) shutdown: a shutdown checkpoint is written."""
        self._run('pg_ctl', '-D', self.datadir, '-m', 'fast', '-w', 'stop')

    def destroy(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()

    # -- access ----------------------------------------------------------
    @property
    def params(self):
        """Module parameters reaching this server over its unix socket."""
        return dict(login_unix_socket=self.sockdir, login_port=self.port,
                    login_user='postgres', login_db='postgres')

    def connect(self, dbname='postgres', autocommit=True):
        conn = psycopg2.connect(host=self.sockdir, port=self.port, user='postgres', dbname=dbname)
        conn.autocommit = autocommit
        return conn

    def sql(self, query, args=None, dbname='postgres'):
        """Run one statement; returns all rows (or None when none)."""
        conn = self.connect(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def make_standby(self):
        """A hot standby of this server, cloned with pg_basebackup -R."""
        standby = PgServer(base_dir=os.path.dirname(self.root))
        self._run('pg_basebackup', '-h', self.sockdir, '-p', str(self.port), '-U', 'postgres',
                  '-D', standby.datadir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync')
        standby.write_conf()
        standby.start()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if standby.sql('SELECT pg_is_in_recovery()')[0][0]:
                    return standby
            except psycopg2.OperationalError:
                pass
            time.sleep(0.2)
        raise RuntimeError('standby did not come up')
