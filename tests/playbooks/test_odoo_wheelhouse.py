"""A wheelhouse build that fails fails the run and caches nothing.

The odoo role's controller steps (roles/odoo/tasks/controller.yml) run for
real on this machine, with the controller cache in tmp_path, and one extra
requirement (odoo_pip_extra_packages) is a tiny project whose setup.py
refuses to build a wheel: pip resolves everything, builds the Odoo wheel,
fails on that project and exits 1. The run must fail on the wheelhouse
step, say which requirement failed, and leave nothing under the cache's
wheelhouse/ that the next run's `creates:` would take for a whole
wheelhouse (no wheelhouse directory, no packages.txt, no archive).

Odoo is built from the real tree (ODOO_SOURCE, else ../shared/odoo/17.0,
read only). Only what the failure needs is built: the test's tree links the
real one's files but holds an empty requirements.txt and no addons, and pip
runs with PIP_NO_DEPS, so pip builds Odoo's own wheel and fetches the few
packages of packages.txt (the role's pins) instead of Odoo's whole set.
"""

from __future__ import annotations

import os
import runpy
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from playbook_runner import REPO, run_playbook  # noqa: E402

BROKEN = 'odoo-scale-unbuildable'
BROKEN_SETUP = '''\
import sys
from setuptools import setup

# Metadata is fine, so pip resolves and builds everything else first.
if 'bdist_wheel' in sys.argv:
    raise SystemExit('%s: this project refuses to build a wheel')
setup(name='%s', version='1.0', py_modules=[])
''' % (BROKEN, BROKEN)

PLAY = [{
    'name': 'The odoo role controller steps',
    'hosts': 'controller',
    'gather_facts': True,
    'environment': {'PIP_NO_DEPS': '1'},
    'tasks': [{'name': 'Build the release bundle', 'ansible.builtin.include_role': {
        'name': 'odoo', 'tasks_from': 'controller.yml'}}],
}]


def odoo_source():
    src = os.environ.get('ODOO_SOURCE') or os.path.join(os.path.dirname(REPO), 'shared', 'odoo', '17.0')
    if not os.path.isfile(os.path.join(src, 'odoo', 'release.py')):
        pytest.skip('no Odoo source tree at %s (set ODOO_SOURCE to one): the controller steps need it' % src)
    return src


def linked_tree(src, dest):
    """The real tree's files as symlinks, minus its requirements and addons."""
    dest.mkdir()
    for name in os.listdir(src):
        if name not in ('requirements.txt', 'addons'):
            (dest / name).symlink_to(os.path.join(src, name))
    (dest / 'requirements.txt').write_text('# the test builds only Odoo and packages.txt\n')
    (dest / 'addons').mkdir()


def test_a_failed_wheelhouse_build_fails_the_run_and_caches_nothing(tmp_path):
    src = odoo_source()
    series = runpy.run_path(os.path.join(src, 'odoo', 'release.py'))['serie']
    tree = tmp_path / 'odoo'
    linked_tree(src, tree)
    broken = tmp_path / BROKEN
    broken.mkdir()
    (broken / 'setup.py').write_text(BROKEN_SETUP)
    cache = tmp_path / 'cache'
    inv = {'all': {'hosts': {'controller': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'odoo_series': series, 'odoo_source_dir': str(tree), 'odoo_controller_cache_dir': str(cache),
        'odoo_wheelhouse_python': sys.executable, 'odoo_pip_extra_packages': [str(broken)]}}}}
    playbook = tmp_path / 'controller.yml'
    playbook.write_text(yaml.safe_dump(PLAY, sort_keys=False))

    rc, out = run_playbook(tmp_path, inv, str(playbook), check=False)

    wheelhouse = cache / 'wheelhouse'
    left = sorted(os.listdir(wheelhouse)) if wheelhouse.is_dir() else []
    assert rc != 0, 'the run passed although %s did not build; wheelhouse/ holds %s\n%s' % (BROKEN, left, out[-4000:])
    assert 'TASK [odoo : Build the wheelhouse once' in out and 'Failed building wheel for %s' % BROKEN in out, out[-4000:]
    assert left == [], 'a failed build left %s in the cache: %s\n%s' % (wheelhouse, left, out[-4000:])
