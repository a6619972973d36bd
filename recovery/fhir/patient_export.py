"""Downloading my record: everything the project holds about one patient, for the patient.

``patient_export_request`` (the patient, ``POST /api/v1/me/exports/``) queues a job, or returns
the one already queued or running. The Celery task ``recovery.patient_export_build`` writes a
zip to the ``PATIENT_EXPORT_STORAGE`` storage: ``fhir-bundle.json`` (the patient's FHIR Bundle,
``bundle_stream``: every resource, the access history too) and one CSV per table of the record
(every registered ``RecordKind``: every column the database holds, tombstoned rows included
with their ``deleted_at``), updating ``progress`` table by table; then e-mails the patient a
link into the app (``APP_LINK_BASE`` + ``export?id=``). The app downloads the zip with the
patient's own token (``GET /api/v1/me/exports/{id}/download/``) until ``expires_at``
(``PATIENT_EXPORT_TTL_HOURS``); the purge task deletes expired files. A patient's own reads
are not PHI-logged (accounts/audit.py).
"""

import csv
import io
import logging
import tempfile
import zipfile
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from accounts.emails import app_link, templated_mail_send
from accounts.models import PatientProfile
from recovery.record.writes import registered_kinds

from .bundle import bundle_stream
from .models import PatientExport, PatientExportStatus

logger = logging.getLogger(__name__)
BUILD_TASK = "recovery.patient_export_build"
ACTIVE = (PatientExportStatus.QUEUED, PatientExportStatus.RUNNING)


def storage():
    return storages[settings.PATIENT_EXPORT_STORAGE]


def patient_export_request(*, patient: PatientProfile) -> tuple[PatientExport, bool]:
    """The patient's queued or running export, or a new one queued after commit."""
    with transaction.atomic():
        PatientProfile.objects.select_for_update().filter(pk=patient.pk).first()
        active = PatientExport.objects.filter(patient=patient, status__in=ACTIVE).first()
        if active is not None:
            return active, False
        export = PatientExport.objects.create(patient=patient)
        transaction.on_commit(lambda: current_app.send_task(BUILD_TASK, args=(str(export.pk),)))
    return export, True


def patient_export_build(*, export_id: str) -> str:
    """Builds the zip. Safe to run twice: a job that is not queued is left as it is."""
    with transaction.atomic():
        export = (
            PatientExport.objects.select_for_update()
            .select_related("patient__user")
            .filter(pk=export_id, status=PatientExportStatus.QUEUED)
            .first()
        )
        if export is None:
            return "skipped"
        export.status = PatientExportStatus.RUNNING
        export.save(update_fields=["status"])
    try:
        name, size = _write_zip(export)
    except Exception as exc:
        logger.exception("patient export %s failed", export_id)
        PatientExport.objects.filter(pk=export.pk).update(
            status=PatientExportStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    now = timezone.now()
    export.status, export.progress, export.file_name, export.byte_size = (
        PatientExportStatus.READY,
        100,
        name,
        size,
    )
    export.finished_at, export.expires_at = (
        now,
        now + timedelta(hours=settings.PATIENT_EXPORT_TTL_HOURS),
    )
    export.save(
        update_fields=[
            "status",
            "progress",
            "file_name",
            "byte_size",
            "finished_at",
            "expires_at",
        ]
    )
    _tell_patient(export)
    return "ready"


def patient_exports_purge(*, now=None) -> int:
    """Deletes the files of exports past ``expires_at``. Returns how many."""
    now = now or timezone.now()
    done = 0
    for export in PatientExport.objects.filter(
        status=PatientExportStatus.READY, expires_at__lte=now
    ):
        storage().delete(export.file_name)
        export.status, export.file_name = PatientExportStatus.EXPIRED, ""
        export.save(update_fields=["status", "file_name"])
        done += 1
    return done


# --- the zip ----------------------------------------------------------------------------------


def _write_zip(export: PatientExport) -> tuple[str, int]:
    patient = export.patient
    kinds = registered_kinds()
    steps = len(kinds) + 1
    with tempfile.TemporaryFile() as spool:
        with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with archive.open("fhir-bundle.json", "w") as out:
                for piece in bundle_stream(patient=patient):
                    out.write(piece)
            _progress(export, 1, steps)
            for done, kind in enumerate(kinds, start=2):
                with archive.open(f"csv/{kind.table}.csv", "w") as out:
                    _write_csv(kind.model, patient, io.TextIOWrapper(out, "utf-8", newline=""))
                _progress(export, done, steps)
        size = spool.tell()
        spool.seek(0)
        name = storage().save(f"patient-{patient.pk}/{export.pk}.zip", File(spool))
    return name, size


def _write_csv(model, patient, text) -> None:
    fields = [f for f in model._meta.concrete_fields]
    writer = csv.writer(text)
    writer.writerow([f.attname for f in fields])
    rows = (
        model.all_objects.filter(patient=patient)
        .order_by("pk")
        .values_list(*[f.attname for f in fields])
    )
    for row in rows.iterator(chunk_size=500):
        writer.writerow(["" if v is None else v for v in row])
    text.flush()
    text.detach()


def _progress(export: PatientExport, done: int, steps: int) -> None:
    PatientExport.objects.filter(pk=export.pk).update(progress=min(99, done * 100 // steps))


def _tell_patient(export: PatientExport) -> None:
    """The e-mail never undoes a finished export: the app shows the download either way."""
    user = export.patient.user
    try:
        _mail(export, user)
    except Exception:
        logger.exception("patient export %s: the e-mail failed", export.pk)


def _mail(export: PatientExport, user) -> None:
    templated_mail_send(
        name="patient_export",
        to=user.email,
        context={
            "first_name": user.first_name,
            "link": app_link("export", id=str(export.pk)),
            "expires_at": timezone.localtime(export.expires_at, export.patient.tz),
            "time_zone": export.patient.time_zone,
        },
    )
