"""FHIR Bulk Data export (docs/outcomes-and-fhir.md, "Bulk Data export"): start, run, cancel,
sweep.

- ``bulk_export_parameters`` reads ``_type``, ``_since`` and ``_outputFormat`` (unknown types
  and unsupported parameters are a 400, or ignored with ``Prefer: handling=lenient``).
- ``bulk_export_start`` checks who asks (a clinic admin of the clinic; another clinic's group
  or patient is a 404), creates the job and enqueues ``recovery.fhir_bulk_export`` after
  commit, by its stable name (the task module imports this one).
- ``bulk_export_run`` is the task's body: it claims the job with a lease, walks the patients in
  keyset chunks of ``BULK_EXPORT_PATIENT_CHUNK`` (each chunk's resources built one at a time by
  ``bundle.resources_of``: one query per table per chunk) and writes every resource as one NDJSON line to a
  temporary file per resource type, so memory holds one chunk of patients and one table chunk
  of rows, never the clinic. After each chunk it renews its lease, counts progress and writes
  the PHI access log; a cancel seen there stops it. The files then go to the bulk export
  storage (``django.core.files.storage``: a directory under ``var/`` or any other backend).
- ``bulk_export_cancel`` (DELETE on the status URL) and ``bulk_export_sweep`` (beat) delete
  files of cancelled, failed and expired jobs, and restart jobs whose worker died.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import orjson
from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.audit import phi_access_record
from accounts.models import Clinic, PatientProfile, PHIAccess, User
from accounts.roles import is_clinic_admin
from accounts.selectors import patients_for
from config.errors import Forbidden, Invalid, NotFound, TooManyRequests

from .bundle import RESOURCE_TYPES, fhir_id, relative_references, resources_of
from .models import ACTIVE, BulkExportJob, ExportLevel, ExportStatus

logger = logging.getLogger(__name__)

BULK_EXPORT_TASK = "recovery.fhir_bulk_export"
NDJSON_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
SUPPORTED_PARAMETERS = {"_type", "_since", "_outputFormat"}
# Parameters of the IG this server does not implement: a 400 naming them (lenient: ignored).
UNSUPPORTED_PARAMETERS = {"_typeFilter", "_elements", "includeAssociatedData", "patient"}
AUDIT_RESOURCE = "fhir_bulk"


def storage():
    return storages[settings.BULK_EXPORT_STORAGE]


# --- kick-off ---------------------------------------------------------------------------------


def _instant(value: str) -> datetime:
    # An unencoded "+01:00" in a query string arrives as " 01:00".
    parsed = parse_datetime(value.strip().replace(" ", "+"))
    if parsed is None or parsed.tzinfo is None:
        raise Invalid(
            "_since must be a FHIR instant with a time zone, e.g. 2026-01-01T00:00:00Z.",
            code="invalid_since",
            attr="_since",
        )
    return parsed


def bulk_export_parameters(
    *, query: Mapping[str, list[str]], lenient: bool = False
) -> tuple[list[str], datetime | None]:
    """``(types, since)`` from the kick-off's query parameters (each name to its values).
    ``types`` is empty for every type."""
    names = set(query)
    unsupported = sorted(names & UNSUPPORTED_PARAMETERS)
    unknown = sorted(names - SUPPORTED_PARAMETERS - UNSUPPORTED_PARAMETERS)
    if (unsupported or unknown) and not lenient:
        raise Invalid(
            f"This server does not support the parameter(s) {', '.join(unsupported + unknown)}.",
            code="unsupported_parameter",
            attr=(unsupported + unknown)[0],
        )
    for value in query.get("_outputFormat", []):
        if value not in NDJSON_FORMATS:
            raise Invalid(
                f"_outputFormat {value!r} is not supported; use application/fhir+ndjson.",
                code="unsupported_format",
                attr="_outputFormat",
            )
    types: list[str] = []
    for value in query.get("_type", []):
        for name in value.split(","):
            name = name.strip()
            if name and name not in types:
                types.append(name)
    unknown_types = [t for t in types if t not in RESOURCE_TYPES]
    if unknown_types:
        if not lenient:
            raise Invalid(
                f"Unknown or unsupported resource type(s): {', '.join(unknown_types)}. "
                f"Supported: {', '.join(RESOURCE_TYPES)}.",
                code="unsupported_type",
                attr="_type",
            )
        types = [t for t in types if t in RESOURCE_TYPES]
        if not types:
            raise Invalid(
                "None of the requested resource types is supported.",
                code="unsupported_type",
                attr="_type",
            )
    since_values = query.get("_since", [])
    if len(since_values) > 1:
        raise Invalid("Give _since once.", code="invalid_since", attr="_since")
    since = _instant(since_values[0]) if since_values else None
    return types, since


def is_row_id(key: str) -> bool:
    """An integer primary key as a path gives it: ASCII digits that fit a bigint."""
    return key.isascii() and key.isdigit() and len(key) <= 18


def _patient_in_scope(user: User, key: str) -> PatientProfile:
    """``Patient/{id}``: the patient's API id, or the id of its FHIR Patient resource."""
    scope = patients_for(user)
    if is_row_id(key):
        patient = scope.filter(pk=int(key)).first()
    else:
        patient = next(
            (
                scope.get(pk=pk)
                for pk in scope.values_list("pk", flat=True).iterator(chunk_size=2000)
                if fhir_id("Patient", pk) == key
            ),
            None,
        )
    if patient is None:
        raise NotFound("No such patient.", code="not_found")
    return patient


