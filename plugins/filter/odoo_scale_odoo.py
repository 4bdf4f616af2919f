"""Odoo sizing and secrets for the odoo role.

odoo_scale_odoo_sizing turns a host's memory budget and vCPU count into the
numbers odoo.conf and the systemd unit need, after Odoo's own deployment
rule: at most 2 x vCPU + 1 HTTP workers, about 325 MB resident per worker
on average (80 % light requests near 150 MB, 20 % heavy ones near 1 GB).

Odoo's limit_memory_soft / limit_memory_hard are compared with a worker's
*virtual* size (RLIMIT_AS and psutil's vms on Linux), which runs a fixed
amount above its resident size (thread stacks, mapped libraries). The
limits are therefore the worker's share of the budget plus that overhead;
the unit's MemoryHigh / MemoryMax bound what all processes really use.

odoo_scale_odoo_admin_hash gives admin_passwd in the form Odoo's passlib
context reads (pbkdf2_sha512), so odoo.conf never holds the clear text. A new
hash has a random 16-byte salt; the hash the node's odoo.conf holds now is
kept while it still verifies against the password, so a second run changes
nothing and a new password gets a new salt. odoo_scale_odoo_admin_hash_verify
checks a hash against a password; odoo_scale_odoo_conf_option reads one
option of odoo.conf's [options] section (the hash the node holds now).
"""

from __future__ import annotations

import base64
import binascii
import configparser
import hashlib
import hmac
import secrets

from ansible.errors import AnsibleFilterError

MB = 1024 * 1024
WORKER_RSS_MB = 325          # 0.8 x 150 MB + 0.2 x 1024 MB
BASE_RSS_MB = 256            # master and gevent processes
PBKDF2_ROUNDS = 600000
SALT_BYTES = 16
SHA512_BYTES = 64


def _clamp(value, low, high):
    return max(low, min(high, value))


