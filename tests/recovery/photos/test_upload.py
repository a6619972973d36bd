"""The upload (POST /api/v1/wound-photos/): stored clean, idempotent by id, bad input a clear
4xx in the one error shape, and scoped like every record."""

import pytest
from django.core.files.storage import storages
from PIL import Image

from accounts.models import PHIAccess
from recovery.photos.models import WoundPhoto

from .images import bomb, has_gps, jpeg_with_gps, png

pytestmark = pytest.mark.django_db


def _stored(name: str) -> bytes:
    with storages["wound_photos"].open(name, "rb") as f:
        return f.read()


def _error(response) -> dict:
    body = response.json()
    assert {"type", "errors"} <= set(body), body
    return body["errors"][0]


def test_a_photo_is_stored_without_its_gps_position(upload, patient):
    original = jpeg_with_gps()
    assert has_gps(original)  # the test image really carries a position
    response = upload(original, id="photo-1", note="a bit red at the top")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"] == "photo-1"
    assert body["note"] == "a bit red at the top"
    assert (body["content_type"], body["width"], body["height"]) == ("image/jpeg", 64, 48)
    assert body["image_url"].startswith("/api/v1/wound-photo-files/")
    assert body["thumbnail_url"] is None  # the worker makes it after the commit
    photo = WoundPhoto.objects.get(pk="photo-1")
    assert photo.patient == patient and photo.created_by == patient.user
    stored = _stored(photo.image.name)
    assert stored != original
    assert not has_gps(stored)
    with Image.open(storages["wound_photos"].open(photo.image.name, "rb")) as image:
        assert image.format == "JPEG" and image.size == (64, 48)
        assert not image.getexif()  # nothing of the original's EXIF at all
    assert photo.byte_size == len(stored)


def test_a_retried_upload_never_duplicates(upload, patient):
    data = jpeg_with_gps()
    first = upload(data, id="photo-1")
    again = upload(data, id="photo-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == "photo-1"
    assert WoundPhoto.all_objects.filter(patient=patient).count() == 1
    stored = WoundPhoto.objects.get(pk="photo-1").image.name
    # One file for the photo: the retry kept nothing of its own.
    files = storages["wound_photos"].listdir(f"{patient.pk}/photo-1")[1]
    assert files == [stored.rsplit("/", 1)[1]]


def test_the_same_id_with_other_bytes_is_a_409(upload, patient):
    assert upload(jpeg_with_gps(), id="photo-1").status_code == 201
    response = upload(jpeg_with_gps(color=(0, 0, 255)), id="photo-1")
    assert response.status_code == 409
    assert _error(response) == {
        "code": "conflict",
        "detail": "A photo with this id was uploaded before with other content.",
        "attr": "id",
    }
    assert WoundPhoto.objects.count() == 1
    assert len(storages["wound_photos"].listdir(f"{patient.pk}/photo-1")[1]) == 1


def test_an_id_of_another_patients_photo_is_a_409_that_reveals_nothing(upload, api, other_patient):
    assert upload(jpeg_with_gps(), id="photo-1").status_code == 201
    client = api(other_patient.user)
    from .conftest import upload_file

    response = client.post(
        "/api/v1/wound-photos/",
        {"image": upload_file(jpeg_with_gps()), "id": "photo-1"},
        format="multipart",
    )
    assert response.status_code == 409
    assert _error(response)["code"] == "id_taken"
    assert WoundPhoto.objects.get(pk="photo-1").patient_id != other_patient.pk


def test_a_png_keeps_its_type(upload):
    response = upload(png(mode="RGBA"), content_type="image/png", id="p")
    assert response.status_code == 201, response.json()
    photo = WoundPhoto.objects.get(pk="p")
    assert photo.image.name.endswith(".png")
    with Image.open(storages["wound_photos"].open(photo.image.name, "rb")) as image:
        assert image.format == "PNG" and image.mode == "RGBA"


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"%PDF-1.4 not a photo", "application/pdf", 415, "unsupported_image_type"),
        (png(), "image/jpeg", 415, "content_type_mismatch"),
        (b"just some text, no image at all", "image/jpeg", 400, "not_an_image"),
        (jpeg_with_gps()[:200], "image/jpeg", 400, "not_an_image"),  # truncated
    ],
    ids=["pdf", "png-sent-as-jpeg", "text-as-jpeg", "truncated-jpeg"],
)
def test_what_is_not_a_supported_image_is_refused(upload, data, content_type, status, code):
    response = upload(data, content_type=content_type, id="x")
    assert response.status_code == status, response.json()
    error = _error(response)
    assert (error["code"], error["attr"]) == (code, "image")
    assert not WoundPhoto.all_objects.exists()


def test_a_decompression_bomb_is_a_413_before_it_is_decoded(upload):
    # 400 million pixels in a 48 KB file: over twice Pillow's MAX_IMAGE_PIXELS, so Pillow's
    # own DecompressionBombError fires when the header is read.
    response = upload(bomb(20_000), content_type="image/png", id="bomb")
    assert response.status_code == 413, response.json()
    error = _error(response)
    assert (error["code"], error["attr"]) == ("too_many_pixels", "image")
    assert not WoundPhoto.all_objects.exists()


def test_an_image_over_the_pixel_setting_is_a_413(upload, settings):
    settings.WOUND_PHOTO_MAX_PIXELS = 1000
    response = upload(png(size=(40, 30)), content_type="image/png")  # 1200 pixels
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "too_many_pixels"
    assert response.json()["max_pixels"] == 1000


