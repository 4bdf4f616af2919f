"""The Odoo sizing and admin-hash filters (plugins/filter/odoo_scale_odoo.py)."""

from __future__ import annotations

import hashlib
import base64
import importlib.util
import os

import pytest
from ansible.errors import AnsibleFilterError

_PATH = os.path.join(os.path.dirname(__file__), '..', '..', 'plugins', 'filter', 'odoo_scale_odoo.py')
_spec = importlib.util.spec_from_file_location('odoo_scale_odoo', _PATH)
odoo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(odoo)
MB = 1024 * 1024


def test_web_workers_follow_odoo_rule_when_memory_allows():
    out = odoo.odoo_sizing(16384, 4)
    assert out['workers'] == 9                      # 2 x 4 + 1
    assert out['max_cron_threads'] == 0
    assert out['memory_max_mb'] == 16384 and out['memory_high_mb'] == 14745


def test_web_workers_capped_by_memory():
    out = odoo.odoo_sizing(1280, 8)                # 17 by CPU, (1280 - 256) / 325 = 3 by memory
    assert out['workers'] == 3
    assert out['processes'] == 5


def test_limits_are_share_plus_overhead_within_floor_and_ceiling():
    small = odoo.odoo_sizing(1280, 2)
    assert small['limit_memory_soft'] == (1280 // 5 + 384) * MB      # 640 MB
    assert small['limit_memory_hard'] == (640 + 160) * MB
    big = odoo.odoo_sizing(65536, 2)
    assert big['limit_memory_soft'] == 2048 * MB                        # Odoo's default is the ceiling
    assert big['limit_memory_hard'] == 2560 * MB                        # and so is its hard limit


def test_cron_node_runs_cron_workers_only():
    out = odoo.odoo_sizing(1024, 2, node_role='cron', cron_threads=3)
    assert out['workers'] == 1 and out['max_cron_threads'] == 3 and out['processes'] == 4


def test_overrides_win():
    out = odoo.odoo_sizing(4096, 2, workers=2, limit_memory_soft_mb=700, limit_memory_hard_mb=900)
    assert out['workers'] == 2
    assert out['limit_memory_soft'] == 700 * MB and out['limit_memory_hard'] == 900 * MB


@pytest.mark.parametrize('kwargs, message', [
    ({'memory_mb': 256, 'vcpus': 2}, 'below the 512 MB'),
    ({'memory_mb': 'lots', 'vcpus': 2}, 'must be integers'),
    ({'memory_mb': 2048, 'vcpus': 2, 'node_role': 'worker'}, "node_role must be 'web' or 'cron'"),
    ({'memory_mb': 2048, 'vcpus': 2, 'node_role': 'cron', 'cron_threads': 0}, 'max_cron_threads >= 1'),
    ({'memory_mb': 2048, 'vcpus': 2, 'limit_memory_soft_mb': 900, 'limit_memory_hard_mb': 800}, 'must be above'),
])
def test_bad_input_names_the_problem(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        odoo.odoo_sizing(**kwargs)


def test_admin_hash_is_passlib_pbkdf2_sha512_and_stable():
    first = odoo.odoo_admin_hash('correct horse battery staple')
    assert first == odoo.odoo_admin_hash('correct horse battery staple')
    assert first != odoo.odoo_admin_hash('correct horse battery stapler')
    scheme, rounds, salt, digest = first.split('$')[1:]
    assert scheme == 'pbkdf2-sha512' and int(rounds) == odoo.PBKDF2_ROUNDS

    def ab64_decode(text):
        text = text.replace('.', '+')
        return base64.b64decode(text + '=' * (-len(text) % 4))
    expect = hashlib.pbkdf2_hmac('sha512', b'correct horse battery staple', ab64_decode(salt), int(rounds))
    assert ab64_decode(digest) == expect
    assert 'correct horse' not in first
