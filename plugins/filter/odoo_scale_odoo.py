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
context reads (pbkdf2_sha512), so odoo.conf never holds the clear text. The
salt is derived from the password, so the same password gives the same hash
and a second run changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ansible.errors import AnsibleFilterError

MB = 1024 * 1024
WORKER_RSS_MB = 325          # 0.8 x 150 MB + 0.2 x 1024 MB
BASE_RSS_MB = 256            # master and gevent processes
PBKDF2_ROUNDS = 600000


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


def odoo_admin_hash(password, rounds=PBKDF2_ROUNDS):
    """passlib's pbkdf2_sha512 string for `password` with a salt derived
    from the password itself (stable across runs)."""
    if not password:
        raise AnsibleFilterError('odoo_scale_odoo_admin_hash: empty password')
    secret = str(password).encode('utf-8')
    salt = hmac.new(secret, b'odoo-scale admin_passwd salt', hashlib.sha256).digest()[:16]
    digest = hashlib.pbkdf2_hmac('sha512', secret, salt, int(rounds))
    return '$pbkdf2-sha512$%d$%s$%s' % (int(rounds), _ab64(salt), _ab64(digest))


class FilterModule(object):
    def filters(self):
        return {
            'odoo_scale_odoo_sizing': odoo_sizing,
            'odoo_scale_odoo_admin_hash': odoo_admin_hash,
        }