def bulk_export_check_caller(*, user: User) -> None:
    """Only a clinic admin (the role of a service account too) may start an export."""
    if not is_clinic_admin(user):
        raise Forbidden("Bulk export is for clinic admins.", code="permission_denied")


def bulk_export_start(
    *,
    user: User,
    level: str,
    request_url: str,
    types: Iterable[str] = (),
    since: datetime | None = None,
    clinic_id: int | None = None,
    patient_key: str | None = None,
) -> BulkExportJob:
    """Creates an export job and enqueues it after commit. Only a clinic admin (the role of a
    service account too) may export, and only their clinic: another clinic's group or patient
    is a 404."""
    bulk_export_check_caller(user=user)
    patient = None
    if level == ExportLevel.GROUP:
        if clinic_id is None or (not user.is_superuser and clinic_id != user.clinic_id):
            raise NotFound("No such group.", code="not_found")
        if not Clinic.objects.filter(pk=clinic_id).exists():
            raise NotFound("No such group.", code="not_found")
    elif level == ExportLevel.PATIENT and patient_key is not None:
        patient = _patient_in_scope(user, patient_key)
        clinic_id = patient.clinic_id
    else:
        clinic_id = user.clinic_id
        if clinic_id is None:
            raise Invalid(
                "You belong to no clinic: export a clinic with Group/{clinic id}/$export.",
                code="no_clinic",
            )
    with transaction.atomic():
        # One kick-off of a clinic at a time decides whether another may start.
        Clinic.objects.select_for_update().filter(pk=clinic_id).first()
        active = BulkExportJob.objects.filter(clinic_id=clinic_id, status__in=ACTIVE).count()
        if active >= settings.BULK_EXPORT_MAX_ACTIVE_PER_CLINIC:
            raise TooManyRequests(
                f"This clinic already has {active} exports running; try again when one ends.",
                code="too_many_exports",
                extra={"retry_after": 60},
            )
        job = BulkExportJob(
            clinic_id=clinic_id,
            requested_by=user,
            level=level,
            patient=patient,
            types=list(types),
            since=since,
            request_url=request_url[:2000],
            transaction_time=timezone.now(),
        )
        job.full_clean()
        job.save()
        _enqueue_on_commit(job.pk)
    return job


def _enqueue_on_commit(job_id) -> None:
    transaction.on_commit(lambda: current_app.send_task(BULK_EXPORT_TASK, args=(str(job_id),)))


# --- the job ----------------------------------------------------------------------------------