def test_a_file_over_the_size_limit_is_a_413(upload, settings):
    data = jpeg_with_gps()
    settings.WOUND_PHOTO_MAX_BYTES = len(data) - 1
    response = upload(data, id="big")
    assert response.status_code == 413
    error = _error(response)
    assert (error["code"], error["attr"]) == ("file_too_large", "image")
    assert response.json()["max_bytes"] == len(data) - 1
    assert not WoundPhoto.all_objects.exists()


def test_a_body_declared_larger_than_the_limit_is_refused_unread(api, patient, settings):
    settings.WOUND_PHOTO_MAX_BYTES = 1000
    response = api(patient.user).generic(
        "POST",
        "/api/v1/wound-photos/",
        b"x" * 70_000,
        content_type="multipart/form-data; boundary=zzz",
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "file_too_large"


@pytest.mark.parametrize(
    ("fields", "attr", "code"),
    [
        ({"id": "no spaces allowed"}, "id", "invalid"),
        ({"reviewed_by": "1"}, "reviewed_by", "invalid"),
        ({"taken_at": "yesterday"}, "taken_at", "invalid"),
        ({"taken_at": "2999-01-01T10:00:00+00:00"}, "taken_at", "in_future"),
    ],
)
def test_bad_fields_are_400s_naming_the_field(upload, fields, attr, code):
    response = upload(jpeg_with_gps(), **fields)
    assert response.status_code == 400, response.json()
    assert (_error(response)["attr"], _error(response)["code"]) == (attr, code)


def test_a_json_body_is_a_415(api, patient):
    response = api(patient.user).post("/api/v1/wound-photos/", {"note": "x"}, format="json")
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_no_file_is_a_400(api, patient):
    response = api(patient.user).post("/api/v1/wound-photos/", {"note": "x"}, format="multipart")
    assert response.status_code == 400
    assert _error(response)["attr"] == "image"


def test_only_patients_upload(upload, surgeon, api):
    response = upload(jpeg_with_gps(), user=surgeon)
    assert response.status_code == 403
    assert api(None).post("/api/v1/wound-photos/", {}, format="multipart").status_code == 401


# --- reads, scoped -----------------------------------------------------------------------------


def test_another_patients_photo_is_a_404(upload, api, other_patient, surgeon):
    assert upload(jpeg_with_gps(), id="photo-1").status_code == 201
    outsider = other_patient.surgeon
    for user in (other_patient.user, outsider):
        client = api(user)
        assert client.get("/api/v1/wound-photos/photo-1/").status_code == 404
        assert (
            client.post(
                "/api/v1/wound-photos/photo-1/review/", {"review_outcome": "looks_fine"}
            ).status_code
            == 404
        )
        assert client.get("/api/v1/wound-photos/").json()["results"] == []
    assert api(surgeon).get("/api/v1/wound-photos/photo-1/").status_code == 200


def test_a_care_team_read_is_phi_logged(upload, api, surgeon, patient):
    upload(jpeg_with_gps(), id="photo-1")
    assert not PHIAccess.objects.exists()  # the patient's own upload is not logged
    assert api(surgeon).get("/api/v1/wound-photos/photo-1/").status_code == 200
    assert api(surgeon).get(f"/api/v1/wound-photos/?patient={patient.pk}").status_code == 200
    rows = list(PHIAccess.objects.values_list("user", "patient", "resource", "action", "object_id"))
    assert rows == [
        (surgeon.pk, patient.pk, "wound_photos", "retrieve", "photo-1"),
        (surgeon.pk, patient.pk, "wound_photos", "list", ""),
    ]


def test_the_list_is_newest_first_in_a_fixed_number_of_queries(
    upload, api, surgeon, patient, django_assert_max_num_queries
):
    for index in range(6):
        upload(
            jpeg_with_gps(color=(index, 0, 0)),
            id=f"p{index}",
            taken_at=f"2026-01-0{index + 1}T10:00:00+00:00",
        )
    client = api(surgeon)
    with django_assert_max_num_queries(8):
        page = client.get(f"/api/v1/wound-photos/?patient={patient.pk}&page_size=4").json()
    assert [r["id"] for r in page["results"]] == ["p5", "p4", "p3", "p2"]
    rest = client.get(page["next"]).json()
    assert [r["id"] for r in rest["results"]] == ["p1", "p0"] and rest["next"] is None


def test_a_clinician_cannot_list_a_patient_outside_the_team(upload, api, other_patient, surgeon):
    response = api(surgeon).get(f"/api/v1/wound-photos/?patient={other_patient.pk}")
    assert response.status_code == 400
    assert _error(response)["attr"] == "patient"


def test_a_caregiver_who_logs_uploads_for_the_patient_and_no_one_else(api, patient, other_patient):
    from tests.accounts.helpers import caregiver_of

    from .conftest import upload_file

    logger, _ = caregiver_of(patient, "read", "log", email="logger@example.test")
    reader, _ = caregiver_of(patient, "read", email="reader@example.test")

    def post(user, patient_id):
        return api(user).post(
            f"/api/v1/wound-photos/?patient={patient_id}",
            {"image": upload_file(jpeg_with_gps())},
            format="multipart",
        )

    response = post(logger, patient.pk)
    assert response.status_code == 201, response.content
    photo = WoundPhoto.objects.get(pk=response.json()["id"])
    assert (photo.patient_id, photo.created_by_id) == (patient.pk, logger.pk)  # who entered it
    assert post(logger, other_patient.pk).status_code == 404
    assert post(reader, patient.pk).status_code in (403, 404)  # no `log` scope
    assert WoundPhoto.objects.count() == 1
