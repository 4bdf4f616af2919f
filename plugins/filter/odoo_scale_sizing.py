# -*- coding: utf-8 -*-
"""Derived sizes for odoo-scale: PostgreSQL settings from a host's memory and
CPUs, PgBouncer pool arithmetic, and the per-host memory budget. Kept here, with unit tests, instead of
long Jinja expressions inside templates."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

MB = 1


def _fmt_mb(value_mb):
    """PostgreSQL memory units: whole GB when exact, else MB (or kB below 1 MB)."""
    value_mb = int(value_mb)
    if value_mb >= 1024 and value_mb % 1024 == 0:
        return '%dGB' % (value_mb // 1024)
    return '%dMB' % max(value_mb, 1)


def pg_tune(memory_mb, cpus, max_connections=200, storage='ssd'):
    """PostgreSQL settings for an OLTP (Odoo) workload.

    memory_mb: memory this PostgreSQL may use (not the whole host when other
    services share it); cpus: vCPUs for it; max_connections: server
    connection ceiling (PgBouncer keeps the real number far lower).
    Rules follow pgtune's "web/OLTP" profile, capped where large values stop
    paying off (maintenance_work_mem 2 GB, wal_buffers 16 MB).
    """
    try:
        memory_mb = int(memory_mb)
        cpus = int(cpus)
        max_connections = int(max_connections)
    except (TypeError, ValueError):
        raise AnsibleFilterError('pg_tune: memory_mb, cpus and max_connections must be integers, got %r, %r, %r'
                                 % (memory_mb, cpus, max_connections))
    if memory_mb < 256:
        raise AnsibleFilterError('pg_tune: memory_mb %d is below the 256 MB PostgreSQL needs to run Odoo' % memory_mb)
    if cpus < 1:
        raise AnsibleFilterError('pg_tune: cpus must be at least 1, got %d' % cpus)
    if max_connections < 10:
        raise AnsibleFilterError('pg_tune: max_connections must be at least 10, got %d' % max_connections)
    if storage not in ('ssd', 'hdd'):
        raise AnsibleFilterError("pg_tune: storage must be 'ssd' or 'hdd', got %r" % storage)

    shared_buffers = memory_mb // 4
    effective_cache = memory_mb * 3 // 4
    maintenance = min(memory_mb // 16, 2048)
    wal_buffers = min(max(shared_buffers * 3 // 100, 1), 16)
    per_gather = max(1, min(cpus // 2, 4))
    # work_mem: what is left after shared_buffers, shared by every connection
    # running up to three sort/hash nodes, split across parallel workers.
    work_mem_kb = (memory_mb - shared_buffers) * 1024 // (max_connections * 3) // per_gather
    work_mem_kb = max(work_mem_kb, 4096)

    settings = {
        'max_connections': str(max_connections),
        'shared_buffers': _fmt_mb(shared_buffers),
        'effective_cache_size': _fmt_mb(effective_cache),
        'maintenance_work_mem': _fmt_mb(maintenance),
        'work_mem': '%dkB' % work_mem_kb,
        'wal_buffers': _fmt_mb(wal_buffers),
        'huge_pages': 'try',
        'max_worker_processes': str(max(8, cpus)),
        'max_parallel_workers': str(cpus),
        'max_parallel_workers_per_gather': str(per_gather),
        'max_parallel_maintenance_workers': str(per_gather),
        'random_page_cost': '1.1' if storage == 'ssd' else '4',
        'effective_io_concurrency': '200' if storage == 'ssd' else '2',
        'checkpoint_timeout': '15min',
        'checkpoint_completion_target': '0.9',
        'min_wal_size': '1GB' if memory_mb >= 4096 else '256MB',
        'max_wal_size': '4GB' if memory_mb >= 4096 else '1GB',
        'autovacuum_max_workers': str(max(3, min(cpus // 2, 8))),
        'autovacuum_naptime': '20s',
        'autovacuum_vacuum_scale_factor': '0.05',
        'autovacuum_analyze_scale_factor': '0.02',
        'autovacuum_vacuum_cost_limit': '2000',
        'autovacuum_work_mem': _fmt_mb(max(min(memory_mb // 32, 1024), 64)),
    }
    return settings


def pool_demand(pgbouncer_hosts, hostvars, target_host):
    """Server connections all PgBouncer hosts may open to target_host:
    the sum of pool_size + reserve_pool of every pool that points at it.
    Each PgBouncer host publishes its pools as the fact pgbouncer_server_pools
    (list of dicts with target, database, pool_size, reserve_pool)."""
    total = 0
    detail = []
    for host in pgbouncer_hosts:
        for pool in hostvars[host].get('pgbouncer_server_pools', []) or []:
            if pool.get('target') != target_host:
                continue
            need = int(pool.get('pool_size', 0)) + int(pool.get('reserve_pool', 0))
            total += need
            detail.append('%s:%s=%d' % (host, pool.get('database'), need))
    return {'total': total, 'detail': detail}


def host_address(host, hostvars):
    """The address other hosts use to reach `host`: odoo_scale_address when
    the inventory sets it, else the address of its default route."""
    hv = hostvars[host]
    if hv.get('odoo_scale_address'):
        return hv['odoo_scale_address']
    try:
        return hv['ansible_facts']['default_ipv4']['address']
    except (KeyError, TypeError):
        pass
    try:
        return hv['ansible_default_ipv4']['address']
    except (KeyError, TypeError):
        raise AnsibleFilterError('host_address: no address known for %s: gather facts or set odoo_scale_address' % host)


def slot_name(host):
    """A replication slot name for a replica host: lower case, [a-z0-9_]."""
    out = ''.join(c if c.isalnum() else '_' for c in str(host).lower())
    return ('odoo_scale_' + out)[:63]


def _whole_mb(name, value):
    """value as an int of MB, or AnsibleFilterError naming it."""
    if isinstance(value, bool):
        raise AnsibleFilterError('memory_budget: %s must be a whole number of MB, got %r' % (name, value))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError('memory_budget: %s must be a whole number of MB, got %r' % (name, value))


def memory_budget(claims, ram_mb, reserve_mb=256):
    """The memory budget of one host: the limits of every service placed on
    it against its RAM less a reserve for the OS.

    claims: {service: MB} (each role's preflight merges its systemd MemoryMax
    into the host fact __odoo_scale_memory_claims); ram_mb: the host's RAM;
    reserve_mb: kept for the kernel, sshd, journald and the page cache floor.
    Returns {ram_mb, reserve_mb, available_mb, claims, total_mb, fits,
    summary}; summary reads "odoo 6144 + redis 512 = 6656 MB", services by
    name.
    """
    if claims is None:
        claims = {}
    if not isinstance(claims, dict):
        raise AnsibleFilterError('memory_budget: claims must be a dict of service: MB, got %r' % (claims,))
    ram_mb = _whole_mb('ram_mb', ram_mb)
    reserve_mb = _whole_mb('reserve_mb', reserve_mb)
    if ram_mb <= 0:
        raise AnsibleFilterError('memory_budget: ram_mb must be positive, got %d' % ram_mb)
    if reserve_mb < 0:
        raise AnsibleFilterError('memory_budget: reserve_mb must not be negative, got %d' % reserve_mb)
    clean = {}
    for service in sorted(claims, key=str):
        mb = _whole_mb('claim %s' % service, claims[service])
        if mb < 0:
            raise AnsibleFilterError('memory_budget: claim %s must not be negative, got %d' % (service, mb))
        clean[str(service)] = mb
    total = sum(clean.values())
    available = ram_mb - reserve_mb
    terms = ' + '.join('%s %d' % (service, mb) for service, mb in clean.items())
    if not terms:
        summary = 'no claims = 0 MB'
    elif len(clean) == 1:
        summary = '%s MB' % terms
    else:
        summary = '%s = %d MB' % (terms, total)
    return {
        'ram_mb': ram_mb,
        'reserve_mb': reserve_mb,
        'available_mb': available,
        'claims': clean,
        'total_mb': total,
        'fits': total <= available,
        'summary': summary,
    }


class FilterModule(object):
    def filters(self):
        return {
            'odoo_scale_pg_tune': pg_tune,
            'odoo_scale_pool_demand': pool_demand,
            'odoo_scale_host_address': host_address,
            'odoo_scale_slot_name': slot_name,
            'odoo_scale_memory_budget': memory_budget,
        }
