"""Fixtures for the plugin tests: a real PostgreSQL server per session, a
fresh database per test, and a runner that calls a module's main() exactly as
Ansible would (arguments in, one JSON result out)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import uuid
from contextlib import redirect_stdout

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The modules import our module_utils as the collection odoo_scale.stack
# (galaxy.yml). `ansible-test units` runs these tests inside the collection
# and makes it importable itself; a plain pytest run reaches it through the
# repository's collections/ directory (ansible_collections/odoo_scale/stack
# links back to the repository), as ansible.cfg's collections_path does.
if importlib.util.find_spec('ansible_collections.odoo_scale') is None:
    sys.path.insert(0, os.path.join(REPO, 'collections'))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from pgserver import PgServer  # noqa: E402


# One PostgreSQL server per test process, started when the session starts
# rather than by a session-scoped fixture: `ansible-test units` runs every
# test in a fork of its own, where a session fixture would start a server
# per test and never stop it (the fork ends with os._exit). Started here, in
# the process that forks, it is shared by every test and stopped at the end.
_SERVER = {}


def pytest_sessionstart(session):
    if getattr(session.config, 'workerinput', None) is None and getattr(session.config.option, 'numprocesses', None):
        return  # the pytest-xdist controller runs no test
    _SERVER['server'] = PgServer().start()
    _SERVER['pid'] = os.getpid()


def pytest_sessionfinish(session):
    if _SERVER.get('pid') == os.getpid():
        _SERVER.pop('server').destroy()


@pytest.fixture(scope='session')
def pg():
    if 'server' in _SERVER:
        yield _SERVER['server']
        return
    server = PgServer().start()  # a session that did not start one (this conftest loaded late)
    yield server
    server.destroy()


@pytest.fixture
def db(pg):
    """A new empty database on the session server; returns (server, name)."""
    name = 't_' + uuid.uuid4().hex[:12]
    pg.sql('CREATE DATABASE %s' % name)
    yield pg, name
    pg.sql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)


def load_module(name):
    """Import plugins/modules/<name>.py as a Python module."""
    path = os.path.join(REPO, 'plugins', 'modules', name + '.py')
    spec = importlib.util.spec_from_file_location('odoo_scale_test_' + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class ModuleResult(dict):
    @property
    def failed(self):
        return bool(self.get('failed'))


def run_module(name, args, check_mode=False, diff=False):
    """Run a module's main() with args; returns its result dict."""
    mod = load_module(name)
    full = dict(args)
    full['_ansible_check_mode'] = check_mode
    full['_ansible_diff'] = diff
    out = io.StringIO()
    with patch_module_args(full), redirect_stdout(out):
        with pytest.raises(SystemExit):
            mod.main()
    return ModuleResult(json.loads(out.getvalue()))


@pytest.fixture
def run():
    return run_module
