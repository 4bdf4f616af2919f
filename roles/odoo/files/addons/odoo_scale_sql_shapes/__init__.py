# Part of odoo-scale, LGPL-3.
"""Server-wide module: flags the requests that run one SQL statement shape
many times (the "N+1" pattern: one query per record in a loop).

pg_stat_statements knows how often a statement ran, not in which request;
Odoo's log knows how many queries a request made, not which. This module
counts, per HTTP request, the calls of each statement as Odoo wrote it (the
SQL text with its %s placeholders: the shape, never the values) and, when
one shape ran at least ``sql_shape_warn_count`` times (odoo.conf; 25; 0
turns it off), logs one line when the request ends:

    WARNING ... odoo.addons.odoo_scale_sql_shapes: N+1 suspect: 300 calls
    of one statement in POST /web/dataset/call_kw/res.partner/read (312
    queries): SELECT "res_partner"."name" FROM "res_partner" WHERE id = %s

The odoo exporter counts these lines (odoo_sql_repeated_statement_requests_total)
and playbooks/health_report.yml lists them beside pg_stat_statements.

Cost: one dict update per query, in the worker that runs it; nothing is
kept once the request ends.
"""
import logging
import threading

from odoo import http, sql_db
from odoo.tools import config

_logger = logging.getLogger(__name__)
_SHAPE_CHARS = 400


def _shape(query):
    code = getattr(query, "code", query)   # odoo.tools.SQL objects carry their text in .code
    if isinstance(code, bytes):
        code = code.decode("utf-8", "replace")
    if not isinstance(code, str):
        code = str(code)
    return " ".join(code.split())[:_SHAPE_CHARS]


def _post_load():
    try:
        threshold = int(config.get("sql_shape_warn_count") or 25)
    except ValueError:
        _logger.warning("odoo_scale_sql_shapes: sql_shape_warn_count is not a number; using 25")
        threshold = 25
    if threshold <= 0:
        return
    if getattr(sql_db.Cursor.execute, "_odoo_scale_shapes", False):
        return   # loaded twice (a worker re-importing): patch once

    execute = sql_db.Cursor.execute

    def counting_execute(self, query, params=None, log_exceptions=True):
        shapes = getattr(threading.current_thread(), "odoo_scale_shapes", None)
        if shapes is not None:
            key = _shape(query)
            shapes[key] = shapes.get(key, 0) + 1
        return execute(self, query, params, log_exceptions)

    counting_execute._odoo_scale_shapes = True
    sql_db.Cursor.execute = counting_execute

    call = http.Application.__call__

    def counted_call(self, environ, start_response):
        thread = threading.current_thread()
        thread.odoo_scale_shapes = {}
        try:
            return call(self, environ, start_response)
        finally:
            shapes = thread.odoo_scale_shapes
            thread.odoo_scale_shapes = None
            if shapes:
                shape, calls = max(shapes.items(), key=lambda item: item[1])
                if calls >= threshold:
                    _logger.warning("N+1 suspect: %d calls of one statement in %s %s (%d queries): %s",
                                    calls, environ.get("REQUEST_METHOD", "?"), environ.get("PATH_INFO", "?"),
                                    sum(shapes.values()), shape)

    http.Application.__call__ = counted_call
