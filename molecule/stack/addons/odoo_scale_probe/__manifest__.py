# Test-only addon of odoo-scale's molecule scenario; never shipped.
{
    "name": "odoo-scale test probe",
    "version": "1.0.0",
    "license": "LGPL-3",
    "depends": ["web", "bus"],
    "data": [],
    "installable": True,
}
