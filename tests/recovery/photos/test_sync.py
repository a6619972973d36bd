"""Wound photos on the phones: the ``wound_photos`` sync table (schema version 6), metadata
with signed URLs to fetch the files, read-only on the device except the note."""

import pytest
from django.db import connection

from recovery.photos.models import WoundPhoto
from recovery.photos.tasks import wound_photo_thumbnail
from recovery.sync.tables import SYNC_TABLES
from tests.recovery.sync.helpers import changes, now_ms, pull, push

from .images import jpeg_with_gps

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo(upload):
    assert upload(jpeg_with_gps(), id="photo-1", note="first").status_code == 201
    return WoundPhoto.objects.get(pk="photo-1")


def test_the_table_is_there_from_version_6_only(photo, api, patient):
    client = api(patient.user)
    assert "wound_photos" not in pull(client, schema_version=5).json()["changes"]
    rows = pull(client, schema_version=6).json()["changes"]["wound_photos"]
    assert rows["created"] == [] and rows["deleted"] == []
    (raw,) = rows["updated"]
    assert raw["id"] == "photo-1" and raw["note"] == "first"
    assert raw["image"].startswith("/api/v1/wound-photo-files/")  # a signed URL, not a key
    assert raw["thumbnail"] is None
    assert raw["content_type"] == "image/jpeg" and raw["width"] == 64
    assert raw["reviewed_by"] is None and raw["review_outcome"] == ""
    assert isinstance(raw["taken_at"], int)


def test_the_signed_url_from_a_pull_fetches_the_photo(photo, api, patient, client):
    raw = pull(api(patient.user), schema_version=6).json()["changes"]["wound_photos"]["updated"][0]
    response = client.get(raw["image"])
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"


def test_the_thumbnail_reaches_the_phone_with_the_next_pull(photo, api, patient):
    client = api(patient.user)
    timestamp = pull(client, schema_version=6).json()["timestamp"]
    wound_photo_thumbnail.apply(args=("photo-1",))
    later = pull(client, last_pulled_at=timestamp, schema_version=6).json()
    (raw,) = later["changes"]["wound_photos"]["updated"]
    assert raw["thumbnail"].startswith("/api/v1/wound-photo-files/")


def test_both_read_paths_agree(photo, api, patient, settings):
    """PostgreSQL converts columns in SQL; the signed URL column is made in Python on both."""
    assert SYNC_TABLES["wound_photos"].by_name["image"].codec.python_wire
    raw = pull(api(patient.user), schema_version=6).json()["changes"]["wound_photos"]["updated"]
    assert raw[0]["image"].startswith("/api/v1/wound-photo-files/")
    assert connection.vendor in ("postgresql", "sqlite")


def test_the_phone_changes_the_note_and_nothing_else(photo, api, patient):
    client = api(patient.user)
    timestamp = pull(client, schema_version=6).json()["timestamp"]
    raw = {
        "id": "photo-1",
        "note": "less red today",
        "review_outcome": "looks_fine",
        "image": "someone/else.jpg",
        "width": 1,
    }
    response = push(client, changes(wound_photos={"updated": [raw]}), timestamp)
    assert response.status_code == 200, response.json()
    photo.refresh_from_db()
    assert photo.note == "less red today"
    assert (photo.review_outcome, photo.width) == ("", 64)
    assert photo.image.name.startswith(f"{patient.pk}/photo-1/")


def test_a_photo_cannot_be_created_by_sync(api, patient):
    client = api(patient.user)
    timestamp = pull(client, schema_version=6).json()["timestamp"]
    raw = {"id": "pushed", "note": "no file", "taken_at": now_ms()}
    response = push(client, changes(wound_photos={"created": [raw]}), timestamp)
    # Refused, not lost: the push answers 200 naming it, and the raw record is kept.
    assert response.status_code == 200
    (rejected,) = response.json()["rejected"]
    assert (rejected["table"], rejected["id"]) == ("wound_photos", "pushed")
    error = rejected["errors"][0]
    assert error["attr"] == "wound_photos.pushed.image"
    assert error["code"] == "upload_required"
    assert not WoundPhoto.all_objects.filter(pk="pushed").exists()


def test_another_patients_photos_never_sync(photo, api, other_patient):
    rows = pull(api(other_patient.user), schema_version=6).json()["changes"]["wound_photos"]
    assert rows == {"created": [], "updated": [], "deleted": []}
