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

# Our module_utils live in the repository, not in a collection: make them
# importable as ansible.module_utils.<name>, the way ansible.cfg's
# module_utils path does for playbook runs.
import ansible.module_utils  # noqa: E402
ansible.module_utils.__path__.append(os.path.join(REPO, 'plugins', 'module_utils'))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from pgserver import PgServer  # noqa: E402


@pytest.fixture(scope='session')
def pg():
    server = PgServer().start()
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