def odoo_sizing(memory_mb, vcpus, node_role='web', workers=None, cron_threads=2,
                vms_overhead_mb=384, soft_floor_mb=640, soft_ceiling_mb=2048,
                limit_memory_soft_mb=None, limit_memory_hard_mb=None):
    """Derived Odoo settings for one host.

    memory_mb: what Odoo may use on this host (becomes MemoryMax).
    node_role: 'web' (HTTP workers, no cron) or 'cron' (cron workers only).
    Returns workers, max_cron_threads, processes, limit_memory_soft /
    limit_memory_hard (bytes, as odoo.conf wants them), memory_high_mb,
    memory_max_mb.
    """
    try:
        memory_mb = int(memory_mb)
        vcpus = max(1, int(vcpus))
        cron_threads = int(cron_threads)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError('odoo_scale_odoo_sizing: memory_mb, vcpus and cron_threads must be integers: %s' % exc)
    if node_role not in ('web', 'cron'):
        raise AnsibleFilterError("odoo_scale_odoo_sizing: node_role must be 'web' or 'cron', not %r" % (node_role,))
    if memory_mb < 512:
        raise AnsibleFilterError('odoo_scale_odoo_sizing: odoo_memory_mb %d is below the 512 MB one Odoo worker needs' % memory_mb)

    if node_role == 'web':
        by_cpu = 2 * vcpus + 1
        by_memory = max(1, (memory_mb - BASE_RSS_MB) // WORKER_RSS_MB)
        n_workers = int(workers) if workers not in (None, '') else min(by_cpu, by_memory)
        if n_workers < 1:
            raise AnsibleFilterError('odoo_scale_odoo_sizing: a web node needs at least 1 worker, got %s' % workers)
        max_cron = 0
        processes = n_workers + 2          # workers, master, gevent
    else:
        if cron_threads < 1:
            raise AnsibleFilterError('odoo_scale_odoo_sizing: the cron node needs max_cron_threads >= 1, got %d' % cron_threads)
        # Prefork mode (workers > 0) so the memory and time limits apply;
        # with http_enable = False no HTTP worker is spawned.
        n_workers = 1
        max_cron = cron_threads
        processes = cron_threads + 1       # cron workers, master

    share_mb = memory_mb // processes
    soft_mb = int(limit_memory_soft_mb) if limit_memory_soft_mb not in (None, '') else \
        _clamp(share_mb + int(vms_overhead_mb), int(soft_floor_mb), int(soft_ceiling_mb))
    hard_mb = int(limit_memory_hard_mb) if limit_memory_hard_mb not in (None, '') else \
        soft_mb + max(128, soft_mb // 4)
    if hard_mb <= soft_mb:
        raise AnsibleFilterError('odoo_scale_odoo_sizing: limit_memory_hard (%d MB) must be above limit_memory_soft (%d MB)'
                                 % (hard_mb, soft_mb))
    return {
        'workers': n_workers,
        'max_cron_threads': max_cron,
        'processes': processes,
        'limit_memory_soft': soft_mb * MB,
        'limit_memory_hard': hard_mb * MB,
        'limit_memory_soft_mb': soft_mb,
        'limit_memory_hard_mb': hard_mb,
        'memory_high_mb': memory_mb * 9 // 10,
        'memory_max_mb': memory_mb,
    }


def _ab64(raw):
    return base64.b64encode(raw).decode('ascii').rstrip('=').replace('+', '.')


def _ab64_decode(text):
    """passlib's adapted base64 (`.` for `+`, no padding) back to bytes;
    ValueError when it is not."""
    if '+' in text or '=' in text:
        raise ValueError('not adapted base64')
    text = text.replace('.', '+')
    try:
        return base64.b64decode(text + '=' * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(str(exc))


def odoo_admin_hash_verify(hashed, password, rounds=PBKDF2_ROUNDS):
    """True when `hashed` is a pbkdf2_sha512 string of `rounds` rounds for
    `password`. Anything else (another password, scheme or round count, a
    malformed or empty string) is False, never an error: the caller then
    writes a new hash. Another round count is refused before any work, so a
    planted huge count cannot stall a run, and raising PBKDF2_ROUNDS rehashes."""
    if not hashed or not password or not isinstance(hashed, str):
        return False
    parts = hashed.split('$')
    if len(parts) != 5 or parts[0] != '' or parts[1] != 'pbkdf2-sha512' or parts[2] != str(int(rounds)):
        return False
    try:
        salt, digest = _ab64_decode(parts[3]), _ab64_decode(parts[4])
    except ValueError:
        return False
    if not salt or len(digest) != SHA512_BYTES:
        return False
    mine = hashlib.pbkdf2_hmac('sha512', str(password).encode('utf-8'), salt, int(rounds))
    return hmac.compare_digest(mine, digest)


def odoo_admin_hash(password, current='', rounds=PBKDF2_ROUNDS):
    """passlib's pbkdf2_sha512 string for `password`: `current` (the hash the
    node holds now) when it verifies, else a new one with a random salt."""
    if not password:
        raise AnsibleFilterError('odoo_scale_odoo_admin_hash: empty password')
    if current and odoo_admin_hash_verify(current, password, rounds):
        return current
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac('sha512', str(password).encode('utf-8'), salt, int(rounds))
    return '$pbkdf2-sha512$%d$%s$%s' % (int(rounds), _ab64(salt), _ab64(digest))


def odoo_conf_option(text, name, section='options'):
    """The value of `name` in `section` of an odoo.conf text, as Odoo reads
    it (RawConfigParser); '' when the text, section or option is missing or
    the text does not parse."""
    parser = configparser.RawConfigParser(interpolation=None)
    try:
        parser.read_string(text or '')
    except configparser.Error:
        return ''
    return parser.get(section, name, fallback='')


class FilterModule(object):
    def filters(self):
        return {
            'odoo_scale_odoo_sizing': odoo_sizing,
            'odoo_scale_odoo_admin_hash': odoo_admin_hash,
            'odoo_scale_odoo_admin_hash_verify': odoo_admin_hash_verify,
            'odoo_scale_odoo_conf_option': odoo_conf_option,
        }
