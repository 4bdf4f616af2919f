"""Redis for Odoo sessions, verified from the controller over the network:
authentication, the Odoo ACL user, memory and eviction, persistence across a
restart, and the service's user and limits."""

from __future__ import annotations

import time
import uuid

import pytest

from conftest import RedisError, wait_port


def test_unauthenticated_commands_are_refused(resp):
    conn = resp()
    with pytest.raises(RedisError, match='^NOAUTH'):
        conn('GET', 'session:anything')
    with pytest.raises(RedisError, match='^NOAUTH'):
        conn('CONFIG', 'GET', 'maxmemory')


def test_wrong_passwords_are_refused(resp, settings):
    user = settings.get('redis_odoo_user', 'odoo')
    with pytest.raises(RedisError, match='^WRONGPASS'):
        resp(user, 'not-the-password-at-all')
    with pytest.raises(RedisError, match='^WRONGPASS'):
        resp(None, 'not-the-admin-password')
    # The Odoo password is not the admin password.
    with pytest.raises(RedisError, match='^WRONGPASS'):
        resp('default', settings['redis_odoo_password'])


def test_odoo_user_stores_a_session_with_ttl(resp, settings):
    conn = resp(settings.get('redis_odoo_user', 'odoo'), settings['redis_odoo_password'])
    key = 'session:verify-%s' % uuid.uuid4().hex
    assert conn('SET', key, '{"uid": 2, "login": "admin"}', 'EX', 600) == 'OK'
    assert conn('GET', key) == '{"uid": 2, "login": "admin"}'
    assert 0 < conn('TTL', key) <= 600
    assert conn('EXPIRE', key, 1200) == 1
    assert 600 < conn('TTL', key) <= 1200
    assert conn('DEL', key) == 1


def test_odoo_user_is_limited_to_session_keys_and_safe_commands(resp, settings):
    conn = resp(settings.get('redis_odoo_user', 'odoo'), settings['redis_odoo_password'])
    with pytest.raises(RedisError, match='^NOPERM'):
        conn('SET', 'other:key', 'x')
    for command in (('CONFIG', 'GET', 'maxmemory'), ('FLUSHALL',), ('KEYS', '*'), ('ACL', 'LIST'),
                    ('SHUTDOWN',)):
        with pytest.raises(RedisError, match='^NOPERM'):
            conn(*command)
    # DEBUG is switched off for everyone (enable-debug-command no).
    with pytest.raises(RedisError, match='^(NOPERM|ERR DEBUG command not allowed)'):
        conn('DEBUG', 'SLEEP', '0')


def test_memory_eviction_and_persistence_settings(resp, settings):
    admin = resp('default', settings['redis_admin_password'])

    def config(name):
        return admin('CONFIG', 'GET', name)[1]
    assert int(config('maxmemory')) == int(settings['redis_memory_mb']) * 1024 * 1024
    assert config('maxmemory-policy') == 'noeviction'
    assert config('appendonly') == 'yes'
    assert config('appendfsync') == 'everysec'
    assert config('protected-mode') == 'yes'


def test_bound_to_internal_address_and_loopback_only(resp, redis_node, settings):
    admin = resp('default', settings['redis_admin_password'])
    bind = admin('CONFIG', 'GET', 'bind')[1].split()
    assert sorted(bind) == sorted([redis_node.address, '127.0.0.1'])


def test_a_session_survives_a_restart(resp, redis_node, settings):
    user, password = settings.get('redis_odoo_user', 'odoo'), settings['redis_odoo_password']
    key = 'session:restart-%s' % uuid.uuid4().hex
    conn = resp(user, password)
    assert conn('SET', key, 'kept', 'EX', 3600) == 'OK'
    conn.close()
    redis_node.host.check_output('systemctl restart redis-server')
    wait_port(redis_node.address, 6379)
    deadline = time.time() + 300          # a hang guard: the AOF replays in seconds
    while True:
        try:
            conn = resp(user, password)
            value = conn('GET', key)
            break
        except (RedisError, ConnectionError, OSError) as exc:  # LOADING while the AOF replays
            if time.time() > deadline:
                raise AssertionError('redis did not come back: %s' % exc)
            time.sleep(0.5)
    assert value == 'kept'
    assert conn('TTL', key) > 3000
    conn('DEL', key)


def test_runs_as_redis_with_memory_limits(redis_node, settings):
    assert redis_node.unit_user('redis-server') == 'redis'
    memory_max = int(redis_node.unit_property('redis-server', 'MemoryMax'))
    memory_high = int(redis_node.unit_property('redis-server', 'MemoryHigh'))
    maxmemory = int(settings['redis_memory_mb']) * 1024 * 1024
    assert memory_max == int(settings['redis_memory_max_mb']) * 1024 * 1024
    assert maxmemory < memory_high <= memory_max
    assert int(redis_node.unit_property('redis-server', 'LimitNOFILE')) >= 10032


def test_config_file_is_private_and_holds_no_plaintext_secret(redis_node, settings):
    conf = redis_node.host.file('/etc/redis/redis.conf')
    assert conf.user == 'redis'
    assert conf.mode & 0o027 == 0, oct(conf.mode)
    content = conf.content_string
    assert settings['redis_odoo_password'] not in content
    assert settings['redis_admin_password'] not in content
