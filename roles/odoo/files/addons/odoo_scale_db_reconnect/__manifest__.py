# Part of odoo-scale (https://example.invalid/odoo-scale), LGPL-3.
{
    "name": "odoo-scale: ride out a PgBouncer restart",
    "summary": "Waits for the database endpoint to come back and replays a transaction's first statement on a fresh connection",
    "version": "1.0.0",
    "category": "Hidden/Tools",
    "license": "LGPL-3",
    "author": "odoo-scale",
    "depends": ["base"],
    "data": [],
    "installable": True,
    "auto_install": False,
    "post_load": "_post_load",
}
