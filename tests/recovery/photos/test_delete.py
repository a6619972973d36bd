"""A patient withdraws a wound photo: ``DELETE /api/v1/wound-photos/{id}/`` or a sync deletion.
A tombstone, as every record's deletion: gone from the lists, the signed URLs and the phones
(the next pull lists it under ``deleted``), the row and its file kept with the clinical record.
A caregiver with ``log`` deletes only the photos they uploaded; another patient's is a 404."""

import pytest

from accounts.models import PHIAccess
from recovery.photos.models import WoundPhoto
from recovery.photos.storage import photo_storage
from tests.recovery.sync.helpers import changes, pull, push

from .conftest import upload_file
from .images import jpeg_with_gps

pytestmark = pytest.mark.django_db
URL = "/api/v1/wound-photos/{}/"


@pytest.fixture
def photo(upload):
    assert upload(jpeg_with_gps(), id="photo-1", note="first").status_code == 201
    return WoundPhoto.objects.get(pk="photo-1")


def test_the_patient_deletes_a_photo_by_rest(photo, api, patient, client):
    patient_api = api(patient.user)
    url = patient_api.get(URL.format("photo-1")).json()["image_url"]
    response = patient_api.delete(URL.format("photo-1"))
    assert response.status_code == 204, response.content
    row = WoundPhoto.all_objects.get(pk="photo-1")
    assert row.deleted_at is not None  # a tombstone: the row stays
    assert photo_storage().exists(row.image.name)  # and its file, with the clinical record
    assert patient_api.get(URL.format("photo-1")).status_code == 404
    assert patient_api.get("/api/v1/wound-photos/").json()["results"] == []
    assert client.get(url).status_code == 404  # no URL serves it any more
    assert patient_api.delete(URL.format("photo-1")).status_code == 404
    assert not PHIAccess.objects.exists()  # a patient's own record is not an access to log


def test_the_deletion_reaches_every_phone(photo, api, patient):
    client = api(patient.user)
    timestamp = pull(client, schema_version=6).json()["timestamp"]
    assert client.delete(URL.format("photo-1")).status_code == 204
    later = pull(client, last_pulled_at=timestamp, schema_version=6).json()
    assert later["changes"]["wound_photos"]["deleted"] == ["photo-1"]
    first = pull(client, schema_version=6).json()["changes"]["wound_photos"]
    assert first["updated"] == [] and first["created"] == []


def test_the_patient_deletes_a_photo_by_sync(photo, api, patient):
    client = api(patient.user)
    timestamp = pull(client, schema_version=6).json()["timestamp"]
    response = push(client, changes(wound_photos={"deleted": ["photo-1"]}), timestamp)
    assert response.status_code == 200, response.json()
    assert response.json()["rejected"] == []
    assert WoundPhoto.all_objects.get(pk="photo-1").deleted_at is not None
    assert not WoundPhoto.objects.filter(pk="photo-1").exists()


def test_the_patient_deletes_a_photo_a_caregiver_uploaded(api, patient):
    from tests.accounts.helpers import caregiver_of

    logger, _ = caregiver_of(patient, "read", "log", email="logger@example.test")
    response = api(logger).post(
        f"/api/v1/wound-photos/?patient={patient.pk}",
        {"image": upload_file(jpeg_with_gps()), "id": "by-carer"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert api(patient.user).delete(URL.format("by-carer")).status_code == 204


def test_a_caregiver_deletes_only_the_photos_they_uploaded(photo, api, patient):
    from tests.accounts.helpers import caregiver_of

    logger, _ = caregiver_of(patient, "read", "log", email="logger@example.test")
    reader, _ = caregiver_of(patient, "read", email="reader@example.test")
    carer = api(logger)
    response = carer.post(
        f"/api/v1/wound-photos/?patient={patient.pk}",
        {"image": upload_file(jpeg_with_gps()), "id": "by-carer"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    refused = carer.delete(URL.format("photo-1"))  # the patient's own photo
    assert refused.status_code == 403, refused.content
    assert api(reader).delete(URL.format("by-carer")).status_code in (403, 404)  # no `log`
    assert WoundPhoto.objects.filter(pk__in=["photo-1", "by-carer"]).count() == 2
    assert carer.delete(URL.format("by-carer")).status_code == 204
    assert PHIAccess.objects.filter(
        user=logger, action="delete", resource="wound_photos", object_id="by-carer"
    ).exists()
    assert WoundPhoto.objects.filter(pk="photo-1").exists()


def test_another_patients_photo_is_a_404(photo, api, other_patient):
    client = api(other_patient.user)
    response = client.delete(URL.format("photo-1"))
    assert response.status_code == 404
    timestamp = pull(client, schema_version=6).json()["timestamp"]
    response = push(client, changes(wound_photos={"deleted": ["photo-1"]}), timestamp)
    assert response.status_code == 200, response.json()  # an id not theirs: ignored
    assert WoundPhoto.objects.filter(pk="photo-1").exists()
