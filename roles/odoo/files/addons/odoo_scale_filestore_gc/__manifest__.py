# Part of odoo-scale (https://example.invalid/odoo-scale), LGPL-3.
{
    "name": "odoo-scale: attachments kept for the backup window",
    "summary": "Deletes an attachment's object from the bucket only once no restorable point can still need it",
    "version": "1.0.0",
    "category": "Hidden/Tools",
    "license": "LGPL-3",
    "author": "odoo-scale",
    "depends": ["fs_attachment"],
    "data": [],
    "installable": True,
    "auto_install": False,
}
