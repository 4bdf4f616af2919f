"""Runs a playbook of this repository in check mode against an inventory
written for the test, whose hosts are the controller itself.

Every host of every case is this same machine, so its facts are gathered
once and cached for the session (jsonfile cache, `smart` gathering): each
case pays for its checks, not for fact gathering again."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# One cache per checkout and interpreter: the facts describe the Python that
# gathered them (ansible_facts.python), and a cache shared with another
# checkout on another Python (a venv on Debian's 3.11.2 beside one on
# pyenv's 3.11.7) handed the wheelhouse check the other one's version.
_KEY = hashlib.sha1('\0'.join((REPO, sys.executable, os.path.realpath(sys.executable), sys.version)).encode())
FACT_CACHE = os.path.join(tempfile.gettempdir(), 'odoo-scale-bad-input-facts-%d-%s' % (os.getuid(), _KEY.hexdigest()[:12]))


def run_playbook(tmp_path, inv, playbook, inventory_path=None, extra=(), check=True):
    """Returns (exit code, stdout + stderr) of `ansible-playbook --check`
    against `inv` (written to tmp_path) or an inventory already on disk.
    `playbook` is a name under playbooks/ or an absolute path; check=False
    runs it for real (only for plays that change nothing but tmp_path)."""
    if inventory_path:
        path = inventory_path
    else:
        path = tmp_path / 'hosts.yml'
        path.write_text(yaml.safe_dump(inv))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, 'ansible.cfg'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_GATHERING='smart', ANSIBLE_CACHE_PLUGIN='jsonfile',
               ANSIBLE_CACHE_PLUGIN_CONNECTION=FACT_CACHE, ANSIBLE_CACHE_PLUGIN_TIMEOUT='3600')
    bindir = os.path.dirname(sys.executable)
    res = subprocess.run([os.path.join(bindir, 'ansible-playbook'), '-i', str(path)] + (['--check'] if check else [])
                         + [os.path.join(REPO, 'playbooks', playbook)] + list(extra),
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    return res.returncode, res.stdout + res.stderr
