# Part of odoo-scale, LGPL-3.
import json
import logging
import time

import redis
from werkzeug.exceptions import ServiceUnavailable

from odoo import http
from odoo.service import security
from odoo.tools._vendor import sessions

_logger = logging.getLogger(__name__)

# What a Redis that restarts, loads its dataset or drops connections raises:
# redis-py's ConnectionError (BusyLoadingError is one) and TimeoutError, and
# the OSError (ConnectionRefusedError) redis-py 5 lets through when it opens
# a new connection, outside its own retry.
_TRANSIENT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class RedisSessionStore(sessions.SessionStore):
    """Odoo's session store API (new / get / save / delete / rotate /
    vacuum) on Redis. Every key starts with ``prefix`` so a Redis ACL user
    limited to that pattern is enough. Expiry is Redis' TTL, renewed on
    every read (GETEX), so vacuum has nothing to do."""

    def __init__(self, client, prefix="session:", ttl=http.SESSION_LIFETIME, session_class=None, wait=10.0):
        super().__init__(session_class=session_class)
        self.redis = client
        self.prefix = prefix
        self.ttl = int(ttl)
        self.wait = float(wait)

    def _key(self, sid):
        return self.prefix + sid

    def _call(self, command, *args, **kwargs):
        """One Redis command; while Redis does not answer (a restart, a
        failover), tries again with a growing pause for up to `wait`
        seconds, so the request waits instead of failing. Past that, a 503
        with Retry-After and one log line, never a 500 with a traceback."""
        deadline = time.monotonic() + self.wait
        pause = 0.05
        while True:
            try:
                return getattr(self.redis, command)(*args, **kwargs)
            except _TRANSIENT as exc:
                left = deadline - time.monotonic()
                if left <= 0:
                    _logger.warning("odoo_scale_session_redis: Redis did not answer %s within %ss: %s",
                                    command.upper(), self.wait, exc)
                    raise ServiceUnavailable("The session store is not answering; try again in a few seconds.",
                                             retry_after=5) from None
                time.sleep(min(pause, left))
                pause = min(pause * 2, 1.0)

    def save(self, session):
        self._call("set", self._key(session.sid), json.dumps(dict(session)), ex=self.ttl)

    def delete(self, session):
        self._call("delete", self._key(session.sid))

    def get(self, sid):
        if not self.is_valid_key(sid):
            return self.new()
        raw = self._call("getex", self._key(sid), ex=self.ttl)
        if raw is None:
            # Odoo's own store runs with renew_missing=True: a fresh sid.
            return self.new()
        try:
            data = json.loads(raw)
        except ValueError:
            _logger.warning("odoo_scale_session_redis: unreadable session %s..., starting a new one", sid[:8])
            return self.new()
        return self.session_class(data, sid, False)

    def rotate(self, session, env):
        self.delete(session)
        session.sid = self.generate_key()
        if session.uid and env:
            session.session_token = security.compute_session_token(session, env)
        session.should_rotate = False
        self.save(session)

    def vacuum(self, max_lifetime=None):
        """Redis expires sessions itself."""

    # Odoo 18 (res.device): log out sessions by identifier prefix.
    def delete_from_identifiers(self, identifiers):
        for identifier in identifiers:
            for key in self.redis.scan_iter(match=self._key(identifier) + "*", count=500):
                self.redis.delete(key)

    def get_missing_session_identifiers(self, identifiers):
        return {i for i in identifiers if not any(self.redis.scan_iter(match=self._key(i) + "*", count=500))}
