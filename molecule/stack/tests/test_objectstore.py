"""The object store, verified from the controller with boto3: the Odoo key
works in its bucket and nowhere else, wrong keys are refused, data survives a
restart, and the service runs as its own user with a memory limit.

MinIO cannot be tested here (no binary can be downloaded): its test skips
with the reason, it does not pass."""

from __future__ import annotations

import time
import uuid

import pytest
from botocore.exceptions import ClientError

OTHER_BUCKET = 'odoo-scale-verify-other'


@pytest.fixture(scope='module')
def backend(settings):
    value = settings.get('objectstore_backend', 'minio')
    if value != 'seaweedfs':
        pytest.skip('objectstore: backend %s is not verified by this scenario' % value)
    return value


@pytest.fixture(scope='module')
def bucket(settings):
    return settings.get('objectstore_bucket', 'odoo-filestore')


@pytest.fixture(scope='module')
def odoo(s3, settings, backend):
    return s3(settings['objectstore_odoo_access_key'], settings['objectstore_odoo_secret_key'])


@pytest.fixture(scope='module')
def admin(s3, settings, backend):
    return s3(settings['objectstore_admin_access_key'], settings['objectstore_admin_secret_key'])


def error_code(call):
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response['Error']['Code']


def test_minio_backend():
    pytest.skip('minio: no binary supplied (objectstore_minio_binary_src)')


def test_odoo_key_puts_gets_and_lists_in_its_bucket(odoo, bucket):
    key = 'filestore/%s/ab/%s' % (uuid.uuid4().hex[:8], uuid.uuid4().hex)
    odoo.put_object(Bucket=bucket, Key=key, Body=b'attachment bytes')
    assert odoo.get_object(Bucket=bucket, Key=key)['Body'].read() == b'attachment bytes'
    listed = odoo.list_objects_v2(Bucket=bucket, Prefix=key.rsplit('/', 1)[0])
    assert key in [obj['Key'] for obj in listed.get('Contents', [])]
    odoo.delete_object(Bucket=bucket, Key=key)


def test_odoo_key_cannot_create_buckets(odoo):
    assert error_code(lambda: odoo.create_bucket(Bucket='odoo-scale-not-allowed')) == 'AccessDenied'


def test_odoo_key_cannot_reach_another_bucket(odoo, admin):
    if OTHER_BUCKET not in [b['Name'] for b in admin.list_buckets()['Buckets']]:
        admin.create_bucket(Bucket=OTHER_BUCKET)
    admin.put_object(Bucket=OTHER_BUCKET, Key='private.txt', Body=b'not for odoo')
    assert error_code(lambda: odoo.get_object(Bucket=OTHER_BUCKET, Key='private.txt')) == 'AccessDenied'
    assert error_code(lambda: odoo.put_object(Bucket=OTHER_BUCKET, Key='x.txt', Body=b'x')) == 'AccessDenied'
    assert error_code(lambda: odoo.list_objects_v2(Bucket=OTHER_BUCKET)) == 'AccessDenied'
    assert error_code(lambda: odoo.delete_object(Bucket=OTHER_BUCKET, Key='private.txt')) == 'AccessDenied'
    assert admin.get_object(Bucket=OTHER_BUCKET, Key='private.txt')['Body'].read() == b'not for odoo'


def test_wrong_keys_are_refused(s3, settings, bucket, backend):
    wrong_secret = s3(settings['objectstore_odoo_access_key'], 'definitely-not-the-secret')
    assert error_code(lambda: wrong_secret.list_objects_v2(Bucket=bucket)) == 'SignatureDoesNotMatch'
    unknown = s3('unknown-access-key', 'definitely-not-the-secret')
    assert error_code(lambda: unknown.list_objects_v2(Bucket=bucket)) == 'InvalidAccessKeyId'


def test_anonymous_requests_are_refused(s3_node, settings, bucket, backend):
    import urllib.error
    import urllib.request
    url = 'http://%s:%s/%s/' % (s3_node.address, settings.get('objectstore_seaweedfs_s3_port', 8333), bucket)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 403


def test_objects_survive_a_restart(odoo, s3_node, bucket):
    key = 'restart/%s' % uuid.uuid4().hex
    odoo.put_object(Bucket=bucket, Key=key, Body=b'persisted')
    s3_node.host.check_output('systemctl restart seaweedfs')
    deadline = time.time() + 300          # a hang guard, not a timing
    while True:
        try:
            body = odoo.get_object(Bucket=bucket, Key=key)['Body'].read()
            break
        except Exception as exc:  # connection refused / 5xx while it starts
            if time.time() > deadline:
                raise AssertionError('object store did not come back: %s' % exc)
            time.sleep(1)
    assert body == b'persisted'
    odoo.delete_object(Bucket=bucket, Key=key)


def test_runs_as_its_own_user_with_memory_limits(s3_node, settings, backend):
    assert s3_node.unit_user('seaweedfs') == 'seaweedfs'
    memory_max = int(s3_node.unit_property('seaweedfs', 'MemoryMax'))
    assert memory_max == int(settings['objectstore_memory_max_mb']) * 1024 * 1024
    assert 0 < int(s3_node.unit_property('seaweedfs', 'MemoryHigh')) <= memory_max


def test_identities_file_is_private(s3_node, settings, backend):
    identities = s3_node.host.file('/etc/seaweedfs/s3.json')
    assert identities.user == 'seaweedfs'
    assert identities.mode & 0o027 == 0, oct(identities.mode)
