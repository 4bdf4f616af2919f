"""Helpers shared by the molecule scenarios' testinfra checks: hosts from
molecule's inventory, container addresses from Docker, the local inventory's
group_vars."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import threading

import testinfra
import yaml
from testinfra.utils.ansible_runner import AnsibleRunner

PROJECT = os.environ.get('MOLECULE_PROJECT_DIRECTORY',
                         os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
INVENTORY = os.environ.get('MOLECULE_INVENTORY_FILE')
GROUP_VARS = os.path.join(PROJECT, 'inventories', 'local', 'group_vars')


def load_group_vars(*groups):
    """The local inventory's group_vars of these groups, merged in order."""
    merged = {}
    for group in groups:
        path = os.path.join(GROUP_VARS, group)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if name.endswith('.yml'):
                with open(os.path.join(path, name)) as fh:
                    merged.update(yaml.safe_load(fh) or {})
    return merged


def group_host(runner, group):
    names = runner.get_hosts(group)
    assert names, 'inventory group %s is empty' % group
    return names[0]


def address(container):
    out = subprocess.run(['docker', 'inspect', container], check=True, capture_output=True, text=True).stdout
    nets = json.loads(out)[0]['NetworkSettings']['Networks']
    return next(iter(nets.values()))['IPAddress']


def _shell_quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


class Node:
    """A host of the stack: its testinfra handle, name and address."""

    def __init__(self, name):
        self.name = name
        self.host = testinfra.get_host('ansible://%s?ansible_inventory=%s' % (name, INVENTORY))
        self.address = address(name)

    def psql(self, sql, db='postgres'):
        """Run SQL as the postgres superuser on this host; returns stdout."""
        cmd = self.host.run('runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1 -d %s -c %s'
                            % (db, _shell_quote(sql)))
        assert cmd.rc == 0, cmd.stderr
        return cmd.stdout.strip()

    def unit_property(self, unit, prop):
        return self.host.check_output('systemctl show -p %s --value %s' % (prop, unit)).strip()

    def unit_user(self, unit):
        """The user the unit's main process runs as."""
        pid = self.unit_property(unit, 'MainPID')
        assert pid not in ('', '0'), '%s is not running' % unit
        return self.host.check_output('ps -o user= -p %s' % pid).strip()


_RUNNER = None


def node_of(group):
    """The first host of an inventory group of molecule's inventory, as a Node."""
    global _RUNNER
    if not INVENTORY:
        raise RuntimeError('MOLECULE_INVENTORY_FILE is not set: run through `molecule verify`')
    if _RUNNER is None:
        _RUNNER = AnsibleRunner(INVENTORY)
    return Node(group_host(_RUNNER, group))


def run_playbook(name, *extra, inventory=None):
    """ansible-playbook playbooks/<name> against molecule's inventory (or
    `inventory`) and Ansible config, as the converge ran it; returns the
    CompletedProcess."""
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    cfg = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', ''), 'ansible.cfg')
    if os.path.exists(cfg):
        env['ANSIBLE_CONFIG'] = cfg
    cmd = ['ansible-playbook', '-i', inventory or INVENTORY, os.path.join(PROJECT, 'playbooks', name)] + list(extra)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)


HAPROXY_SOCKET = '/run/haproxy/admin.sock'


def haproxy_admin(lb, command):
    """One command on HAProxy's admin socket of the Node `lb`; its answer."""
    return lb.host.check_output("echo '%s' | socat -t 5 stdio unix-connect:%s" % (command, HAPROXY_SOCKET))


def haproxy_stat(lb, backend, server):
    """The `show stat` row of a server, as a dict."""
    for row in csv.DictReader(io.StringIO(haproxy_admin(lb, 'show stat').lstrip('# '))):
        if row['pxname'] == backend and row['svname'] == server:
            return row
    raise AssertionError('%s/%s not in show stat' % (backend, server))


RESULTS = os.path.join(PROJECT, 'bench', 'results')


def record_result(filename, name, figures):
    """Merges one check's figures into bench/results/<filename> and prints
    them: figures for a person to compare, never asserted on time."""
    path = os.path.join(RESULTS, filename)
    os.makedirs(RESULTS, exist_ok=True)
    data = {}
    if os.path.exists(path):
        with open(path) as fh:
            data = json.load(fh)
    data[name] = figures
    with open(path, 'w') as fh:
        json.dump(data, fh, indent=2)
    print('%s: %s' % (name, json.dumps(figures)))


def recap_changed(out, host):
    """The changed= count of a host in a PLAY RECAP."""
    m = re.search(r'^%s\s*:\s*ok=\d+\s+changed=(\d+)' % re.escape(host), out, re.M)
    assert m, out[-2000:]
    return int(m.group(1))


PGBENCH = '/usr/lib/postgresql/15/bin/pgbench'


class PgbenchLoop:
    """pgbench runs back to back through PgBouncer until the `with` block
    ends, so the load covers a playbook however long a loaded machine makes
    it (one long pgbench would need a guessed duration, and pgbench cannot
    be stopped early with its report). Each run reports its own failed
    transactions and aborted clients; the figures add them up."""

    def __init__(self, conninfo, env, clients, run_seconds=10, jobs=4):
        self.cmd = [PGBENCH, '-n', '-M', 'simple', '-b', 'simple-update', '-c', str(clients),
                    '-j', str(jobs), '-T', str(run_seconds), '-P', '1', conninfo]
        self.env = env
        self.clients = clients
        self.runs = []                     # (returncode, output) per run
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            self._started.set()
            out, _ = proc.communicate()
            self.runs.append((proc.returncode, out))

    def __enter__(self):
        self._thread.start()
        self._started.wait()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def figures(self):
        """Totals over every run: transactions, failed, aborted clients."""
        done = failed = 0
        aborted, bad_rc = [], []
        for rc, out in self.runs:
            m = re.search(r'number of transactions actually processed: (\d+)', out)
            done += int(m.group(1)) if m else 0
            m = re.search(r'number of failed transactions: (\d+)', out)
            failed += int(m.group(1)) if m else 0
            aborted += re.findall(r'client \d+ aborted.*', out)
            if rc != 0 or not m:
                bad_rc.append(out[-1500:])
        return {'runs': len(self.runs), 'clients': self.clients, 'transactions': done,
                'failed': failed, 'aborted_clients': len(aborted), 'aborted': aborted[:5],
                'failed_runs': bad_rc[:3]}

    def assert_clean(self):
        fig = self.figures()
        assert fig['runs'] > 0, 'pgbench never ran'
        assert not fig['aborted'], '\n'.join(fig['aborted'])
        assert not fig['failed_runs'], fig['failed_runs'][0]
        assert fig['failed'] == 0, fig
        assert fig['transactions'] > 0, fig
        return fig
