"""FHIR Bulk Data export ($export): kick-off, status, files, cancel, expiry, _since, _type,
scope, audit. The Celery task is called directly (``tasks.bulk_export``), as the worker would;
tests/recovery/test_fhir_bulk_worker.py runs it in a real worker."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from accounts.models import PHIAccess
from recovery.fhir import tasks
from recovery.fhir.bundle import RESOURCE_TYPES, fhir_id
from recovery.fhir.models import BulkExportJob, ExportStatus
from recovery.fhir.services import storage
from recovery.record.kinds import PAIN_LOGS
from recovery.record.models import PainLog
from recovery.record.writes import record_update
from tests.factories import PatientFactory, StaffFactory, build_record

pytestmark = pytest.mark.django_db

HEADERS = {"HTTP_ACCEPT": "application/fhir+json", "HTTP_PREFER": "respond-async"}
BASE = "/api/v1/fhir/"


@pytest.fixture(autouse=True)
def _export_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "bulk_exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "bulk")},
        },
    }
    settings.BULK_EXPORT_PATIENT_CHUNK = 2  # several chunks with a few patients


@pytest.fixture
def admin(clinic):
    return StaffFactory(clinic=clinic, role="clinic_admin")


@pytest.fixture
def histories(patient, other_patient, surgeon, admin):
    build_record(patient, surgeon, days=20)
    build_record(other_patient, admin, days=10)
    third = PatientFactory(clinic=patient.clinic, surgeon=surgeon)
    return [patient, other_patient, third]


@pytest.fixture
def elsewhere():
    """A patient and a clinic admin of another clinic."""
    outsider = StaffFactory(role="clinic_admin")
    foreign = PatientFactory(clinic=outsider.clinic)
    build_record(foreign, outsider, days=5)
    return outsider, foreign


def outcome(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/fhir+json"
    body = json.loads(response.content)
    assert body["resourceType"] == "OperationOutcome"
    get_fhir_model_class("OperationOutcome").model_validate(body)
    return body


def kick_off(client, path, status=202, **headers):
    response = client.get(BASE + path, **{**HEADERS, **headers})
    if status != 202:
        return outcome(response, status)
    assert response.status_code == 202, response.content
    location = response["Content-Location"]
    assert location.startswith("http://testserver/api/v1/fhir/bulk-status/")
    return location.removeprefix("http://testserver")


def run(status_url) -> BulkExportJob:
    job_id = status_url.rstrip("/").rsplit("/", 1)[-1]
    tasks.bulk_export(job_id)
    return BulkExportJob.objects.get(pk=job_id)


def manifest(client, status_url):
    response = client.get(status_url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Expires"]
    return json.loads(response.content)


def download(client, url) -> list[dict]:
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/fhir+ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    return [json.loads(line) for line in lines]


def export_all(client, path, **headers) -> tuple[dict, dict[str, list[dict]]]:
    status_url = kick_off(client, path, **headers)
    run(status_url)
    body = manifest(client, status_url)
    return body, {entry["type"]: download(client, entry["url"]) for entry in body["output"]}


def test_group_export_kick_off_poll_download(api, admin, histories, clinic):
    client = api(admin)
    status_url = kick_off(client, f"Group/{clinic.pk}/$export")
    queued = client.get(status_url)
    outcome(queued, 202)
    assert queued["X-Progress"] == "queued" and queued["Retry-After"] == "5"

    job = run(status_url)
    assert job.status == ExportStatus.COMPLETED and job.patients_done == job.patients_total == 3
    body = manifest(client, status_url)
    assert body["requiresAccessToken"] is True and body["error"] == []
    assert body["request"] == f"http://testserver{BASE}Group/{clinic.pk}/$export"
    assert body["transactionTime"] == job.transaction_time.isoformat()
    files = {}
    for entry in body["output"]:
        resources = download(client, entry["url"])
        assert len(resources) == entry["count"] > 0
        model = get_fhir_model_class(entry["type"])
        for resource in resources:  # every line validates as an R4(B) resource of its type
            assert resource["resourceType"] == entry["type"]
            model.model_validate(resource)
        files[entry["type"]] = resources
    patients = {r["id"] for r in files["Patient"]}
    assert patients == {fhir_id("Patient", p.pk) for p in histories}
    # Every resource of a patient says whose it is, as a relative reference that resolves.
    exported = {(t, r["id"]) for t, rs in files.items() for r in rs}
    for resource_type in ("Observation", "Procedure", "Appointment", "Goal", "Encounter"):
        for resource in files[resource_type]:
            subject = resource.get("subject") or resource["participant"][0]["actor"]
            kind, rid = subject["reference"].split("/")
            assert (kind, rid) in exported and kind == "Patient"
    assert len(files["Practitioner"]) == len({r["id"] for r in files["Practitioner"]})
    pain = [r for r in files["Observation"] if r.get("valueInteger") is not None]
    assert len(pain) == PainLog.objects.filter(patient__in=histories).count()

    # Audited: the worker's read of each patient, then each download per patient.
    exports = PHIAccess.objects.filter(action="export", resource="fhir_bulk")
    assert {a.patient_id for a in exports} == {p.pk for p in histories}
    assert {a.user_id for a in exports} == {admin.pk}
    downloads = PHIAccess.objects.filter(action="download", object_id=str(job.pk))
    assert downloads.filter(resource="fhir_bulk/Observation").count() == 3
    assert downloads.values("resource").distinct().count() == len(body["output"])


def test_system_and_patient_level_exports_stay_in_scope(api, admin, histories, elsewhere):
    client = api(admin)
    _, files = export_all(client, "$export")
    foreign = elsewhere[1]
    assert {r["id"] for r in files["Patient"]} == {fhir_id("Patient", p.pk) for p in histories}
    assert fhir_id("Patient", foreign.pk) not in {r["id"] for r in files["Patient"]}

    _, files = export_all(client, "Patient/$export", HTTP_PREFER="respond-async")
    assert len(files["Patient"]) == 3

    patient = histories[0]
    for key in (patient.pk, fhir_id("Patient", patient.pk)):
        _, files = export_all(client, f"Patient/{key}/$export")
        assert [r["id"] for r in files["Patient"]] == [fhir_id("Patient", patient.pk)]
        subjects = {r["subject"]["reference"] for r in files["Observation"]}
        assert subjects == {f"Patient/{fhir_id('Patient', patient.pk)}"}


def test_type_filter_and_unknown_types(api, admin, histories):
    client = api(admin)
    body, files = export_all(client, "$export?_type=Patient,Observation&_type=Goal")
    assert [e["type"] for e in body["output"]] == ["Patient", "Observation", "Goal"]
    assert {r["resourceType"] for rs in files.values() for r in rs} == {
        "Patient",
        "Observation",
        "Goal",
    }
    outcome_body = kick_off(client, "$export?_type=Patient,Spaceship", status=400)
    assert "Spaceship" in outcome_body["issue"][0]["diagnostics"]
    assert outcome_body["issue"][0]["details"]["coding"][0]["code"] == "unsupported_type"
    # Prefer: handling=lenient drops what it does not know instead.
    body, _ = export_all(
        client, "$export?_type=Patient,Spaceship", HTTP_PREFER="respond-async, handling=lenient"
    )
    assert [e["type"] for e in body["output"]] == ["Patient"]
    assert BulkExportJob.objects.count() == 2  # the refused kick-off made no job


def test_since_exports_only_what_changed(api, admin, histories, settings):
    settings.BULK_EXPORT_SINCE_OVERLAP_SECONDS = 0
    client = api(admin)
    patient = histories[0]
    long_ago = timezone.now() - timedelta(days=3)
    for model in {type(r) for r in _clinical_rows(histories)}:
        model.all_objects.filter(patient__in=histories).update(updated_at=long_ago)
    type(patient).objects.filter(pk__in=[p.pk for p in histories]).update(updated_at=long_ago)
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    log = PainLog.objects.filter(patient=patient).first()
    record_update(PAIN_LOGS, actor=patient.user, record=log, intensity=(log.intensity + 1) % 11)

    body, files = export_all(client, f"$export?_since={since}")
    assert {e["type"] for e in body["output"]} == {"Observation", "Practitioner"}
    assert [r["id"] for r in files["Observation"]] == [fhir_id("Observation", f"pain/{log.pk}")]
    # An offset written unencoded in the query ("+" read as a space) is understood too.
    job_url = kick_off(client, "$export?_since=2026-01-01T00:00:00+01:00")
    assert BulkExportJob.objects.get(pk=job_url.rsplit("/", 1)[-1]).since.isoformat() == (
        "2025-12-31T23:00:00+00:00"
    )


def _clinical_rows(patients):
    from recovery.record.models import (
        ActivityRestriction,
        Appointment,
        HospitalStay,
        Medication,
        Milestone,
        PTSession,
        Surgery,
    )

    for model in (
        ActivityRestriction,
        Appointment,
        HospitalStay,
        Medication,
        Milestone,
        PTSession,
        Surgery,
        PainLog,
    ):
        yield from model.all_objects.filter(patient__in=patients)[:1]
    from recovery.outcomes.models import OutcomeScore
    from recovery.preparation.models import Complication, ImagingStudy, PrepItem

    for model in (OutcomeScore, Complication, ImagingStudy, PrepItem):
        yield from model.all_objects.filter(patient__in=patients)[:1]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"HTTP_ACCEPT": "application/json"}, "invalid_accept"),
        ({"HTTP_ACCEPT": ""}, "invalid_accept"),
        ({"HTTP_PREFER": ""}, "invalid_prefer"),
        ({"HTTP_PREFER": "return=minimal"}, "invalid_prefer"),
    ],
)
def test_kick_off_needs_the_ig_headers(api, admin, headers, code):
    body = kick_off(api(admin), "$export", status=400, **headers)
    assert body["issue"][0]["details"]["coding"][0]["code"] == code
    assert not BulkExportJob.objects.exists()


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("_since=yesterday", "invalid_since"),
        ("_since=2026-01-01T00:00:00", "invalid_since"),  # no zone
        ("_typeFilter=Observation%3Fcode%3Dx", "unsupported_parameter"),
        ("_elements=id", "unsupported_parameter"),
        ("colour=blue", "unsupported_parameter"),
        ("_outputFormat=text/csv", "unsupported_format"),
    ],
)
def test_bad_parameters_are_a_400_operation_outcome(api, admin, query, code):
    body = kick_off(api(admin), f"$export?{query}", status=400)
    assert body["issue"][0]["code"] == "invalid"
    assert body["issue"][0]["details"]["coding"][0]["code"] == code


def test_output_format_ndjson_spellings_are_accepted(api, admin, histories, settings):
    settings.BULK_EXPORT_MAX_ACTIVE_PER_CLINIC = 5
    for value in ("application/fhir%2Bndjson", "application/ndjson", "ndjson"):
        kick_off(api(admin), f"Patient/{histories[0].pk}/$export?_outputFormat={value}")


def test_only_clinic_admins_export_and_only_their_clinic(
    api, admin, surgeon, patient, clinic, histories, elsewhere
):
    outcome(api(None).get(BASE + "$export", **HEADERS), 401)
    kick_off(api(surgeon), "$export", status=403)
    kick_off(api(patient.user), f"Patient/{patient.pk}/$export", status=403)
    outsider, foreign = elsewhere
    kick_off(api(outsider), f"Group/{clinic.pk}/$export", status=404)
    kick_off(api(outsider), f"Patient/{patient.pk}/$export", status=404)
    kick_off(api(admin), f"Patient/{foreign.pk}/$export", status=404)
    kick_off(api(admin), f"Patient/{fhir_id('Patient', foreign.pk)}/$export", status=404)
    kick_off(api(admin), "Group/999999/$export", status=404)

    status_url = kick_off(api(admin), f"Group/{clinic.pk}/$export")
    job = run(status_url)
    file_url = manifest(api(admin), status_url)["output"][0]["url"].removeprefix(
        "http://testserver"
    )
    colleague = StaffFactory(clinic=clinic, role="clinic_admin")
    for stranger in (outsider, colleague, surgeon, patient.user):
        outcome(api(stranger).get(status_url), 404)
        outcome(api(stranger).get(file_url), 404)
        outcome(api(stranger).delete(status_url), 404)
    outcome(api(None).get(file_url), 401)
    job.refresh_from_db()
    assert job.status == ExportStatus.COMPLETED


def test_cancel_before_the_job_runs(api, admin, histories):
    client = api(admin)
    status_url = kick_off(client, "$export")
    assert outcome(client.delete(status_url), 202)["issue"][0]["severity"] == "information"
    outcome(client.get(status_url), 404)
    outcome(client.delete(status_url), 404)
    job = run(status_url)  # the queued task finds it cancelled and writes nothing
    assert job.status == ExportStatus.CANCELLED and job.output == [] and job.attempts == 0


def test_cancel_after_completion_deletes_the_files(api, admin, histories):
    client = api(admin)
    status_url = kick_off(client, "$export")
    job = run(status_url)
    names = [entry["name"] for entry in job.output]
    assert names and all(storage().exists(name) for name in names)
    file_url = manifest(client, status_url)["output"][0]["url"]
    outcome(client.delete(status_url), 202)
    assert not any(storage().exists(name) for name in names)
    outcome(client.get(file_url.removeprefix("http://testserver")), 404)
    job.refresh_from_db()
    assert job.files_deleted_at is not None


def test_files_expire_and_the_sweep_deletes_them(api, admin, histories, settings):
    settings.BULK_EXPORT_TTL_HOURS = 2
    client = api(admin)
    status_url = kick_off(client, "$export?_type=Patient")
    job = run(status_url)
    assert timedelta(hours=1, minutes=59) < job.expires_at - job.finished_at <= timedelta(hours=2)
    file_url = manifest(client, status_url)["output"][0]["url"].removeprefix("http://testserver")
    assert tasks.bulk_export_sweep_task() == {"purged": 0, "restarted": 0}  # not yet
    BulkExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now())
    outcome(client.get(status_url), 410)
    outcome(client.get(file_url), 410)
    assert tasks.bulk_export_sweep_task() == {"purged": 1, "restarted": 0}
    assert not storage().exists(job.output[0]["name"])
    assert tasks.bulk_export_sweep_task() == {"purged": 0, "restarted": 0}  # twice is harmless


def test_a_running_job_is_not_run_twice_and_a_dead_workers_job_restarts(api, admin, histories):
    client = api(admin)
    status_url = kick_off(client, "$export?_type=Patient")
    job_id = status_url.rsplit("/", 1)[-1]
    now = timezone.now()
    # Another worker holds it (a redelivered message, visibility timeout): this run skips.
    BulkExportJob.objects.filter(pk=job_id).update(
        status=ExportStatus.IN_PROGRESS, attempts=1, lease_until=now + timedelta(minutes=5)
    )
    assert tasks.bulk_export(job_id) == "skipped"
    progress = client.get(status_url)
    outcome(progress, 202)
    assert progress["X-Progress"] == "0% (0 of 0 patients)"
    # That worker died: its lease ran out; the sweep enqueues it, the next run takes it over.
    BulkExportJob.objects.filter(pk=job_id).update(lease_until=now - timedelta(seconds=1))
    assert tasks.bulk_export_sweep_task()["restarted"] == 1
    assert tasks.bulk_export(job_id) == "completed"
    job = BulkExportJob.objects.get(pk=job_id)
    assert job.attempts == 2 and job.output[0]["name"].startswith(f"{job_id}/2/")
    # A job interrupted too often fails instead of looping.
    status_url = kick_off(client, "$export?_type=Patient")
    job_id = status_url.rsplit("/", 1)[-1]
    BulkExportJob.objects.filter(pk=job_id).update(
        status=ExportStatus.IN_PROGRESS, attempts=3, lease_until=now - timedelta(seconds=1)
    )
    assert tasks.bulk_export(job_id) == "skipped"
    body = outcome(client.get(status_url), 500)
    assert "interrupted" in body["issue"][0]["diagnostics"]


def test_a_clinic_runs_a_bounded_number_of_exports(api, admin, settings):
    settings.BULK_EXPORT_MAX_ACTIVE_PER_CLINIC = 1
    client = api(admin)
    kick_off(client, "$export")
    response = client.get(BASE + "$export", **HEADERS)
    outcome(response, 429)
    assert response["Retry-After"] == "60"


def test_the_job_reads_in_queries_per_chunk_of_patients_not_per_row_or_patient(
    api, admin, clinic, surgeon, histories
):
    """Per chunk of patients (2 here): one page query, one query per table, the audit and the
    lease, whatever the number of rows and of patients in the chunk."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(admin)
    first = kick_off(client, "$export")
    with CaptureQueriesContext(connection) as few:
        run(first)
    build_record(histories[2], admin, days=40)
    build_record(PatientFactory(clinic=clinic, surgeon=surgeon), admin, days=15)  # 2 chunks still
    second = kick_off(client, "$export")
    with CaptureQueriesContext(connection) as many:
        run(second)
    assert len(many) == len(few) <= 2 * 25 + 10


def test_every_resource_type_is_known_to_the_type_filter():
    from fhir.resources.R4B import get_fhir_model_class

    for name in RESOURCE_TYPES:
        assert get_fhir_model_class(name).__name__ == name


@pytest.mark.parametrize(
    "path",
    [
        "bulk-status/not-a-uuid",
        "bulk-status/00000000-0000-0000-0000-000000000000",
        "bulk-files/not-a-uuid/Patient.ndjson",
        "Group/abc/$export",
        "Group/99999999999999999999999/$export",
        "Patient/99999999999999999999999/$export",
        "Patient/%C2%B2/$export",
    ],
)
def test_malformed_ids_are_a_404_operation_outcome(api, admin, path):
    response = api(admin).get(BASE + path, **HEADERS)
    assert outcome(response, 404)["issue"][0]["code"] == "not-found"


def test_a_file_not_in_the_manifest_is_a_404(api, admin, histories):
    client = api(admin)
    status_url = kick_off(client, "$export?_type=Patient")
    job = run(status_url)
    for name in ("Observation.ndjson", "Patient.json", "Patient"):
        outcome(client.get(f"{BASE}bulk-files/{job.pk}/{name}"), 404)
