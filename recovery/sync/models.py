"""The rejected-record store: what a push refused, kept as sent (docs/sync.md, "Refused records").

A push applies every acceptable record and quarantines each record it refuses for a reason
other than a conflict (a value the rules refuse, a table or row the patient may not write, an
id another patient's record holds): the raw record as the phone sent it, where it was going,
why (the API's error shape), who sent it from which device, and when. Nothing a phone sent is
thrown away; the phone converges on the server's truth at its next pull, and the care team
sees the refusal (admin, timeline, an alert for a check-in) and may replay it once the cause is
fixed. Rows older than ``SYNC_REJECTED_RETENTION_DAYS`` are purged by a beat task.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import PatientProfile


class RejectedStatus(models.TextChoices):
    OPEN = "open"  # kept, not acted on yet
    REPLAYED = "replayed"  # applied through the services after the cause was fixed
    DISMISSED = "dismissed"  # the care team decided not to apply it


class RejectedRecord(models.Model):
    patient = models.ForeignKey(
        PatientProfile, on_delete=models.CASCADE, related_name="rejected_records"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    table_name = models.CharField(max_length=40)
    record_id = models.CharField(max_length=36)
    section = models.CharField(max_length=10)  # created | updated | deleted
    raw = models.JSONField(help_text="the record exactly as the phone sent it")
    errors = models.JSONField(
        help_text='the reasons, as the API says them: [{"code", "detail", "attr"}]'
    )
    device = models.CharField(max_length=200, blank=True, help_text="the app's User-Agent")
    last_pulled_at = models.BigIntegerField()
    sync_version = models.BigIntegerField(
        help_text="the patient's clock at the push: the next pull sends the server's truth"
    )
    rejected_at = models.DateTimeField(default=timezone.now)
    times_sent = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=RejectedStatus.choices, default=RejectedStatus.OPEN
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.TextField(max_length=2000, blank=True)

    class Meta:
        db_table = "recovery_rejected_record"
        indexes = [
            models.Index(fields=["patient", "sync_version"], name="rejected_patient_sync"),
            models.Index(fields=["patient", "rejected_at"], name="rejected_patient_time"),
            models.Index(fields=["rejected_at"], name="rejected_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="open") | models.Q(handled_at__isnull=False),
                name="rejected_handled_has_when",
                violation_error_code="required",
                violation_error_message="A handled refused record needs the time it was handled.",
            ),
        ]

    def __str__(self):
        return f"{self.table_name} {self.record_id} refused {self.rejected_at:%Y-%m-%d %H:%M}"

    @property
    def codes(self) -> list[str]:
        return sorted({e.get("code", "") for e in self.errors or []})
