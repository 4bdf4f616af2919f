# Part of odoo-scale, LGPL-3.
"""Server-wide module: a PgBouncer restart (a package upgrade, a unit
setting) fails no request.

What goes wrong without it (measured, three `systemctl restart pgbouncer`
under five clients): every pooled connection of every Odoo worker is dead
after the restart and Odoo hands them out anyway (psycopg2's reset() sends
nothing to the server when no transaction is open), so the next request on
each fails with "server closed the connection unexpectedly"; and a request
that opens a connection in the fraction of a second the new process is not
listening yet fails with "connection refused".

Two patches, both bounded and both safe to replay:

* ``ConnectionPool.borrow``: a new connection that fails to open (refused,
  reset, PgBouncer not serving yet) is tried again every 0.2 s for up to
  ``db_reconnect_wait`` seconds (odoo.conf; 10; 0 turns the module off).
  A refused login (wrong password, unknown database or role) is not retried.
  Nothing was sent on such a connection, so trying again changes nothing.
* ``Cursor.execute``: when the statement that *opens* a transaction fails
  because the connection is gone (closed by the server or the pooler), the
  cursor drops that connection, borrows a fresh one (with the wait above)
  and runs the statement again, once. Only then: the connection had no
  transaction open and is not in autocommit, so nothing of this
  transaction was committed — the server rolls back what a dead session
  had begun. A connection lost in the middle of a transaction is never
  replayed: that error reaches the caller as before.

PgBouncer's own stop (roles/pgbouncer: ExecStop pauses the transaction-mode
pools first, so statements already running finish) makes sure the only
statements cut are ones waiting to start a transaction — the ones this
module replays.
"""
import logging
import time

import psycopg2
from psycopg2.extensions import ISOLATION_LEVEL_REPEATABLE_READ, TRANSACTION_STATUS_IDLE

from odoo import sql_db, tools
from odoo.tools import config

_logger = logging.getLogger(__name__)

# A login the server refused: trying again cannot help.
_REFUSED = ("authentication failed", "does not exist", "no such user", "not allowed", "no pg_hba.conf entry")


def _wait_seconds():
    try:
        return float(config.get("db_reconnect_wait") or 10)
    except ValueError:
        _logger.warning("odoo_scale_db_reconnect: db_reconnect_wait is not a number; using 10")
        return 10.0


def _connection_lost(cnx):
    return bool(getattr(cnx, "closed", 1))


def _post_load():
    wait = _wait_seconds()
    if wait <= 0:
        return
    if getattr(sql_db.ConnectionPool.borrow, "_odoo_scale_reconnect", False):
        return   # loaded twice: patch once

    borrow = sql_db.ConnectionPool.borrow

    def waiting_borrow(self, connection_info):
        deadline = None
        while True:
            try:
                return borrow(self, connection_info)
            except psycopg2.OperationalError as exc:
                text = str(exc)
                if any(marker in text for marker in _REFUSED):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + wait
                    _logger.warning("odoo_scale_db_reconnect: the database endpoint refused a connection "
                                    "(%s); trying again for up to %gs", text.strip().splitlines()[0], wait)
                if now >= deadline:
                    _logger.error("odoo_scale_db_reconnect: no database connection within %gs", wait)
                    raise
                time.sleep(0.2)

    waiting_borrow._odoo_scale_reconnect = True
    sql_db.ConnectionPool.borrow = waiting_borrow

    init = sql_db.Cursor.__init__

    def remembering_init(self, pool, dbname, dsn):
        self._odoo_scale_dsn = dsn
        init(self, pool, dbname, dsn)

    sql_db.Cursor.__init__ = remembering_init

    execute = sql_db.Cursor.execute

    def replaying_execute(self, query, params=None, log_exceptions=True):
        cnx = self._cnx
        try:
            opens = (not cnx.autocommit and not cnx.closed
                     and cnx.info.transaction_status == TRANSACTION_STATUS_IDLE)
        except psycopg2.Error:
            opens = False
        if not opens:
            return execute(self, query, params, log_exceptions)
        try:
            return execute(self, query, params, False)
        except Exception as exc:
            if not (isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)) and _connection_lost(cnx)):
                if log_exceptions:   # what Cursor.execute logs, which the first try was told not to
                    _logger.error("bad query: %s\nERROR: %s", tools.ustr(self._obj.query or query), exc)
                raise
            _logger.warning("odoo_scale_db_reconnect: connection lost before the transaction began (%s); "
                            "running the statement again on a new connection", str(exc).strip().splitlines()[0])
            pool = self._Cursor__pool
            try:
                self._obj.close()
            except psycopg2.Error:
                pass
            try:
                pool.give_back(cnx, keep_in_pool=False)
            except sql_db.PoolError:
                pass
            self._cnx = pool.borrow(self._odoo_scale_dsn)
            self._obj = self._cnx.cursor()
            self._cnx.set_isolation_level(ISOLATION_LEVEL_REPEATABLE_READ)
        return execute(self, query, params, log_exceptions)

    replaying_execute._odoo_scale_reconnect = True
    sql_db.Cursor.execute = replaying_execute
    _logger.info("odoo_scale_db_reconnect: waits up to %gs for the database endpoint", wait)
