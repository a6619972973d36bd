"""Wound photos at the other edges: the FHIR Bundle (``Media``), the admin timeline and the
admin's review page."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from fhir.resources.R4B.bundle import Bundle

from accounts.models import PHIAccess
from recovery.photos.models import WoundPhoto
from recovery.photos.services import wound_photo_review
from tests.factories import wound_photo

from .images import jpeg_with_gps

pytestmark = pytest.mark.django_db


def _export(client, patient) -> dict:
    response = client.get(f"/api/v1/patients/{patient.pk}/fhir/")
    assert response.status_code == 200
    import json

    return json.loads(b"".join(response.streaming_content))


def test_photos_export_as_fhir_media(api, patient, surgeon, nurse):
    photo = wound_photo(patient, id="p1", note="red at the top")
    wound_photo_review(actor=nurse, photo=photo, outcome="come_in", comment="Come in Monday.")
    wound_photo(patient, id="p2", data=jpeg_with_gps(color=(5, 5, 5)))
    data = _export(api(surgeon), patient)
    Bundle.model_validate(data)  # fhir.resources validates every resource, Media included
    media = [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "Media"]
    assert len(media) == 2
    reviewed = next(m for m in media if m["identifier"][0]["value"] == "p1")
    assert reviewed["status"] == "completed"
    assert reviewed["subject"]["reference"].startswith("urn:uuid:")
    assert reviewed["content"]["contentType"] == "image/jpeg"
    assert reviewed["content"]["url"].startswith("/api/v1/wound-photo-files/")
    assert (reviewed["width"], reviewed["height"]) == (64, 48)
    notes = [n["text"] for n in reviewed["note"]]
    assert notes == ["red at the top", "Reviewed: come in. Come in Monday."]
    # The reviewer is a Practitioner of the Bundle.
    full_urls = {e["fullUrl"] for e in data["entry"]}
    assert reviewed["note"][1]["authorReference"]["reference"] in full_urls


def test_another_patients_photos_are_not_exported(api, patient, other_patient, surgeon):
    wound_photo(other_patient, id="theirs")
    data = _export(api(surgeon), patient)
    assert not [e for e in data["entry"] if e["resource"]["resourceType"] == "Media"]


# --- the timeline ---------------------------------------------------------------------------------


def _timeline(client, patient):
    return client.get(f"/admin/accounts/patientprofile/{patient.pk}/timeline/", {"period": "all"})


def test_photos_are_on_the_timeline_with_their_review(client, surgeon, nurse, patient):
    wound_photo(patient, id="p1", note="looks swollen")
    photo = wound_photo(patient, id="p2", data=jpeg_with_gps(color=(9, 9, 9)))
    wound_photo_review(actor=nurse, photo=photo, outcome="looks_fine", comment="Healing well.")
    client.force_login(surgeon)
    response = _timeline(client, patient)
    html = response.content.decode()
    assert 'data-type="wound_photo"' in html
    assert "Wound photo: looks swollen" in html
    assert "Not reviewed yet" in html
    assert "looks fine (Healing well.)" in html
    assert len(re.findall(r'<img class="tl-photo" src="/api/v1/wound-photo-files/', html)) == 2


def test_the_timeline_reads_photos_in_one_query(client, surgeon, patient):
    client.force_login(surgeon)
    wound_photo(patient, id="p0")
    _timeline(client, patient)
    with CaptureQueriesContext(connection) as few:
        _timeline(client, patient)
    for index in range(1, 6):
        wound_photo(patient, id=f"p{index}", data=jpeg_with_gps(color=(index, 1, 1)))
    with CaptureQueriesContext(connection) as many:
        _timeline(client, patient)
    assert len(many) == len(few)


def test_another_patients_photos_are_not_on_the_timeline(client, surgeon, patient, other_patient):
    wound_photo(other_patient, id="theirs", note="not yours")
    client.force_login(surgeon)
    assert "not yours" not in _timeline(client, patient).content.decode()


# --- the admin's review page --------------------------------------------------------------------


def _change_url(photo_id):
    return f"/admin/recovery/woundphoto/{photo_id}/change/"


def test_the_care_team_reviews_in_the_admin_and_the_server_sets_who_and_when(
    client, surgeon, nurse, patient
):
    photo = wound_photo(patient, id="p1")
    client.force_login(surgeon)
    page = client.get(_change_url("p1"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="review_outcome"' in html and 'name="review_comment"' in html
    for server_set in ("reviewed_by", "reviewed_at", "image", "note", "patient"):
        assert f'name="{server_set}"' not in html
    assert '<img src="/api/v1/wound-photo-files/' in html
    assert PHIAccess.objects.filter(user=surgeon, resource="wound_photos").exists()
    response = client.post(
        _change_url("p1"),
        {
            "review_outcome": "come_in",
            "review_comment": "Please come in.",
            "record_version": photo.sync_version,
            "reviewed_by": nurse.pk,  # forged: not a field of the form, ignored
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    photo.refresh_from_db()
    assert (photo.review_outcome, photo.review_comment) == ("come_in", "Please come in.")
    assert photo.reviewed_by == surgeon and photo.reviewed_at is not None


def test_an_admin_review_needs_an_outcome(client, surgeon, patient):
    photo = wound_photo(patient, id="p1")
    client.force_login(surgeon)
    response = client.post(
        _change_url("p1"),
        {"review_outcome": "", "review_comment": "hm", "record_version": photo.sync_version},
    )
    assert response.status_code == 200
    assert "Choose looks_fine or come_in." in response.content.decode()
    assert WoundPhoto.objects.get(pk="p1").reviewed_at is None


def test_another_patients_photo_is_a_404_in_the_admin(client, other_patient, patient):
    wound_photo(patient, id="p1")
    client.force_login(other_patient.surgeon)
    assert client.get(_change_url("p1")).status_code == 404
    response = client.get("/admin/recovery/woundphoto/")
    assert "p1" not in response.content.decode()


def test_photos_are_not_added_in_the_admin(client, surgeon):
    client.force_login(surgeon)
    assert client.get("/admin/recovery/woundphoto/add/").status_code == 403
