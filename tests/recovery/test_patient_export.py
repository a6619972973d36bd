"""Downloading my record: the patient asks, a Celery task builds a zip (the FHIR Bundle and a
CSV per table) with progress, the patient is e-mailed a link into the app, the zip downloads
with the patient's own token until it expires."""

import csv
import io
import json
import zipfile
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from fhir.resources.R4B.bundle import Bundle

from recovery.fhir.models import PatientExport
from recovery.fhir.patient_export import patient_export_build, patient_exports_purge, storage
from recovery.record.kinds import PAIN_LOGS
from recovery.record.writes import record_delete
from tests import factories as f

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/exports/"


@pytest.fixture(autouse=True)
def _exports_in_tmp(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "patient_exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "exports")},
        },
    }


def ask(api, patient):
    response = api(patient.user).post(URL)
    assert response.status_code in (200, 202), response.content
    return response


def test_ask_follow_and_download_everything(api, patient, surgeon):
    kept = f.pain_log(patient, notes="stairs were hard")
    gone = f.pain_log(patient)
    record_delete(PAIN_LOGS, actor=patient.user, record=gone)
    f.restriction(patient, surgeon)
    client = api(patient.user)

    first = ask(api, patient)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    again = ask(api, patient)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    export_id = first.json()["id"]
    assert client.get(f"{URL}{export_id}/download/").status_code == 409  # not ready

    assert patient_export_build(export_id=export_id) == "ready"
    assert patient_export_build(export_id=export_id) == "skipped"  # a redelivered task
    state = client.get(f"{URL}{export_id}/").json()
    assert (state["status"], state["progress"]) == ("ready", 100)
    [message] = mail.outbox
    assert message.to == [patient.user.email] and f"export?id={export_id}" in message.body

    response = client.get(f"{URL}{export_id}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    bundle = json.loads(archive.read("fhir-bundle.json"))
    Bundle.model_validate(bundle)
    rows = list(csv.DictReader(io.StringIO(archive.read("csv/pain_logs.csv").decode())))
    by_id = {row["id"]: row for row in rows}
    assert by_id[kept.pk]["notes"] == "stairs were hard"
    assert by_id[gone.pk]["deleted_at"]  # tombstones are part of what is held
    assert "csv/restrictions.csv" in archive.namelist()


def test_another_patients_export_is_a_404_and_staff_have_none(api, patient, other_patient, surgeon):
    export_id = ask(api, patient).json()["id"]
    assert api(other_patient.user).get(f"{URL}{export_id}/").status_code == 404
    assert api(other_patient.user).get(f"{URL}{export_id}/download/").status_code == 404
    assert api(surgeon).post(URL).status_code == 403
    assert api(surgeon).get(f"{URL}{export_id}/").status_code == 403


def test_an_expired_download_is_gone_and_its_file_deleted(api, patient):
    export_id = ask(api, patient).json()["id"]
    patient_export_build(export_id=export_id)
    export = PatientExport.objects.get(pk=export_id)
    assert storage().exists(export.file_name)
    with time_machine.travel(export.expires_at + timedelta(seconds=1)):
        response = api(patient.user).get(f"{URL}{export_id}/download/")
        assert response.status_code == 410
        assert response.json()["errors"][0]["code"] == "expired"
        assert patient_exports_purge() == 1
    assert not storage().exists(export.file_name)
    assert PatientExport.objects.get(pk=export_id).status == "expired"
    assert ask(api, patient).status_code == 202  # a new one may be asked for


def test_a_failed_build_says_so_and_frees_the_patient_to_ask_again(api, patient, monkeypatch):
    export_id = ask(api, patient).json()["id"]

    def broken(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("recovery.fhir.patient_export.bundle_stream", broken)
    with pytest.raises(OSError):
        patient_export_build(export_id=export_id)
    state = api(patient.user).get(f"{URL}{export_id}/").json()
    assert state["status"] == "failed"
    assert ask(api, patient).status_code == 202
