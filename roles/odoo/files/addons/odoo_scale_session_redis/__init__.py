# Part of odoo-scale, LGPL-3.
"""Server-wide module: HTTP sessions in Redis instead of data_dir/sessions.

Loaded through ``server_wide_modules`` (odoo.conf); reads its settings from
odoo.conf:

    session_redis_host, session_redis_port, session_redis_user,
    session_redis_password, session_redis_db (0), session_redis_prefix
    ("session:"), session_redis_ttl (seconds, Odoo's SESSION_LIFETIME),
    session_redis_wait (seconds a request waits for a Redis that does not
    answer before a 503; 10)

Without session_redis_host it logs a warning and leaves Odoo's filesystem
store in place.
"""
import logging

from odoo import http
from odoo.tools import config

from .store import RedisSessionStore

_logger = logging.getLogger(__name__)


def _post_load():
    host = config.get("session_redis_host")
    if not host:
        _logger.warning("odoo_scale_session_redis: session_redis_host is not set; sessions stay on the filesystem")
        return
    import redis

    # No retry inside redis-py: the store's own bounded wait (store._call)
    # covers every way a restarting Redis fails, connecting included.
    client = redis.Redis(
        host=host,
        port=int(config.get("session_redis_port") or 6379),
        username=config.get("session_redis_user") or None,
        password=config.get("session_redis_password") or None,
        db=int(config.get("session_redis_db") or 0),
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
    )
    store = RedisSessionStore(
        client,
        prefix=config.get("session_redis_prefix") or "session:",
        ttl=int(config.get("session_redis_ttl") or http.SESSION_LIFETIME),
        session_class=http.Session,
        wait=float(config.get("session_redis_wait") or 10),
    )
    # A data descriptor on the class wins over Odoo's lazy_property, even
    # if something read root.session_store before this module loaded.
    http.Application.session_store = property(lambda self: store)
    _logger.info("odoo_scale_session_redis: HTTP sessions in Redis at %s:%s (prefix %r, ttl %ss)",
                 host, config.get("session_redis_port") or 6379, store.prefix, store.ttl)
