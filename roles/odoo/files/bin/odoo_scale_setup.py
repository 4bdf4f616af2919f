# Run through `odoo shell` (stdin) on the cron node, after the modules are
# installed: sets the admin user's password from the vault (Odoo creates it
# as 'admin') and makes the bucket Odoo's default attachment storage. Keys
# and endpoint stay in the environment (fs_storage's eval_options_from_env);
# the record only names the variables. Prints one ODOO_SCALE_RESULT line.
# pylint: disable=undefined-variable  # `odoo shell` provides env
import json
import os

from odoo.exceptions import AccessDenied

changed = []
admin = env.ref("base.user_admin")  # noqa: F821 (odoo shell provides env)
admin_password = os.environ.pop("ODOO_SCALE_ADMIN_PASSWORD")
try:
    admin.with_user(admin)._check_credentials(admin_password, {"interactive": False})
except AccessDenied:
    admin.sudo().password = admin_password
    changed.append("admin password")

spec = json.loads(os.environ["ODOO_SCALE_FS_SPEC"])
options = json.dumps({
    "endpoint_url": "$ODOO_SCALE_S3_ENDPOINT",
    "key": "$ODOO_SCALE_S3_KEY",
    "secret": "$ODOO_SCALE_S3_SECRET",
    "client_kwargs": {"region_name": "$ODOO_SCALE_S3_REGION"},
}, indent=2, sort_keys=True)
vals = {
    "name": spec["name"],
    "code": spec["code"],
    "protocol": "s3",
    "directory_path": spec["bucket"],
    "options": options,
    "eval_options_from_env": True,
    "use_as_default_for_attachments": True,
    # odoo_scale_filestore_gc collects this storage's files, after the
    # backup window; fs_attachment's collector would delete them at once.
    "autovacuum_gc": False,
    "force_db_for_default_attachment_rules": json.dumps(spec["force_db_rules"], sort_keys=True),
}
Storage = env["fs.storage"].sudo()  # noqa: F821
record = Storage.search([("code", "=", spec["code"])], limit=1)
if not record:
    record = Storage.create(vals)
    changed += sorted(vals)
    created = True
else:
    created = False
    diff = {k: v for k, v in vals.items() if record[k] != v}
    if diff:
        record.write(diff)
        changed += sorted(diff)
if created:
    # Attachments written before the bucket was the default (module data
    # at install time) move there or to the database, per the rules.
    env["ir.attachment"].sudo().force_storage()  # noqa: F821
env.cr.commit()  # noqa: F821
print("ODOO_SCALE_RESULT " + json.dumps({"changed": changed, "storage_id": record.id}))