def _patients_of(job: BulkExportJob):
    if job.patient_id is not None:
        return PatientProfile.objects.filter(pk=job.patient_id, clinic_id=job.clinic_id)
    return PatientProfile.objects.filter(clinic_id=job.clinic_id)


def _claim(job_id: str) -> BulkExportJob | None:
    """Takes the job for this worker: an accepted one, or one whose worker's lease ran out.
    None when it is gone, finished, or held by a live worker."""
    now = timezone.now()
    with transaction.atomic():
        job = BulkExportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in ACTIVE:
            return None
        if job.status == ExportStatus.IN_PROGRESS and job.lease_until and job.lease_until > now:
            return None
        if job.attempts >= settings.BULK_EXPORT_MAX_ATTEMPTS:
            job.status = ExportStatus.FAILED
            job.finished_at = now
            job.error = f"The export was interrupted {job.attempts} times."
            job.save(update_fields=["status", "finished_at", "error"])
            return None
        job.status = ExportStatus.IN_PROGRESS
        job.attempts += 1
        job.started_at = now
        job.lease_until = now + timedelta(seconds=settings.BULK_EXPORT_LEASE_SECONDS)
        job.patients_done = 0
        job.patients_total = _patients_of(job).count()
        job.save(
            update_fields=[
                "status",
                "attempts",
                "started_at",
                "lease_until",
                "patients_done",
                "patients_total",
            ]
        )
    return job


def _mine(job: BulkExportJob):
    """The job's row while this worker (this attempt) still holds it."""
    return BulkExportJob.objects.filter(
        pk=job.pk, status=ExportStatus.IN_PROGRESS, attempts=job.attempts
    )


def _patient_chunks(job: BulkExportJob):
    """Keyset pages of the job's patients, each with its user (one query a page)."""
    last = 0
    size = settings.BULK_EXPORT_PATIENT_CHUNK
    while True:
        chunk = list(
            _patients_of(job).filter(pk__gt=last).select_related("user").order_by("pk")[:size]
        )
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


class _Stopped(Exception):
    """The job was cancelled, or another worker took it over."""


def bulk_export_run(*, job_id: str) -> str:
    """Runs the export job ``job_id``: returns what became of it (a word, for the task log)."""
    job = _claim(job_id)
    if job is None:
        return "skipped"
    files: dict[str, tempfile._TemporaryFileWrapper] = {}
    counts: dict[str, int] = {}
    saved: list[dict] = []
    since = (
        job.since - timedelta(seconds=settings.BULK_EXPORT_SINCE_OVERLAP_SECONDS)
        if job.since
        else None
    )
    types = set(job.types) or None
    practitioners_seen: set[int] = set()
    try:
        done = 0
        with relative_references():
            for chunk in _patient_chunks(job):
                for resource in resources_of(
                    patients=chunk,
                    types=types,
                    since=since,
                    practitioners_seen=practitioners_seen,
                ):
                    kind = resource["resourceType"]
                    out = files.get(kind)
                    if out is None:
                        out = files[kind] = tempfile.NamedTemporaryFile(  # noqa: SIM115
                            prefix=f"bulk-{job.pk}-{kind}-", suffix=".ndjson"
                        )
                        counts[kind] = 0
                    out.write(orjson.dumps(resource))
                    out.write(b"\n")
                    counts[kind] += 1
                done += len(chunk)
                phi_access_record(
                    user=job.requested_by,
                    patient_ids=[p.pk for p in chunk],
                    action="export",
                    resource=AUDIT_RESOURCE,
                    object_id=str(job.pk),
                )
                renewed = _mine(job).update(
                    patients_done=done,
                    patients_total=max(done, job.patients_total),
                    lease_until=timezone.now()
                    + timedelta(seconds=settings.BULK_EXPORT_LEASE_SECONDS),
                )
                if not renewed:
                    raise _Stopped
        store = storage()
        for kind in RESOURCE_TYPES:
            if kind not in files:
                continue
            out = files[kind]
            out.flush()
            out.seek(0)
            name = store.save(f"{job.pk}/{job.attempts}/{kind}.ndjson", File(out))
            saved.append({"type": kind, "name": name, "count": counts[kind]})
        now = timezone.now()
        finished = _mine(job).update(
            status=ExportStatus.COMPLETED,
            finished_at=now,
            expires_at=now + timedelta(hours=settings.BULK_EXPORT_TTL_HOURS),
            lease_until=None,
            output=saved,
            patients_done=F("patients_total"),
        )
        if not finished:
            raise _Stopped
        return "completed"
    except _Stopped:
        _delete_names([entry["name"] for entry in saved])
        return "stopped"
    except SoftTimeLimitExceeded:
        _fail(job, saved, "The export took longer than its time limit.")
        return "failed"
    except Exception:
        logger.exception("bulk export %s failed", job.pk)
        _fail(job, saved, "The export failed on the server.")
        return "failed"
    finally:
        for out in files.values():
            out.close()


