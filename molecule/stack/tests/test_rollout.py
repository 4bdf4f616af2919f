"""playbooks/rollout.yml under load, with real Odoo: a broken build stops at
the canary, a good one reaches every node, and rolling back is one command.

Each new build is the scenario's probe addon with one line changed, so the
release fingerprint changes and the module upgrade has something to do. A
load generator (bench/loadgen.py) sends the login page, a JSON-RPC read and
a write through HAProxy during each run; not one request may fail.
Runs after test_odoo.py (file order) on the same converged stack."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time

import pytest
import requests

from conftest import CRON, WEB
from browser import first_visit
from stack_helpers import record_result, run_playbook

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, '..', '..', '..', 'bench', 'results')
BASELINE_SECONDS = 15
# Each client pauses 0.1 s after a request, as a user would: continuous
# traffic on every node (about 15 requests a second) without saturating the
# two cores the playbook itself needs.
THINK_SECONDS = 0.1
# As molecule/stack/converge.yml passes them.
EXTRA_MODULES = ['odoo_scale_probe']
sys.path.insert(0, os.path.join(HERE, '..', '..', '..', 'bench'))
from loadgen import LoadGen  # noqa: E402

BROKEN_HEALTH = '''

from odoo.addons.web.controllers.home import Home


class BrokenHealth(Home):
    """A build whose health check fails: the canary must stop the rollout."""

    @http.route()
    def health(self, db_server_status=False):
        return http.Response('broken on purpose', status=503)
'''


def build(tmp_path_factory, mark, broken=False):
    """A copy of the scenario's addons whose probe reports `mark`."""
    root = tmp_path_factory.mktemp('release-' + mark)
    shutil.copytree(os.path.join(HERE, '..', 'addons'), root / 'addons')
    main = root / 'addons' / 'odoo_scale_probe' / 'controllers' / 'main.py'
    text = main.read_text().replace('RELEASE_MARK = "base"', 'RELEASE_MARK = "%s"' % mark)
    main.write_text(text + (BROKEN_HEALTH if broken else ''))
    return str(root / 'addons')


def record(name, figures):
    record_result('rollout.json', name, figures)


def live_release(node):
    return node.host.check_output('readlink -f /opt/odoo/current').rsplit('/', 1)[-1]


def rollout(*extra):
    out = run_playbook('rollout.yml', *extra)
    return out.returncode, out.stdout + out.stderr


@pytest.fixture(scope='module', autouse=True)
def fresh_results():
    path = os.path.join(RESULTS, 'rollout.json')
    if os.path.exists(path):
        os.unlink(path)


@pytest.fixture(scope='module')
def load(lb_url, settings):
    def _start():
        return LoadGen(lb_url, settings['odoo_admin_user_password'], db=settings.get('odoo_database', 'odoo'),
                       workers=3, think=THINK_SECONDS).start()
    return _start


@pytest.fixture(scope='module')
def converged_build(tmp_path_factory):
    """The build the converge check installs beside the live release and
    the good-build rollout then switches every node to."""
    return build(tmp_path_factory, 'converged')


@pytest.fixture(scope='module')
def original(nodes):
    releases = {live_release(nodes[name]) for name in WEB + [CRON]}
    assert len(releases) == 1, releases
    return releases.pop()


def _main_pid(node):
    return node.host.check_output('systemctl show -p MainPID --value odoo').strip()


def _conf_option(node, name):
    return node.host.check_output("sed -n 's/^%s *= *//p' /etc/odoo/odoo.conf" % name).strip()


def test_a_converge_with_a_new_setting_and_new_code_fails_no_request(converged_build, nodes, load, original):
    """The application tier's playbook (app_services.yml, what site.yml
    runs) with `--tags odoo`, as an operator applies an Odoo setting, under
    load with a changed setting (limit_time_real) and a new build at once.
    The new build is installed beside the live release and not switched
    (the run names rollout.yml); the nodes restart one at a time, each web
    node drained and put back before the next one is drained (the drain is
    HAProxy's task, tagged haproxy: it runs under any tag selection), then
    the cron node; not one request fails."""
    web_conf = _conf_option(nodes[WEB[0]], 'limit_time_real')
    changed = 121 if web_conf != '121' else 122
    pids = {name: _main_pid(nodes[name]) for name in WEB + [CRON]}
    gen = load()
    out = run_playbook('app_services.yml', '--tags', 'odoo', '-e', json.dumps({
        'odoo_extra_addons_dirs': [converged_build],
        'odoo_extra_modules': EXTRA_MODULES, 'odoo_limit_time_real': changed}))
    report = gen.stop()
    record('converge_new_setting_and_new_build', report)
    text = ' '.join((out.stdout + out.stderr).split())
    assert out.returncode == 0, text[-4000:]
    assert report['sent'] > 0 and report['failed'] == 0, report
    for name in WEB + [CRON]:
        assert live_release(nodes[name]) == original, name
        notice = re.search(r'NOTICE: %s: release (\S+) is installed beside the live %s and not switched.{0,200}?'
                           r'playbooks/rollout\.yml' % (re.escape(name), re.escape(original)), text)
        assert notice, text[-4000:]
        assert nodes[name].host.file('/opt/odoo/releases/%s/.installed' % notice.group(1)).exists, name
    for name in WEB + [CRON]:
        assert _conf_option(nodes[name], 'limit_time_real') == str(changed), name
        assert _main_pid(nodes[name]) != pids[name], '%s was not restarted' % name
    # One at a time: each web node put back before the next one is drained.
    steps = [text.find('%s %s' % (name, state)) for name in WEB for state in ('drain', 'enabled')]
    assert -1 not in steps and steps == sorted(steps), (steps, text[-4000:])


