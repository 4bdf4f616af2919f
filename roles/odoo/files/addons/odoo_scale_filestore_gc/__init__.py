# Part of odoo-scale, LGPL-3.
"""The attachment bucket, recoverable to the database's point in time.

Odoo's files are named by their content and never modified; the only way a
database restored to a time T can miss one of its files is that the file was
deleted from the bucket after T. OCA fs_attachment deletes an object as soon
as its autovacuum finds it unreferenced (daily). This module:

- marks a file for collection with the time it was *last* let go
  (``fs_file_gc.write_date``; fs_attachment keeps the first time only, so a
  file uploaded again and dropped again would look old);
- collects, for the storages named in odoo.conf's
  ``odoo_scale_gc_storages`` (comma-separated codes; odoo-scale's
  ``odoo_scale_setup.py`` turns fs_attachment's own collector off for them),
  only files let go more than ``odoo_scale_gc_grace_days`` ago and still
  referenced by no attachment.

With the grace at least the backup window (the oldest point a restore can
reach), every database a restore can bring back finds all its files. Without
either option nothing is collected (nothing is ever lost; the bucket grows).
"""
from . import models  # noqa: F401
