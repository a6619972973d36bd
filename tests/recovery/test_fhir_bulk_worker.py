"""The Bulk Data export through a real Celery worker: the kick-off's task crosses a real
broker (a throwaway redis-server), a worker process writes the NDJSON files, the API serves
them with the same token, and every line validates."""

import json
import shutil

import pytest
from fhir.resources.R4B import get_fhir_model_class

from recovery.fhir.models import BulkExportJob, ExportStatus
from tests.conftest import client_for, use_broker
from tests.factories import ClinicFactory, PatientFactory, StaffFactory, build_record
from tests.reminders.procs import Cluster, RedisServer, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
    pytest.mark.timeout(180),
]

HEADERS = {"HTTP_ACCEPT": "application/fhir+json", "HTTP_PREFER": "respond-async"}


@pytest.fixture
def worker(tmp_path, transactional_db, monkeypatch, settings):
    server = RedisServer(tmp_path)
    server.start()
    use_broker(monkeypatch, server.url)
    group = Cluster(tmp_path, server.url, BULK_EXPORT_PATIENT_CHUNK="1")
    # The worker's files (under its REALIGN_VAR_DIR) are the ones this process serves.
    settings.STORAGES = {
        **settings.STORAGES,
        "bulk_exports": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "var" / "bulk_exports")},
        },
    }
    group.worker("bulk", concurrency=1)
    yield group
    group.stop_all()
    server.kill()


def test_a_real_worker_exports_the_clinic(worker):
    clinic = ClinicFactory()
    admin = StaffFactory(clinic=clinic, role="clinic_admin")
    patients = [PatientFactory(clinic=clinic) for _ in range(3)]
    for patient in patients:
        build_record(patient, admin, days=10)
    api = client_for(admin)
    kick_off = api.get(f"/api/v1/fhir/Group/{clinic.pk}/$export", **HEADERS)
    assert kick_off.status_code == 202, kick_off.content
    status_url = kick_off["Content-Location"].removeprefix("http://testserver")

    def finished():
        response = api.get(status_url)
        return response if response.status_code == 200 else None

    try:
        manifest = json.loads(wait_for(finished, 120, interval=0.5, what="the export").content)
    except AssertionError:
        raise AssertionError(worker.log("bulk")[-3000:]) from None
    job = BulkExportJob.objects.get()
    assert job.status == ExportStatus.COMPLETED and job.attempts == 1
    assert job.patients_done == 3
    types = {entry["type"] for entry in manifest["output"]}
    assert {"Patient", "Observation", "Procedure", "Appointment"} <= types
    for entry in manifest["output"]:
        response = api.get(entry["url"].removeprefix("http://testserver"))
        assert response.status_code == 200
        lines = b"".join(response.streaming_content).splitlines()
        assert len(lines) == entry["count"]
        model = get_fhir_model_class(entry["type"])
        for line in lines:
            model.model_validate_json(line)
    assert "recovery.fhir_bulk_export" in worker.log("bulk")
