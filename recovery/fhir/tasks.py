"""Celery tasks of the FHIR Bulk Data export. Both are safe to run twice: the job row is the
state (``services._claim`` takes it with a lease; a live lease makes a second run skip)."""

from celery import shared_task
from django.conf import settings

from .patient_export import BUILD_TASK, patient_export_build, patient_exports_purge
from .services import BULK_EXPORT_TASK, bulk_export_run, bulk_export_sweep


@shared_task(
    name=BULK_EXPORT_TASK,
    time_limit=settings.BULK_EXPORT_TIME_LIMIT + 60,
    soft_time_limit=settings.BULK_EXPORT_TIME_LIMIT,
)
def bulk_export(job_id: str) -> str:
    """Writes the NDJSON files of export job ``job_id`` (docs/outcomes-and-fhir.md)."""
    return bulk_export_run(job_id=job_id)


@shared_task(name="recovery.fhir_bulk_export_sweep", time_limit=600, soft_time_limit=570)
def bulk_export_sweep_task() -> dict:
    """Beat, every 15 minutes: deletes the files of expired, cancelled and failed exports and
    enqueues again the jobs whose worker died."""
    return bulk_export_sweep()


@shared_task(name=BUILD_TASK, time_limit=900, soft_time_limit=840)
def patient_export(export_id: str) -> str:
    """Builds a patient's download of their record (docs/api.md, "Downloading my record")."""
    return patient_export_build(export_id=export_id)


@shared_task(name="recovery.patient_exports_purge", time_limit=300, soft_time_limit=270)
def patient_exports_purge_task() -> int:
    """Beat, hourly: deletes the files of patients' downloads past their expiry."""
    return patient_exports_purge()
