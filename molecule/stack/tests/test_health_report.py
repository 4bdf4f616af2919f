"""The health report (playbooks/health_report.yml) built against the stack
after a short load with an N+1 pattern made on purpose: every section holds
figures and a grade, the N+1 statement is flagged with the request that ran
it, the files are not world-readable, and a real browser opens the page and
Prometheus' targets page (screenshots in bench/results/health/). The
report's own run time goes to bench/results/health_report.json."""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time

import pytest
import requests

from browser import Browser
from stack_helpers import RESULTS, record_result, run_playbook
from test_monitoring import mon, prom, targets_up, wait_for  # noqa: F401 (fixtures)

SHOTS = os.path.join(RESULTS, 'health')
MARK = 'odoo-scale n+1 check'
SECTIONS = ['requests', 'statements', 'replica_lag', 'cache_hit', 'pool', 'redis', 'services', 'indexes',
            'backups', 'targets', 'restore_drill']


@pytest.fixture(scope='module')
def report(targets_up, admin, lb_url, prom):
    """One N+1 request (a server action reading 40 partners one query each),
    a short load through HAProxy, then the report over the last hour."""
    partners = admin.kw('res.partner', 'create', [{'name': '%s %d' % (MARK, i)} for i in range(40)])
    model = admin.kw('ir.model', 'search', [['model', '=', 'res.partner']])[0]
    action = admin.kw('ir.actions.server', 'create', {
        'name': MARK, 'model_id': model, 'state': 'code',
        'code': ("for partner in env['res.partner'].search([('name', 'like', '%s')]):\n"
                 "    env.cr.execute(\"SELECT name FROM res_partner WHERE id = %%s -- %s\", [partner.id])\n"
                 % (MARK, MARK))})
    before = sum(prom('odoo_sql_repeated_statement_requests_total{route_class="rpc"}').values())
    try:
        admin.kw('ir.actions.server', 'run', [action])
        for _ in range(60):
            assert requests.get(lb_url + '/web/login', timeout=60).status_code == 200
            admin.kw('res.partner', 'search_read', [['id', 'in', partners[:5]]], fields=['name'])
        wait_for('the N+1 request counted by the odoo exporter',
                 lambda: sum(prom('odoo_sql_repeated_statement_requests_total{route_class="rpc"}').values()) > before,
                 patience=120)
        out = tempfile.mkdtemp(prefix='odoo-scale-health-')
        started = time.monotonic()
        run = run_playbook('health_report.yml', '-e', 'health_report_hours=1', '-e', 'health_report_dir=%s' % out)
        seconds = time.monotonic() - started
    finally:
        admin.kw('ir.actions.server', 'unlink', [action])
        admin.kw('res.partner', 'unlink', partners)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    record_result('health_report.json', 'report run (1 h window, local stack)', {'seconds': round(seconds, 1)})
    with open(os.path.join(out, 'health-report.html')) as fh:
        page = fh.read()
    return dict(dir=out, page=page, stdout=run.stdout)


def section(page, key):
    m = re.search(r'<section id="%s" data-grade="(\w+)">(.*?)</section>' % key, page, re.S)
    assert m, 'no section %s in the page' % key
    return m.group(1), m.group(2)


def test_every_section_of_the_report_holds_graded_figures(report):
    grades = {key: section(report['page'], key)[0] for key in SECTIONS}
    assert all(g in ('green', 'amber', 'red') for g in grades.values()), grades
    # Graded on what is true now: every target up, the converge's backup
    # recent. (Lag, Redis and pools are graded on their worst in the window,
    # which holds the monitoring checks' faults.)
    assert grades['targets'] == 'green' and grades['backups'] == 'green', grades
    # Charts drawn from Prometheus' series, not an empty placeholder.
    for key in ('requests', 'replica_lag', 'cache_hit', 'pool', 'redis'):
        assert '<polyline' in section(report['page'], key)[1], key
    # The run prints the summary, one line per section, and where the page is.
    assert re.search(r'health: (GREEN|AMBER|RED)', report['stdout']), report['stdout'][-3000:]
    assert 'health-report.html' in report['stdout']
    # The last restore drill, from its fact (test_backup.py runs one; alone, 'never run').
    assert re.search(r'(GREEN|AMBER|RED) +Restore drill: (last run [\d.]+ days ago on \S+: |never run)',
                     ' '.join(report['stdout'].split())), report['stdout'][-3000:]


def test_the_n_plus_one_made_on_purpose_is_flagged(report):
    grade, body = section(report['page'], 'statements')
    suspects = body.split('<h3>Slowest', 1)[0]
    row = next((r for r in suspects.split('<tr>') if MARK in r), None)
    assert row, suspects[:3000]
    assert 'POST /web/dataset/call_kw/ir.actions.server/run' in row, row
    calls = [int(c) for c in re.findall(r'<td>(\d+)</td>', row)]
    assert calls and max(calls) >= 40, row
    assert grade in ('amber', 'red')


def test_the_report_files_are_not_world_readable(report):
    for name in ('health-report.html', 'health-report.txt'):
        mode = stat.S_IMODE(os.stat(os.path.join(report['dir'], name)).st_mode)
        assert mode & 0o007 == 0, (name, oct(mode))


def test_a_browser_opens_the_report_and_the_targets_page(report, mon):
    with Browser('file://', SHOTS) as b:
        b.driver.get('file://' + os.path.join(report['dir'], 'health-report.html'))
        b.wait_css('#sections')
        assert b.driver.execute_script('return document.querySelectorAll("section svg").length') >= 8
        assert b.driver.execute_script('return performance.getEntriesByType("resource").length') == 0
        b.shot('health-report')
        # Debian's Prometheus serves the classic UI (no React build).
        b.driver.get('http://%s:9090/classic/targets' % mon.address)
        b.wait_text('body', 'pgbouncer')
        b.shot('prometheus-targets')
    assert os.path.getsize(os.path.join(SHOTS, 'health-report.png')) > 10000
