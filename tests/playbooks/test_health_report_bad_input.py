"""playbooks/health_report.yml refuses what it cannot report on, in its first
play on the controller, before it asks any host anything: one line naming
the group or the variable, and no report written."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from playbook_runner import run_playbook  # noqa: E402


def inventory(groups):
    hostvars = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    return {'all': {'vars': hostvars, 'children': {g: {'hosts': {h: None for h in hosts}} for g, hosts in groups.items()}}}


@pytest.mark.parametrize('case, groups, hours, expected', [
    ('no monitoring host', {'pg_primary': ['db1']}, '3',
     'health_report needs a host in group monitoring (Prometheus) and one in pg_primary'),
    ('window not a number', {'pg_primary': ['db1'], 'monitoring': ['mon1']}, 'three',
     "health_report_hours must be a number of hours, got 'three'"),
    ('window too long', {'pg_primary': ['db1'], 'monitoring': ['mon1']}, '9999',
     'health_report_hours must be above 0 and at most 2160'),
])
def test_bad_input_stops_before_any_host_is_asked(tmp_path, case, groups, hours, expected):
    out_dir = tmp_path / 'reports'
    rc, out = run_playbook(tmp_path, inventory(groups), 'health_report.yml', check=False,
                           extra=['-e', 'health_report_hours=%s' % hours, '-e', 'health_report_dir=%s' % out_dir])
    assert rc != 0, '%s: the run did not fail\n%s' % (case, out[-3000:])
    assert expected in out, '%s: message %r not found\n%s' % (case, expected, out[-3000:])
    assert 'PLAY [Figures over time from Prometheus]' not in out, case
    assert not out_dir.exists(), case
