"""The thumbnail made by a real Celery worker: the upload commits, its on-commit hook sends
``recovery.wound_photo_thumbnail`` to a throwaway redis-server, a worker process (started here,
the same command as production) makes the thumbnail from the stored file and stamps the row."""

import shutil

import pytest
from django.core.files.storage import storages
from PIL import Image

from recovery.photos.models import WoundPhoto
from tests.conftest import use_broker
from tests.factories import PatientFactory, StaffFactory
from tests.recovery.photos.conftest import upload_file
from tests.reminders.procs import Cluster, RedisServer, wait_for

from .images import jpeg_with_gps

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
    pytest.mark.timeout(120),
]


def test_a_worker_makes_the_thumbnail_after_the_upload(tmp_path, settings, monkeypatch, api):
    redis = RedisServer(tmp_path)
    redis.start()
    cluster = Cluster(tmp_path, redis.url)
    try:
        # The worker's storage is REALIGN_VAR_DIR/wound-photos: this process writes there too.
        settings.STORAGES = {
            **settings.STORAGES,
            "wound_photos": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path / "var" / "wound-photos")},
            },
        }
        use_broker(monkeypatch, redis.url)
        surgeon = StaffFactory(role="surgeon")
        patient = PatientFactory(clinic=surgeon.clinic, surgeon=surgeon)
        cluster.worker("thumbs", concurrency=1)
        response = api(patient.user).post(
            "/api/v1/wound-photos/",
            {"image": upload_file(jpeg_with_gps(size=(1600, 1200))), "id": "w1"},
            format="multipart",
        )
        assert response.status_code == 201, response.json()
        assert response.json()["thumbnail_url"] is None
        version = WoundPhoto.objects.get(pk="w1").sync_version

        def made():
            photo = WoundPhoto.objects.get(pk="w1")
            return photo if photo.thumbnail else None

        photo = wait_for(made, timeout=60, what="the worker's thumbnail")
        assert photo.sync_version > version  # the next pull sends it
        with Image.open(storages["wound_photos"].open(photo.thumbnail.name, "rb")) as thumb:
            assert thumb.size == (320, 240)
        assert "recovery.wound_photo_thumbnail" in cluster.log("thumbs")
    finally:
        cluster.stop_all()
        redis.kill()
