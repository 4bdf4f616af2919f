# Part of odoo-scale (https://example.invalid/odoo-scale), LGPL-3.
{
    "name": "odoo-scale: HTTP sessions in Redis",
    "summary": "Keeps Odoo's HTTP sessions in Redis so every web node shares them",
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
