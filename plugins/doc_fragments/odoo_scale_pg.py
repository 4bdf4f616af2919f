# -*- coding: utf-8 -*-
# Connection options shared by odoo-scale's PostgreSQL modules; the argument
# spec they describe is pg_connection_argument_spec() in
# plugins/module_utils/odoo_scale_pg.py.


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  login_host:
    description: Database host; empty uses the unix socket.
    type: str
    default: ''
  login_port:
    description: Database port.
    type: int
    default: 5432
  login_user:
    description: Database user.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user), when the server asks for one.
    type: str
    default: ''
  login_unix_socket:
    description: Directory of the unix socket.
    type: str
    default: ''
  login_db:
    description: Database to work in.
    type: str
    default: postgres
    aliases: [db]
  connect_timeout:
    description: Connection timeout in seconds.
    type: int
    default: 10
notes:
  - The session pins C(standard_conforming_strings = on) and client encoding UTF8, whatever the
    server, database or role defaults are, so the literals the module writes read back exactly.
requirements:
  - psycopg2 on the target host
'''
