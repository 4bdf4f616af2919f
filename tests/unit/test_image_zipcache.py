"""The test hosts' zipimport cache (scripts/image/odoo_scale_zipcache.py):
a module imported from a new zip each time, as Ansible ships its tasks, runs
the code of the source in that zip, never a cached older one; the file name
in tracebacks is this zip's; a damaged cache entry is compiled again."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

HOOK = os.path.join(os.path.dirname(__file__), '..', '..', 'scripts', 'image')

RUN = '''
import sys, traceback
sys.path.insert(0, %(hook)r)
import odoo_scale_zipcache
odoo_scale_zipcache.CACHE = %(cache)r
sys.path.insert(0, %(zip)r)
import pkg.mod
print(pkg.mod.answer())
try:
    pkg.mod.boom()
except ZeroDivisionError:
    print(traceback.extract_tb(sys.exc_info()[2])[-1].filename)
'''


def make_zip(path, answer):
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('pkg/__init__.py', '')
        z.writestr('pkg/mod.py', 'def answer():\n    return %r\n\n\ndef boom():\n    return 1 / 0\n' % answer)


def run(tmp_path, name, answer):
    zpath = str(tmp_path / name / 'payload.zip')
    os.makedirs(os.path.dirname(zpath))
    make_zip(zpath, answer)
    out = subprocess.run([sys.executable, '-c', RUN % {'hook': HOOK, 'cache': str(tmp_path / 'cache'), 'zip': zpath}],
                         capture_output=True, text=True, check=True).stdout.split('\n')
    return out[0], out[1], zpath


def test_a_module_from_a_new_zip_runs_its_own_source(tmp_path):
    (tmp_path / 'cache').mkdir()
    first, _where, _zpath = run(tmp_path, 'one', 'first')
    entries = set(os.listdir(tmp_path / 'cache'))
    assert first == 'first' and len(entries) == 2          # pkg/__init__.py and pkg/mod.py
    # Same source from another zip: served from the cache, this zip's name in tracebacks.
    again, where, zpath = run(tmp_path, 'two', 'first')
    assert again == 'first' and set(os.listdir(tmp_path / 'cache')) == entries
    assert where == os.path.join(zpath, 'pkg', 'mod.py')
    # Changed source at the same path: its own code, never the cached one.
    changed, _where, _zpath = run(tmp_path, 'three', 'second')
    assert changed == 'second'
    assert len(os.listdir(tmp_path / 'cache')) == 3


def test_a_damaged_entry_is_compiled_again(tmp_path):
    (tmp_path / 'cache').mkdir()
    run(tmp_path, 'one', 'first')
    for name in os.listdir(tmp_path / 'cache'):
        (tmp_path / 'cache' / name).write_bytes(b'\x00garbage')
    assert run(tmp_path, 'two', 'first')[0] == 'first'


def test_no_cache_directory_changes_nothing(tmp_path):
    assert run(tmp_path, 'one', 'first')[0] == 'first'
    assert not (tmp_path / 'cache').exists()
