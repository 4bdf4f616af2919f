# Part of odoo-scale (https://example.invalid/odoo-scale), LGPL-3.
{
    "name": "odoo-scale: repeated statements per request",
    "summary": "Logs a request that runs one statement shape many times (N+1 suspects)",
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
