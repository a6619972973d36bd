"""The care team's review, the filesystem storage's signed URLs, and the thumbnail task."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.files.storage import storages
from django.utils import timezone

from config.celery import app
from recovery.photos.models import WoundPhoto
from recovery.photos.services import THUMBNAIL_TASK
from recovery.photos.tasks import wound_photo_thumbnail

from .images import jpeg_with_gps

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo(upload):
    assert upload(jpeg_with_gps(size=(800, 600)), id="photo-1").status_code == 201
    return WoundPhoto.objects.get(pk="photo-1")


# --- review --------------------------------------------------------------------------------------


def test_the_care_team_reviews_and_the_server_sets_who_and_when(photo, api, nurse):
    before = timezone.now()
    response = api(nurse).post(
        "/api/v1/wound-photos/photo-1/review/",
        {"review_outcome": "come_in", "review_comment": "Please come in tomorrow."},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["review_outcome"], body["review_comment"]) == (
        "come_in",
        "Please come in tomorrow.",
    )
    photo.refresh_from_db()
    assert photo.reviewed_by == nurse
    assert photo.reviewed_at >= before
    assert photo.sync_version > 0


def test_forged_reviewer_or_time_is_refused(photo, api, nurse, surgeon):
    response = api(nurse).post(
        "/api/v1/wound-photos/photo-1/review/",
        {"review_outcome": "looks_fine", "reviewed_by": surgeon.pk, "reviewed_at": "2020-01-01"},
        format="json",
    )
    assert response.status_code == 400
    assert {e["attr"] for e in response.json()["errors"]} == {"reviewed_by", "reviewed_at"}
    photo.refresh_from_db()
    assert photo.reviewed_by is None and photo.review_outcome == ""


def test_a_patient_cannot_review(photo, api, patient):
    response = api(patient.user).post(
        "/api/v1/wound-photos/photo-1/review/", {"review_outcome": "looks_fine"}, format="json"
    )
    assert response.status_code == 403


def test_an_unknown_outcome_is_a_400(photo, api, nurse):
    response = api(nurse).post(
        "/api/v1/wound-photos/photo-1/review/", {"review_outcome": "maybe"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "review_outcome"


# --- signed URLs of the filesystem storage -------------------------------------------------------


def test_the_signed_url_serves_the_file_without_a_token(photo, api, client):
    url = api(photo.patient.user).get("/api/v1/wound-photos/photo-1/").json()["image_url"]
    response = client.get(url)  # no Authorization header: the signed URL is the grant
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"].startswith("private")
    with storages["wound_photos"].open(photo.image.name, "rb") as f:
        assert b"".join(response.streaming_content) == f.read()


def test_a_tampered_or_expired_url_is_a_404(photo, api, client):
    url = api(photo.patient.user).get("/api/v1/wound-photos/photo-1/").json()["image_url"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    tampered = url.replace(token, token[:-2] + ("aa" if token[-2:] != "aa" else "bb"))
    assert client.get(tampered).status_code == 404
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.WOUND_PHOTO_URL_MAX_AGE + 5)
    ):
        response = client.get(url)
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "not_found"


def test_a_deleted_photos_url_stops_working(photo, api, client, surgeon):
    from recovery.photos.kinds import WOUND_PHOTOS
    from recovery.record.writes import record_delete

    url = api(photo.patient.user).get("/api/v1/wound-photos/photo-1/").json()["image_url"]
    record_delete(WOUND_PHOTOS, actor=surgeon, record=photo)
    assert client.get(url).status_code == 404


# --- thumbnails (a real Celery task, run by Celery) ---------------------------------------------


def test_the_thumbnail_task_is_registered_for_the_worker():
    assert "recovery.photos.tasks" in settings.CELERY_IMPORTS
    app.loader.import_default_modules()  # what a worker does at start-up
    assert app.tasks[THUMBNAIL_TASK].name == wound_photo_thumbnail.name == THUMBNAIL_TASK
    assert app.tasks[THUMBNAIL_TASK].max_retries == 8


def test_the_upload_enqueues_the_thumbnail_after_commit(
    upload, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args=(), **kw: sent.append((name, args)))
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(jpeg_with_gps(), id="photo-9").status_code == 201
    assert sent == [(THUMBNAIL_TASK, ("photo-9",))]


def test_the_task_makes_the_thumbnail_once_and_bumps_the_sync_clock(photo):
    version = photo.sync_version
    result = wound_photo_thumbnail.apply(args=("photo-1",))  # through Celery, JSON arguments
    assert result.successful(), result.traceback
    photo.refresh_from_db()
    assert photo.thumbnail.name == result.result
    assert photo.sync_version > version
    from PIL import Image

    with Image.open(storages["wound_photos"].open(photo.thumbnail.name, "rb")) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) == settings.WOUND_PHOTO_THUMBNAIL_PX
    # Again: nothing new (idempotent by state).
    assert wound_photo_thumbnail.apply(args=("photo-1",)).result is None
    assert wound_photo_thumbnail.apply(args=("no-such-photo",)).result is None