def test_a_broken_build_stops_at_the_canary_without_failed_requests(tmp_path_factory, nodes, load, original):
    gen = load()
    rc, out = rollout('-e', json.dumps({'odoo_extra_addons_dirs': [build(tmp_path_factory, 'broken', broken=True)]}))
    report = gen.stop()
    record('broken_build_stopped_at_canary', report)
    assert rc != 0, out[-3000:]
    assert 'failed its health gate' in out, out[-3000:]
    assert '(503 on /web/health' in out, out[-3000:]
    assert report['sent'] > 0 and report['failed'] == 0, report
    for name in WEB + [CRON]:
        assert live_release(nodes[name]) == original, name
    assert nodes[CRON].host.service('odoo').is_running


def test_a_good_build_reaches_every_node_under_load(converged_build, nodes, load, original, lb_url, settings):
    """The build the converge installed beside the live release (the first
    check) is what rollout.yml switches every node to: nothing to install
    again, the module upgrade once, canary first, not one failed request."""
    installed_on = {name: nodes[name].host.check_output('ls /opt/odoo/releases') for name in WEB + [CRON]}
    started_on = {name: int(nodes[name].host.check_output('date +%s')) for name in WEB + [CRON]}
    gen = load()
    time.sleep(BASELINE_SECONDS)                  # the same load just before, for the p99 comparison
    started = time.time()
    rc, out = rollout('-e', json.dumps({'odoo_extra_addons_dirs': [converged_build]}))
    ended = time.time()
    gen.stop()
    before, report = gen.report(until=started), gen.report(since=started)
    figures = {'rollout_seconds': round(ended - started, 1), 'requests_during': report['sent'],
               'failed_during': report['failed'], 'p50_ms_during': report['p50_ms'], 'p99_ms_during': report['p99_ms'],
               'requests_before': before['sent'], 'p99_ms_before': before['p99_ms'],
               'p99_ratio_during_over_before': round(report['p99_ms'] / before['p99_ms'], 2) if before['p99_ms'] else None,
               'loadgen_workers': gen.workers}
    record('good_build', figures)
    summary = re.findall(r'"[^"]*: %s -> [^"]*"' % re.escape(original), out)
    print('rollout summary: %s' % summary)
    assert rc == 0, out[-4000:]
    assert report['sent'] > 0 and report['failed'] == 0, report
    new = {live_release(nodes[name]) for name in WEB + [CRON]}
    assert len(new) == 1 and new != {original}, new
    release = new.pop()
    for name in WEB + [CRON]:
        assert release in installed_on[name].split(), '%s: %s was not the release the converge installed' % (name, release)
    # Only the probe addon changed: the release links to the virtualenv and
    # to Odoo's own addons it shares with the one before (installed before
    # this rollout: no node ran pip or unpacked Odoo's addons for it), and
    # holds its own copy of the probe.
    for name in WEB + [CRON]:
        host = nodes[name].host
        for path, shared, root in (('venv', '/opt/odoo/venvs/', '%s'), ('addons/web', '/opt/odoo/addons-core/', '%s/..')):
            targets = {host.check_output('readlink -f /opt/odoo/releases/%s/%s' % (r, path)) for r in (original, release)}
            assert len(targets) == 1, (name, path, targets)
            target = targets.pop()
            assert target.startswith(shared), (name, path, target)
            installed = int(host.check_output('stat -c %%Y %s/.installed' % (root % target)))
            assert installed < started_on[name], '%s: %s was installed again by the rollout' % (name, target)
        probes = {host.check_output('readlink -f /opt/odoo/releases/%s/addons/odoo_scale_probe' % r) for r in (original, release)}
        assert probes == {'/opt/odoo/releases/%s/addons/odoo_scale_probe' % r for r in (original, release)}, probes
    # The upgrade ran once, from the cron node only, and upgraded the probe.
    log = '/var/log/odoo/upgrade-%s.log' % release
    assert nodes[CRON].host.file(log).exists
    for name in WEB:
        assert not nodes[name].host.file(log).exists, name
    assert 'odoo_scale_probe' in nodes[CRON].host.check_output("grep -m1 -o 'odoo_scale_probe' %s || true" % log)
    # No cron job started while the upgrade ran (the cron node was stopped).
    first, last = [nodes[CRON].host.check_output("%s -n1 %s | cut -c1-19" % (cmd, log)) for cmd in ('head', 'tail')]
    jobs = nodes[CRON].host.check_output("grep 'Starting job' /var/log/odoo/odoo.log | cut -c1-19 || true").split('\n')
    assert not [t for t in jobs if t and first <= t <= last], (first, last)
    # Every web node answers with the new code.
    marks = {requests.get(lb_url + '/odoo_scale_probe/whoami', timeout=10).json().get('mark') for _ in range(6)}
    assert marks == {'converged'}, marks
    # A user's first visit after the rollout: the new release's bundles load
    # (each node names them alike), styled, with no console error.
    first_visit(lb_url, settings['odoo_admin_user_password'], os.path.join(RESULTS, 'browser'), 'home-after-rollout')


def test_rolling_back_is_one_command_without_reinstalling(nodes, load, original):
    gen = load()
    rc, out = rollout('-e', 'rollout_to=%s' % original)
    report = gen.stop()
    record('rollback', report)
    assert rc == 0, out[-4000:]
    assert report['failed'] == 0, report
    assert "Create the release's virtualenv" not in out
    for name in WEB + [CRON]:
        assert live_release(nodes[name]) == original, name
