"""Attachments kept for the backup window, with real Odoo: an attachment's
object leaves the bucket only once it has been unreferenced for longer than
odoo_attachment_gc_grace_days (module odoo_scale_filestore_gc), counted from
its last drop, so every point a restore can reach finds its files
(test_backup.py restores to a time T and reads them back)."""

from __future__ import annotations

import base64
import os
import re

import pytest


class Attachment:
    def __init__(self, admin, label):
        # 180 kB of unique bytes: above every keep-in-the-database rule.
        self.payload = (('%s %s\n' % (label, os.urandom(8).hex())).encode()) * 6000
        self.id = admin.kw('ir.attachment', 'create', {'name': '%s.bin' % label, 'raw': None,
                                                       'datas': base64.b64encode(self.payload).decode(),
                                                       'mimetype': 'application/octet-stream'})
        self.store_fname = admin.kw('ir.attachment', 'read', [self.id], ['store_fname'])[0]['store_fname']
        assert self.store_fname.startswith('odoo_scale_attachments://'), self.store_fname
        self.key = self.store_fname.partition('://')[2]


@pytest.fixture(scope='module')
def bucket(s3, settings):
    client = s3(settings['objectstore_odoo_access_key'], settings['objectstore_odoo_secret_key'])
    name = settings.get('objectstore_bucket', 'odoo-filestore')

    def _holds(att):
        try:
            return client.get_object(Bucket=name, Key=att.key)['Body'].read() == att.payload
        except client.exceptions.NoSuchKey:
            return False
    _holds.delete = lambda att: client.delete_object(Bucket=name, Key=att.key)
    return _holds


@pytest.fixture(scope='module')
def grace_days(nodes):
    """What the web nodes' odoo.conf says (the role wrote it from the inventory)."""
    from conftest import WEB
    conf = nodes[WEB[0]].host.file('/etc/odoo/odoo.conf').content_string
    return float(re.search(r'^odoo_scale_gc_grace_days = (\S+)$', conf, re.M).group(1))


def collect(admin):
    """Odoo's daily autovacuum job, now (as its cron would run it)."""
    job = admin.kw('ir.model.data', 'search_read', [['module', '=', 'base'], ['name', '=', 'autovacuum_job']],
                   ['res_id'])[0]['res_id']
    admin.call('/web/dataset/call_kw/ir.cron/method_direct_trigger',
               {'model': 'ir.cron', 'method': 'method_direct_trigger', 'args': [[job]], 'kwargs': {}}, timeout=600)


def _backdate(primary, db, att, days):
    primary.psql("UPDATE fs_file_gc SET write_date = write_date - make_interval(days => %d) "
                 "WHERE store_fname = '%s'" % (days, att.store_fname), db=db)


def test_a_dropped_attachment_leaves_the_bucket_only_after_the_backup_window(admin, primary, settings, bucket,
                                                                             grace_days):
    db = settings.get('odoo_database', 'odoo')
    past = int(grace_days) + 1
    kept = Attachment(admin, 'gc-kept')
    young = Attachment(admin, 'gc-dropped-now')
    old = Attachment(admin, 'gc-dropped-long-ago')
    # Its object already gone from the bucket (removed by hand, or by a run
    # that died before forgetting its mark): the collector removes files a
    # thousand per request and must not stop at one that is missing.
    gone = Attachment(admin, 'gc-dropped-long-ago-object-gone')
    # Written long ago (Odoo marks a file when it writes it, in case the
    # transaction rolls back), dropped now: the drop is what counts.
    written_long_ago = Attachment(admin, 'gc-written-long-ago-dropped-now')
    _backdate(primary, db, written_long_ago, past)
    admin.kw('ir.attachment', 'unlink', [young.id, old.id, gone.id, written_long_ago.id])
    _backdate(primary, db, old, past)
    _backdate(primary, db, gone, past)
    bucket.delete(gone)
    collect(admin)
    assert not bucket(old), 'a file dropped %d days ago (grace %s) is still in the bucket' % (past, grace_days)
    for att in (kept, young, written_long_ago):
        assert bucket(att), '%s left the bucket within the backup window' % att.store_fname
    marks = primary.psql("SELECT string_agg(store_fname, ',') FROM fs_file_gc WHERE store_fname IN ('%s')"
                         % "','".join(a.store_fname for a in (kept, young, old, gone, written_long_ago)), db=db)
    assert sorted(marks.split(',')) == sorted([young.store_fname, written_long_ago.store_fname]), marks
    admin.kw('ir.attachment', 'unlink', [kept.id])
