"""Database maintenance on the stack: the partition catalog and its host
timer, and the index catalog applied to Odoo tables by playbooks/db_maintenance.yml."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared'))
from stack_helpers import recap_changed, run_playbook  # noqa: E402

PARENT = 'odoo_scale_iot_reading'


def test_the_catalog_table_is_partitioned_with_months_ahead(primary):
    assert primary.psql("SELECT relkind FROM pg_class WHERE relname = '%s'" % PARENT, db='odoo') == 'p'
    parts = primary.psql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = '%s'::regclass ORDER BY 1" % PARENT, db='odoo').split()
    assert PARENT + '_default' in parts
    # premake 3 months ahead plus the current month, at least.
    assert len([p for p in parts if not p.endswith('_default')]) >= 4
    ahead = primary.psql(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = '%s'::regclass "
        "AND pg_get_expr(c.relpartbound, c.oid) "
        "LIKE 'FOR VALUES FROM (''' || to_char(now() + interval '3 months', 'YYYY-MM') || '-01%%'"
        % PARENT, db='odoo')
    assert ahead == '1', 'no partition for the month three months ahead'


def test_rows_land_in_their_month_partition(primary):
    primary.psql("INSERT INTO %s (device, reading, recorded_at) VALUES ('probe', 1, now())" % PARENT, db='odoo')
    where = primary.psql("SELECT tableoid::regclass FROM %s WHERE device = 'probe' LIMIT 1" % PARENT, db='odoo')
    assert where.startswith(PARENT + '_p')


def test_the_partition_timer_runs_under_systemd(primary):
    host = primary.host
    assert host.check_output('systemctl is-enabled odoo-scale-partitions.timer') == 'enabled'
    assert host.check_output('systemctl is-active odoo-scale-partitions.timer') == 'active'
    run = host.run('systemctl start odoo-scale-partitions.service')
    assert run.rc == 0, run.stderr
    assert host.check_output('systemctl show -p Result --value odoo-scale-partitions.service') == 'success'
    log = host.check_output('journalctl -u odoo-scale-partitions.service --no-pager -o cat')
    assert PARENT in log


def test_the_index_catalog_lands_on_odoo_tables_and_skips_absent_ones(primary):
    # The columns these Odoo tables really have; account_move_line,
    # stock_move and mail_message stay absent, as when their modules are not installed.
    primary.psql(
        'CREATE TABLE IF NOT EXISTS sale_order_line (id serial PRIMARY KEY, order_id int NOT NULL, '
        'product_id int, create_date timestamp); '
        'CREATE TABLE IF NOT EXISTS res_partner (id serial PRIMARY KEY, name varchar, email varchar); '
        'CREATE TABLE IF NOT EXISTS stock_quant (id serial PRIMARY KEY, product_id int, location_id int, '
        'quantity numeric); '
        'INSERT INTO res_partner (name, email) SELECT \'p\' || g, \'P\' || g || \'@x.org\' '
        'FROM generate_series(1, 1000) g', db='odoo')
    first = run_playbook('db_maintenance.yml')
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert recap_changed(first.stdout, primary.name) > 0
    rows = primary.psql(
        "SELECT c.relname || ':' || i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname LIKE 'odoo_scale_%' AND c.relname NOT LIKE 'odoo_scale_iot_reading%' "
        "ORDER BY 1", db='odoo').split()
    assert rows == [
        'odoo_scale_partner_lower_email:true', 'odoo_scale_partner_name_trgm:true',
        'odoo_scale_quant_product_location_positive:true',
        'odoo_scale_sol_create_date_product:true', 'odoo_scale_sol_order_id:true',
    ]
    # The planner uses the expression index for Odoo's e-mail lookup.
    plan = primary.psql("SET enable_seqscan = off; EXPLAIN SELECT id FROM res_partner "
                        "WHERE lower(email) = lower('P7@x.org')", db='odoo')
    assert 'odoo_scale_partner_lower_email' in plan
    second = run_playbook('db_maintenance.yml')
    assert second.returncode == 0
    assert recap_changed(second.stdout, primary.name) == 0, second.stdout[-3000:]
