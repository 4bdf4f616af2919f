"""Routes the molecule tests use to see which process served a request, to
push a worker past limit_memory_soft, and to send another user a bus
notification (the browser check's cross-node message)."""
import os
import socket

from odoo import http
from odoo.tools import config

_HELD = []
# Which build this is; the rollout tests ship copies with another mark.
RELEASE_MARK = "base"


def _vms():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _answer(**extra):
    return http.request.make_json_response(dict(host=socket.gethostname(), pid=os.getpid(), vms=_vms(),
                                                mark=RELEASE_MARK, **extra))


class Probe(http.Controller):

    @http.route("/odoo_scale_probe/whoami", type="http", auth="none", methods=["GET"], save_session=False)
    def whoami(self):
        return _answer()

    @http.route("/odoo_scale_probe/exceed_soft", type="http", auth="none", methods=["GET"], save_session=False)
    def exceed_soft(self):
        """Keeps enough memory allocated (and touched) in this worker to put
        its virtual size 32 MB past limit_memory_soft, below the hard limit."""
        need = int(config["limit_memory_soft"]) - _vms() + 32 * 1024 * 1024
        if need > 0:
            _HELD.append(bytearray(need))
            for i in range(0, need, 4096):
                _HELD[-1][i] = 1
        return _answer(soft=int(config["limit_memory_soft"]))

    @http.route("/odoo_scale_probe/notify", type="json", auth="user", methods=["POST"])
    def notify(self, login, message):
        """Sends the user `login` a simple_notification on the bus, as
        posting in a chat does: a bus.bus row and a NOTIFY at commit, which
        every web node's bus listener hears; the web client shows it."""
        user = http.request.env["res.users"].sudo().search([("login", "=", login)], limit=1)
        if not user:
            raise ValueError("no user %r" % login)
        http.request.env["bus.bus"]._sendone(user.partner_id, "simple_notification",
                                             {"title": "odoo-scale", "message": message, "sticky": True, "type": "info"})
        return dict(host=socket.gethostname(), pid=os.getpid())
