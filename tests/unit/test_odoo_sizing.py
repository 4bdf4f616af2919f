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


PASSWORD = 'correct horse battery staple'
# Made by passlib 1.7.4 (the release Odoo 17 pins), not by our filter:
# pbkdf2_sha512.using(rounds=600000, salt=bytes(range(16))).hash(PASSWORD)
PASSLIB_HASH = ('$pbkdf2-sha512$600000$AAECAwQFBgcICQoLDA0ODw$HPMKUYh49Erst1wODQ1poCrF.RgaU7UpIJLhCjwMu0FQip6EKIUU'
                'kNiJ4BvDKV0UdO8BuHufX3D.ExFyclsWAw')


def ab64_decode(text):
    """passlib's adapted base64: `.` for `+`, no padding."""
    text = text.replace('.', '+')
    return base64.b64decode(text + '=' * (-len(text) % 4))


def parse(hashed):
    scheme, rounds, salt, digest = hashed.split('$')[1:]
    return scheme, int(rounds), ab64_decode(salt), ab64_decode(digest)


def test_admin_hash_is_pbkdf2_sha512_with_a_random_16_byte_salt():
    first, second = odoo.odoo_admin_hash(PASSWORD), odoo.odoo_admin_hash(PASSWORD)
    for hashed in (first, second):
        scheme, rounds, salt, digest = parse(hashed)
        assert scheme == 'pbkdf2-sha512' and rounds == 600000 and len(salt) == 16
        assert digest == hashlib.pbkdf2_hmac('sha512', PASSWORD.encode(), salt, rounds)
        assert 'correct horse' not in hashed
    assert parse(first)[2] != parse(second)[2], 'two hashes of one password share a salt'


def test_verify_accepts_passlib_hash_and_our_own():
    assert odoo.odoo_admin_hash_verify(PASSLIB_HASH, PASSWORD) is True
    assert odoo.odoo_admin_hash_verify(odoo.odoo_admin_hash(PASSWORD), PASSWORD) is True


def test_verify_rejects_a_wrong_password():
    assert odoo.odoo_admin_hash_verify(PASSLIB_HASH, 'correct horse battery stapler') is False
    assert odoo.odoo_admin_hash_verify(PASSLIB_HASH, '') is False


@pytest.mark.parametrize('hashed', [
    '',
    None,
    PASSWORD,                                                   # clear text, not a hash
    PASSLIB_HASH.replace('pbkdf2-sha512', 'pbkdf2-sha256'),     # another scheme
    PASSLIB_HASH.replace('$600000$', '$1000$'),                 # another round count
    PASSLIB_HASH.replace('$600000$', '$lots$'),
    PASSLIB_HASH[:-4],                                          # digest cut short
    PASSLIB_HASH.replace('AAECAwQFBgcICQoLDA0ODw', '!!not*base64'),
    PASSLIB_HASH.replace('$AAECAwQFBgcICQoLDA0ODw$', '$$'),     # no salt
    PASSLIB_HASH + '$extra',
    '$pbkdf2-sha512$600000$AAECAwQFBgcICQoLDA0ODw',             # no digest
])
def test_verify_rejects_a_malformed_hash(hashed):
    assert odoo.odoo_admin_hash_verify(hashed, PASSWORD) is False


def test_admin_hash_keeps_the_hash_the_node_holds_while_it_matches():
    assert odoo.odoo_admin_hash(PASSWORD, PASSLIB_HASH) == PASSLIB_HASH


@pytest.mark.parametrize('current', [
    PASSLIB_HASH,                                               # the old password's hash
    PASSLIB_HASH[:-4],                                          # malformed
    '',                                                         # no odoo.conf yet
])
def test_admin_hash_is_new_when_the_node_holds_no_matching_hash(current):
    new_password = 'a new master password'
    hashed = odoo.odoo_admin_hash(new_password, current)
    assert hashed != current
    scheme, rounds, salt, digest = parse(hashed)
    assert scheme == 'pbkdf2-sha512' and len(salt) == 16 and salt != bytes(range(16))
    assert digest == hashlib.pbkdf2_hmac('sha512', new_password.encode(), salt, rounds)


def test_admin_hash_refuses_an_empty_password():
    with pytest.raises(AnsibleFilterError, match='empty password'):
        odoo.odoo_admin_hash('')


@pytest.mark.parametrize('text, expected', [
    ('[options]\nadmin_passwd = %s\ndb_host = pool1\n' % PASSLIB_HASH, PASSLIB_HASH),
    ('[options]\ndb_host = pool1\n', ''),                      # no admin_passwd
    ('[other]\nadmin_passwd = x\n', ''),                       # not in [options]
    ('', ''),                                                   # no odoo.conf yet
    ('admin_passwd = x\n', ''),                                 # no section header: not an odoo.conf
])
def test_conf_option_reads_admin_passwd_from_odoo_conf(text, expected):
    assert odoo.odoo_conf_option(text, 'admin_passwd') == expected