def _fail(job: BulkExportJob, saved: list[dict], error: str) -> None:
    _delete_names([entry["name"] for entry in saved])
    _mine(job).update(
        status=ExportStatus.FAILED, finished_at=timezone.now(), lease_until=None, error=error
    )


def _delete_names(names: Iterable[str]) -> None:
    store = storage()
    for name in names:
        store.delete(name)


def _delete_files(job: BulkExportJob) -> None:
    """Deletes the job's files (outside any transaction: a storage may be a network call)."""
    _delete_names(entry["name"] for entry in job.output)
    BulkExportJob.objects.filter(pk=job.pk).update(files_deleted_at=timezone.now())


# --- cancel and sweep -------------------------------------------------------------------------


def bulk_export_cancel(*, job: BulkExportJob) -> None:
    """DELETE on the status URL: the job stops (a running worker sees it after its chunk) and
    its files are deleted. ``job`` comes from ``selectors.bulk_export_for``."""
    with transaction.atomic():
        locked = BulkExportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == ExportStatus.CANCELLED:
            raise NotFound("No such export.", code="not_found")
        locked.status = ExportStatus.CANCELLED
        locked.finished_at = locked.finished_at or timezone.now()
        locked.lease_until = None
        locked.save(update_fields=["status", "finished_at", "lease_until"])
    _delete_files(locked)


def bulk_export_sweep(*, now: datetime | None = None) -> dict:
    """Beat: deletes the files of expired, cancelled and failed exports, and enqueues again the
    jobs no worker holds (the enqueue was lost, or the worker died). Safe to run twice."""
    now = now or timezone.now()
    purged = 0
    done = BulkExportJob.objects.filter(files_deleted_at__isnull=True).exclude(output=[])
    for job in (
        done.filter(status=ExportStatus.COMPLETED, expires_at__lte=now)
        | done.filter(status__in=[ExportStatus.CANCELLED, ExportStatus.FAILED])
    ).iterator():
        _delete_files(job)
        purged += 1
    stale = BulkExportJob.objects.filter(
        status=ExportStatus.IN_PROGRESS, lease_until__lt=now
    ) | BulkExportJob.objects.filter(
        status=ExportStatus.ACCEPTED,
        created_at__lt=now - timedelta(seconds=settings.BULK_EXPORT_LEASE_SECONDS),
    )
    restarted = 0
    for job_id in stale.values_list("pk", flat=True):
        current_app.send_task(BULK_EXPORT_TASK, args=(str(job_id),))
        restarted += 1
    return {"purged": purged, "restarted": restarted}


def bulk_export_downloaded(*, job: BulkExportJob, user: User, resource_type: str, request) -> None:
    """The PHI access log of one file download: a row per patient the export read (the rows
    its worker logged)."""
    patient_ids = set(
        PHIAccess.objects.filter(
            clinic_id=job.clinic_id,
            at__gte=job.created_at,
            action="export",
            resource=AUDIT_RESOURCE,
            object_id=str(job.pk),
        ).values_list("patient_id", flat=True)
    )
    phi_access_record(
        user=user,
        patient_ids=patient_ids,
        action="download",
        resource=f"{AUDIT_RESOURCE}/{resource_type}",
        request=request,
        object_id=str(job.pk),
    )
