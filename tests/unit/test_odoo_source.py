"""scripts/odoo-source.sh: where `make up` and the tests find Odoo's tree.
Real git: the "network" is a local repository served by file:// URL, the
lost network an address that cannot be cloned."""

from __future__ import annotations

import os
import subprocess

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SCRIPT = os.path.join(ROOT, 'scripts', 'odoo-source.sh')


def tree(path):
    os.makedirs(os.path.join(path, 'odoo'))
    with open(os.path.join(path, 'odoo', 'release.py'), 'w') as fh:
        fh.write("serie = '17.0'\n")
    return str(path)


def run(tmp_path, *args, **env):
    full = dict(os.environ, HOME=str(tmp_path / 'home'), ODOO_SCALE_CACHE_DIR=str(tmp_path / 'cache'),
                ODOO_SOURCE='', ODOO_SCALE_ODOO_GIT_URL='file://%s/nowhere.git' % tmp_path)
    full.pop('ODOO_SERIES', None)
    full.update(env)
    return subprocess.run(['bash', SCRIPT, *args], capture_output=True, text=True, env=full, check=False)


@pytest.fixture
def upstream(tmp_path):
    """A repository with a 17.0 branch holding an Odoo-shaped tree."""
    repo = tmp_path / 'upstream'
    tree(repo)
    git = ['git', '-C', str(repo), '-c', 'user.name=t', '-c', 'user.email=t@t']
    subprocess.run(['git', 'init', '-q', '-b', '17.0', str(repo)], check=True)
    subprocess.run(git + ['add', '.'], check=True)
    subprocess.run(git + ['commit', '-qm', 'odoo'], check=True)
    return 'file://%s' % repo


def test_odoo_source_wins(tmp_path):
    src = tree(tmp_path / 'mine')
    tree(tmp_path / 'cache' / 'odoo-17.0')
    out = run(tmp_path, ODOO_SOURCE=src)
    assert out.returncode == 0 and out.stdout.strip() == src


def test_odoo_source_that_is_no_tree_is_an_error_naming_it(tmp_path):
    out = run(tmp_path, ODOO_SOURCE=str(tmp_path))
    assert out.returncode == 2 and out.stdout == ''
    assert out.stderr.strip().splitlines() == [
        'odoo-source: ODOO_SOURCE=%s is not an Odoo tree (no odoo/release.py there)' % tmp_path]


def test_the_cache_comes_next(tmp_path):
    cache = tree(tmp_path / 'cache' / 'odoo-17.0')
    out = run(tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == cache


def test_else_a_shallow_clone_into_the_cache(tmp_path, upstream):
    out = run(tmp_path, ODOO_SCALE_ODOO_GIT_URL=upstream)
    cache = tmp_path / 'cache' / 'odoo-17.0'
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(cache)
    assert (cache / 'odoo' / 'release.py').is_file()
    assert subprocess.run(['git', '-C', str(cache), 'rev-parse', '--is-shallow-repository'],
                          capture_output=True, text=True, check=False).stdout.strip() == 'true'
    # The next run takes the cache, without cloning.
    again = run(tmp_path, ODOO_SCALE_ODOO_GIT_URL='file:///nowhere')
    assert again.returncode == 0 and again.stdout.strip() == str(cache)


def test_no_tree_and_no_network_says_so_in_one_line_and_leaves_nothing(tmp_path):
    out = run(tmp_path)
    assert out.returncode == 3 and out.stdout == ''
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('odoo-source: no Odoo 17.0 tree:') and 'clone of file://' in last, out.stderr
    assert not (tmp_path / 'cache' / 'odoo-17.0').exists()
    assert not (tmp_path / 'cache' / 'odoo-17.0.part').exists()


def test_the_tests_never_clone(tmp_path, upstream):
    out = run(tmp_path, '--no-clone', ODOO_SCALE_ODOO_GIT_URL=upstream)
    assert out.returncode == 3
    assert not (tmp_path / 'cache' / 'odoo-17.0').exists()
    assert 'cloning' not in out.stderr
