"""Routes the molecule tests use to see which process served a request and
to push a worker past limit_memory_soft."""
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
