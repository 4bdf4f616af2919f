"""Restore drill: read a sample of attachments back from the Odoo bucket.

Run on an Odoo host by playbooks/restore_drill.yml with the interpreter of
Odoo's virtualenv (botocore comes with fs_attachment_s3) and the Odoo
unit's environment (ODOO_SCALE_S3_*: the same endpoint and key Odoo uses).
Input: ODOO_SCALE_DRILL_SAMPLE, a JSON list of {id, bucket, key, checksum}
read from the restored database. Output: one JSON line, no secret:
{"checked": n, "ok": n, "failures": [{"id", "key", "reason"}]}.
"""
import hashlib
import json
import os

import botocore.session
from botocore.config import Config

sample = json.loads(os.environ['ODOO_SCALE_DRILL_SAMPLE'])
client = botocore.session.get_session().create_client(
    's3',
    endpoint_url=os.environ['ODOO_SCALE_S3_ENDPOINT'],
    region_name=os.environ.get('ODOO_SCALE_S3_REGION') or 'us-east-1',
    aws_access_key_id=os.environ['ODOO_SCALE_S3_KEY'],
    aws_secret_access_key=os.environ['ODOO_SCALE_S3_SECRET'],
    config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 3}),
)
result = {'checked': 0, 'ok': 0, 'failures': []}
for item in sample:
    result['checked'] += 1
    digest = hashlib.sha1()
    try:
        body = client.get_object(Bucket=item['bucket'], Key=item['key'])['Body']
        for chunk in iter(lambda: body.read(1 << 20), b''):
            digest.update(chunk)
    except Exception as exc:  # noqa: BLE001 (any failure to read is the finding)
        code = getattr(exc, 'response', {}).get('Error', {}).get('Code') or type(exc).__name__
        result['failures'].append({'id': item['id'], 'key': item['key'], 'reason': 'not read: %s' % code})
        continue
    if digest.hexdigest() != item['checksum']:
        result['failures'].append({'id': item['id'], 'key': item['key'],
                                   'reason': 'sha1 %s, checksum %s' % (digest.hexdigest(), item['checksum'])})
        continue
    result['ok'] += 1
print(json.dumps(result))
