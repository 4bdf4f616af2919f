"""The derived numbers the roles render: PostgreSQL settings from host size,
pool arithmetic, addresses and slot names."""

import os
import sys

import pytest
from ansible.errors import AnsibleFilterError

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'plugins', 'filter'))
import odoo_scale_sizing as sizing  # noqa: E402


def test_pg_tune_for_a_16gb_8cpu_host():
    s = sizing.pg_tune(16384, 8, 200)
    assert s['shared_buffers'] == '4GB'
    assert s['effective_cache_size'] == '12GB'
    assert s['maintenance_work_mem'] == '1GB'
    assert s['max_parallel_workers_per_gather'] == '4'
    assert s['max_worker_processes'] == '8'
    # (16384 - 4096) MB over 200 connections x 3 nodes x 4 workers
    assert s['work_mem'] == '%dkB' % ((16384 - 4096) * 1024 // 600 // 4)


def test_pg_tune_small_host_keeps_floors():
    s = sizing.pg_tune(1024, 1, 100)
    assert s['shared_buffers'] == '256MB'
    assert s['work_mem'] == '4096kB'
    assert s['max_parallel_workers_per_gather'] == '1'
    assert s['max_wal_size'] == '1GB'


def test_pg_tune_caps_maintenance_work_mem():
    assert sizing.pg_tune(256 * 1024, 64)['maintenance_work_mem'] == '2GB'


@pytest.mark.parametrize('args, word', [
    ((100, 2, 100), 'memory_mb'),
    ((2048, 0, 100), 'cpus'),
    ((2048, 2, 5), 'max_connections'),
    (('lots', 2, 100), 'integers'),
])
def test_pg_tune_refuses_bad_input(args, word):
    with pytest.raises(AnsibleFilterError, match=word):
        sizing.pg_tune(*args)


def test_pool_demand_counts_only_pools_on_the_target():
    hostvars = {
        'pgb1': {'pgbouncer_server_pools': [
            {'target': 'pg1', 'database': 'odoo', 'pool_size': 40, 'reserve_pool': 5},
            {'target': 'pg1', 'database': 'postgres', 'pool_size': 10, 'reserve_pool': 0},
            {'target': 'pg2', 'database': 'odoo_ro', 'pool_size': 20, 'reserve_pool': 0},
        ]},
        'pgb2': {'pgbouncer_server_pools': [
            {'target': 'pg1', 'database': 'odoo', 'pool_size': 40, 'reserve_pool': 5},
        ]},
    }
    assert sizing.pool_demand(['pgb1', 'pgb2'], hostvars, 'pg1')['total'] == 100
    assert sizing.pool_demand(['pgb1', 'pgb2'], hostvars, 'pg2')['total'] == 20


def test_host_address_prefers_inventory_override():
    hv = {'a': {'odoo_scale_address': '10.0.0.9', 'ansible_default_ipv4': {'address': '1.2.3.4'}},
          'b': {'ansible_facts': {'default_ipv4': {'address': '1.2.3.5'}}}}
    assert sizing.host_address('a', hv) == '10.0.0.9'
    assert sizing.host_address('b', hv) == '1.2.3.5'
    with pytest.raises(AnsibleFilterError, match='no address known for c'):
        sizing.host_address('c', {'c': {}})


def test_slot_name_is_a_valid_identifier():
    assert sizing.slot_name('db-2.example.com') == 'odoo_scale_db_2_example_com'
    assert len(sizing.slot_name('x' * 100)) == 63


def test_memory_budget_sums_every_claim():
    b = sizing.memory_budget({'redis': 512, 'postgresql': 4096, 'odoo': '6144'}, 8192, 256)
    assert b['claims'] == {'odoo': 6144, 'postgresql': 4096, 'redis': 512}
    assert (b['ram_mb'], b['reserve_mb'], b['available_mb'], b['total_mb']) == (8192, 256, 7936, 10752)
    assert b['fits'] is False
    # Services by name, so the message is the same on every run.
    assert b['summary'] == 'odoo 6144 + postgresql 4096 + redis 512 = 10752 MB'


def test_memory_budget_fits_up_to_the_reserve():
    assert sizing.memory_budget({'postgresql': 7936}, 8192)['fits'] is True
    assert sizing.memory_budget({'postgresql': 7937}, 8192)['fits'] is False
    assert sizing.memory_budget({'postgresql': 7937}, 8192, 0)['fits'] is True
    assert sizing.memory_budget({'redis': 224}, '1024')['summary'] == 'redis 224 MB'


def test_memory_budget_without_claims_fits():
    for claims in ({}, None):
        b = sizing.memory_budget(claims, 512, 256)
        assert (b['total_mb'], b['fits'], b['claims']) == (0, True, {})


@pytest.mark.parametrize('args, word', [
    (({'redis': 'lots'}, 1024), 'claim redis'),
    (({'redis': -1}, 1024), 'claim redis must not be negative'),
    (({}, 0), 'ram_mb must be positive'),
    (({}, 'x'), 'ram_mb'),
    (({}, 1024, -5), 'reserve_mb must not be negative'),
    (({}, 1024, True), 'reserve_mb'),
    ((['redis'], 1024), 'claims must be a dict'),
])
def test_memory_budget_refuses_bad_input(args, word):
    with pytest.raises(AnsibleFilterError, match=word):
        sizing.memory_budget(*args)
