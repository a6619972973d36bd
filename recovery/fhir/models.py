"""FHIR Bulk Data export jobs (docs/outcomes-and-fhir.md, "Bulk Data export").

A job is one kick-off of ``$export``: who asked, for which clinic (and which patient, at the
patient level), with which ``_type`` and ``_since``; its status, its progress in patients, and
the NDJSON files it wrote (``output``: ``[{"type", "name", "count"}]``, ``name`` being the path
in the bulk export storage). The row is the source of truth: the Celery task claims it with a
lease, a worker that died leaves a lease that expires, and the files go when the job expires,
is cancelled or fails.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Clinic, PatientProfile


class ExportLevel(models.TextChoices):
    SYSTEM = "system"  # [base]/$export: the caller's clinic
    GROUP = "group"  # [base]/Group/{clinic id}/$export
    PATIENT = "patient"  # [base]/Patient/$export (every patient) or Patient/{id}/$export


class ExportStatus(models.TextChoices):
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (ExportStatus.ACCEPTED, ExportStatus.IN_PROGRESS)


class BulkExportJob(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    level = models.CharField(max_length=10, choices=ExportLevel.choices)
    patient = models.ForeignKey(
        PatientProfile,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Patient/{id}/$export: the one patient exported",
    )
    types = models.JSONField(default=list, blank=True, help_text="_type; empty: every type")
    since = models.DateTimeField(null=True, blank=True, help_text="_since")
    request_url = models.CharField(max_length=2000, help_text="the kick-off URL, as asked")
    status = models.CharField(
        max_length=12, choices=ExportStatus.choices, default=ExportStatus.ACCEPTED
    )
    transaction_time = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="files are deleted then (BULK_EXPORT_TTL_HOURS)"
    )
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="a worker holds the job until then"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    patients_total = models.PositiveIntegerField(default=0)
    patients_done = models.PositiveIntegerField(default=0)
    output = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    files_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["clinic", "created_at"], name="bulk_export_clinic_created"),
            models.Index(fields=["status", "expires_at"], name="bulk_export_status_expires"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level=ExportLevel.PATIENT) | models.Q(patient__isnull=True),
                name="bulk_export_patient_only_at_patient_level",
                violation_error_code="invalid",
                violation_error_message="Only a patient-level export names one patient.",
            ),
            models.CheckConstraint(
                condition=models.Q(patients_done__lte=models.F("patients_total")),
                name="bulk_export_progress_in_range",
                violation_error_code="invalid",
                violation_error_message="An export cannot have done more patients than it has.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=ExportStatus.COMPLETED)
                | models.Q(finished_at__isnull=False, expires_at__isnull=False),
                name="bulk_export_completed_has_times",
                violation_error_code="required",
                violation_error_message="A finished export needs when it finished and expires.",
            ),
        ]

    def __str__(self):
        return f"$export {self.level} of clinic {self.clinic_id} ({self.status})"

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class PatientExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    EXPIRED = "expired"


class PatientExport(models.Model):
    """A patient's download of everything held about them (docs/api.md, "Downloading my
    record"): a zip with the FHIR Bundle and one CSV per table, built by a Celery task, kept
    ``PATIENT_EXPORT_TTL_HOURS``. ``progress`` is the percent of the tables written."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=10, choices=PatientExportStatus.choices, default=PatientExportStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    file_name = models.CharField(max_length=255, blank=True)
    byte_size = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "-created_at"], name="patient_export_latest")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__lte=100),
                name="patient_export_progress_percent",
                violation_error_code="invalid",
                violation_error_message="Progress is a percentage.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="ready")
                | (~models.Q(file_name="") & models.Q(expires_at__isnull=False)),
                name="patient_export_ready_has_file",
                violation_error_code="required",
                violation_error_message="A ready export needs its file and when it expires.",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(status__in=["queued", "running"]),
                name="patient_export_one_active",
                violation_error_code="duplicate",
                violation_error_message="Your record is already being prepared.",
            ),
        ]

    def __str__(self):
        return f"export of {self.patient_id} ({self.status})"
