"""The production storage path, S3, against a real S3 API: moto's server mode on a free port
(an HTTP server speaking the S3 protocol, started here), reached by django-storages and boto3
over the network as MinIO or AWS would be. No mock object stands in for the client."""

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from recovery.photos.models import WoundPhoto
from recovery.photos.tasks import wound_photo_thumbnail
from tests.reminders.procs import free_port

from .images import has_gps, jpeg_with_gps

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

BUCKET = "realign-wound-photos"
KEYS = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **KEYS).create_bucket(
        Bucket=BUCKET
    )
    yield endpoint
    server.stop()


@pytest.fixture
def s3(settings, s3_endpoint):
    settings.STORAGES = {
        **settings.STORAGES,
        "wound_photos": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": KEYS["aws_access_key_id"],
                "secret_key": KEYS["aws_secret_access_key"],
                "region_name": "us-east-1",
                "location": "wound-photos",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": settings.WOUND_PHOTO_URL_MAX_AGE,
                "file_overwrite": False,
            },
        },
    }
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **KEYS)


def _keys(client, prefix="wound-photos/") -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_an_upload_lands_in_the_bucket_clean_and_is_fetched_by_a_presigned_url(
    s3, upload, api, patient
):
    before = set(_keys(s3))
    response = upload(jpeg_with_gps(size=(640, 480)), id="s3-photo", note="day 5")
    assert response.status_code == 201, response.json()
    photo = WoundPhoto.objects.get(pk="s3-photo")
    key = f"wound-photos/{photo.image.name}"
    assert set(_keys(s3)) - before == {key}
    stored = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert not has_gps(stored)

    url = api(patient.user).get("/api/v1/wound-photos/s3-photo/").json()["image_url"]
    assert url.startswith(s3.meta.endpoint_url)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == stored
    # Without the signature the bucket answers nothing.
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403


def test_a_retry_keeps_one_object_and_other_bytes_are_a_409(s3, upload, patient):
    data = jpeg_with_gps()
    prefix = f"wound-photos/{patient.pk}/retry/"
    assert upload(data, id="retry").status_code == 201
    assert upload(data, id="retry").status_code == 200
    assert upload(jpeg_with_gps(color=(1, 2, 3)), id="retry").status_code == 409
    assert len(_keys(s3, prefix)) == 1
    assert WoundPhoto.objects.filter(pk="retry").count() == 1


def test_the_thumbnail_task_reads_and_writes_the_bucket(s3, upload):
    assert upload(jpeg_with_gps(size=(1200, 900)), id="thumbed").status_code == 201
    result = wound_photo_thumbnail.apply(args=("thumbed",))
    assert result.successful(), result.traceback
    photo = WoundPhoto.objects.get(pk="thumbed")
    assert photo.thumbnail.name.endswith("-thumb.jpg")
    head = s3.head_object(Bucket=BUCKET, Key=f"wound-photos/{photo.thumbnail.name}")
    assert head["ContentLength"] > 0
