# Part of odoo-scale, LGPL-3.
import logging

from odoo import api, models
from odoo.tools import config

_logger = logging.getLogger(__name__)
# Files removed per request (S3 DeleteObjects takes at most 1000 keys).
_BATCH = 1000


def _configured():
    """(storage codes, grace in seconds) from odoo.conf, or None."""
    codes = tuple(sorted({c.strip() for c in str(config.get("odoo_scale_gc_storages") or "").split(",") if c.strip()}))
    try:
        grace_days = float(config.get("odoo_scale_gc_grace_days"))
    except (TypeError, ValueError):
        return None
    if not codes or grace_days < 0:
        return None
    return codes, grace_days * 86400


class FsFileGc(models.Model):
    _inherit = "fs.file.gc"

    @api.model
    def _mark_for_gc(self, store_fname):
        """As fs_attachment (a separate transaction, kept even if the caller
        rolls back), but a file marked again gets the new time."""
        with self._in_new_cursor() as cr:
            cr.execute(
                """
                INSERT INTO fs_file_gc (store_fname, fs_storage_code, create_date, write_date, create_uid, write_uid)
                VALUES (%s, %s, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', %s, %s)
                ON CONFLICT (store_fname) DO UPDATE
                    SET write_date = EXCLUDED.write_date, write_uid = EXCLUDED.write_uid
                """,
                (store_fname, store_fname.partition("://")[0], self.env.uid, self.env.uid),
            )

    @api.autovacuum
    def _odoo_scale_gc_files(self):
        settings = _configured()
        if settings is None:
            _logger.info("odoo-scale GC: odoo_scale_gc_storages / odoo_scale_gc_grace_days not set, nothing collected")
            return
        codes, grace = settings
        cr = self._cr
        # As fs_attachment's collector: a fresh transaction whose first
        # statements take the locks, so it sees every attachment committed.
        cr.commit()  # on purpose, as fs_attachment does (pylint-odoo: invalid-commit)
        cr.execute("SET LOCAL lock_timeout TO '10s'")
        cr.execute("LOCK fs_file_gc IN SHARE MODE")
        cr.execute("LOCK ir_attachment IN SHARE MODE")
        # Referenced again since it was marked: forget the mark (dropping the
        # file again marks it anew, with that time).
        cr.execute(
            """
            DELETE FROM fs_file_gc g
            WHERE g.fs_storage_code IN %s
              AND EXISTS (SELECT 1 FROM ir_attachment a WHERE a.store_fname = g.store_fname)
            """,
            (codes,),
        )
        cr.execute(
            """
            SELECT fs_storage_code, store_fname FROM fs_file_gc g
            WHERE g.fs_storage_code IN %s
              AND g.write_date < (now() AT TIME ZONE 'UTC') - make_interval(secs => %s)
              AND NOT EXISTS (SELECT 1 FROM ir_attachment a WHERE a.store_fname = g.store_fname)
            ORDER BY g.fs_storage_code, g.store_fname
            """,
            (codes, grace),
        )
        removed, kept = [], 0
        rows = cr.fetchall()
        for code in sorted({code for code, _name in rows}):
            fs = self.env["fs.storage"].get_fs_by_code(code)
            names = [name for c, name in rows if c == code]
            # A batch is one request (S3 DeleteObjects), so the locks above
            # are held for a request per thousand files, not one per file; a
            # batch that fails (a file already gone makes fsspec refuse the
            # whole list) is retried file by file.
            for start in range(0, len(names), _BATCH):
                batch = names[start:start + _BATCH]
                try:
                    fs.rm([name.partition("://")[2] for name in batch])
                    removed.extend(batch)
                    continue
                except Exception:  # noqa: BLE001 - retried one by one below
                    pass
                for store_fname in batch:
                    try:
                        fs.rm(store_fname.partition("://")[2])
                    except FileNotFoundError:
                        pass
                    except Exception:  # the mark stays: the next run tries again
                        _logger.warning("odoo-scale GC: could not remove %s, kept for the next run", store_fname,
                                        exc_info=True)
                        kept += 1
                        continue
                    removed.append(store_fname)
        if removed:
            cr.execute("DELETE FROM fs_file_gc WHERE store_fname = ANY(%s)", (removed,))
        cr.commit()  # on purpose, as fs_attachment does (pylint-odoo: invalid-commit)
        _logger.info("odoo-scale GC: removed %d files let go more than %.1f days ago (%d kept after an error)",
                     len(removed), grace / 86400, kept)
