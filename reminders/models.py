"""Reminder rows are the source of truth for every notification (design.md section 6).

A reminder is planned in the same transaction as its cause and knows the cause only by two
strings (``cause_type``, ``cause_id``): this app never imports the clinical record. Redis carries
work, never state: the dispatcher finds due rows here, so a lost message or a dead worker delays a
reminder by at most one lease, and loses nothing.
"""

import secrets

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import Clinic, PatientProfile

ID_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9_-]{1,36}$", "Ids are 1-36 characters from A-Z, a-z, 0-9, _ and -."
)


def new_id() -> str:
    """A server-generated string id (22 url-safe characters), as WatermelonDB accepts."""
    return secrets.token_urlsafe(16)


class ReminderKind(models.TextChoices):
    APPOINTMENT = "appointment", "Appointment"
    PT_SESSION = "pt_session", "PT session"
    RESTRICTION_END = "restriction_end", "Restriction ends"
    MILESTONE = "milestone", "Milestone"
    DAILY_CHECKIN = "daily_checkin", "Daily pain check-in"
    OUTCOME = "outcome", "Outcome questionnaire due"
    PREP_ITEM = "prep_item", "Preparation checklist item due"


class ReminderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CLAIMED = "claimed", "Claimed"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


OPEN_STATUSES = (ReminderStatus.PENDING, ReminderStatus.CLAIMED)


class Channel(models.TextChoices):
    PUSH = "push", "Push"
    EMAIL = "email", "E-mail"
    INBOX = "inbox", "In-app inbox"


class Reminder(models.Model):
    """One notification on one channel, planned for one instant.

    ``due_at`` is when it should go out (UTC, after quiet hours). ``available_at`` is when the
    dispatcher may take the row next: the due time while pending, the end of the lease while
    claimed, the retry time after a transient failure.

    ``recipient`` is empty for the patient's own row; a caregiver whose active grant carries
    the ``reminders`` scope gets a copy of each push and e-mail row of their own (same due time,
    the patient's local time and quiet hours; dedup key suffixed ``:cg<user id>``), claimed,
    retried and failed on its own. The intent it was computed from
    (``anchor_at`` or ``anchor_date`` and the plan ``step``) is kept so that a new time zone,
    check-in time or quiet hours re-derive the due time.
    """

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="reminders")
    recipient = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="caregiver_reminders",
        help_text="Empty: the patient. Else the caregiver who gets this copy (reminders scope).",
    )
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    cause_type = models.CharField(max_length=40)
    cause_id = models.CharField(max_length=64)
    title = models.CharField(max_length=200, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    step = models.JSONField(default=dict, help_text="The plan step this row was planned from.")
    anchor_at = models.DateTimeField(null=True, blank=True)
    anchor_date = models.DateField(null=True, blank=True)
    due_at = models.DateTimeField()
    available_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=ReminderStatus.choices, default=ReminderStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    dedup_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ReminderStatus.values),
                name="reminder_status_valid",
                violation_error_code="invalid_choice",
                violation_error_message="This is not a status a reminder can have.",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=Channel.values),
                name="reminder_channel_valid",
                violation_error_code="invalid_choice",
                violation_error_message="This is not a channel a reminder can be sent on.",
            ),
            models.CheckConstraint(
                condition=models.Q(recipient__isnull=True) | ~models.Q(channel=Channel.INBOX),
                name="reminder_inbox_is_the_patients",
                violation_error_code="invalid",
                violation_error_message="The in-app inbox is the patient's own: a caregiver's "
                "copy goes by push or e-mail.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status=ReminderStatus.SENT) | models.Q(sent_at__isnull=False),
                name="reminder_sent_has_sent_at",
                violation_error_code="required",
                violation_error_message="A sent reminder needs the time it was sent.",
            ),
        ]
        indexes = [
            # The dispatcher's query: open rows whose time has come, oldest first.
            models.Index(
                fields=["available_at"],
                condition=models.Q(status__in=["pending", "claimed"]),
                name="reminder_open_available",
            ),
            models.Index(fields=["cause_type", "cause_id"], name="reminder_cause"),
            models.Index(
                fields=["recipient", "patient"],
                condition=models.Q(recipient__isnull=False),
                name="reminder_caregiver_copies",
            ),
            models.Index(fields=["patient", "status", "due_at"], name="reminder_patient_status"),
            models.Index(
                fields=["patient", "sent_at"],
                condition=models.Q(status="sent"),
                name="reminder_patient_sent",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.channel}) for {self.patient_id} at {self.due_at:%Y-%m-%d %H:%M}Z"


class ReminderPlan(models.Model):
    """A clinic's plan for one kind: the steps that replace the default plan (data, not code).

    Each step is ``{"key": "1d", "minutes": -1440}`` (relative to the anchor instant) or
    ``{"key": "on_day", "days": 0, "at": "09:00"}`` (local time on a day relative to the anchor's
    local date), optionally with ``"urgent": true`` (ignores quiet hours).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="reminder_plans")
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    steps = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "kind"],
                name="reminder_plan_unique",
                violation_error_code="duplicate",
                violation_error_message="This clinic already has a plan for this kind of reminder.",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} plan of {self.clinic}"

    def clean(self):
        from .planning import validate_steps

        validate_steps(kind=self.kind, steps=self.steps)


class DevicePlatform(models.TextChoices):
    ANDROID = "android", "Android (FCM)"
    IOS = "ios", "iOS (APNs through FCM)"


class Device(models.Model):
    """A push token of one of the patient's phones. Tokens FCM reports as unregistered are
    deactivated, never deleted, so the admin can see why a push did not arrive."""

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="devices")
    token = models.CharField(max_length=4096)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    platform = models.CharField(max_length=10, choices=DevicePlatform.choices)
    active = models.BooleanField(default=True)
    deactivated_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "active"], name="device_patient_active")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platform__in=DevicePlatform.values),
                name="device_platform_valid",
                violation_error_code="invalid_choice",
                violation_error_message="The platform must be android or ios.",
            ),
        ]

    def __str__(self):
        return f"{self.get_platform_display()} device of {self.patient_id}"


class StaffDevice(models.Model):
    """A push token of the phone of a user who is not a patient: a clinician (urgent red-flag
    alerts reach the care team there) or a caregiver (the patient's reminders, when their grant
    carries the ``reminders`` scope)."""

    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="push_devices")
    token = models.CharField(max_length=4096)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    platform = models.CharField(max_length=10, choices=DevicePlatform.choices)
    active = models.BooleanField(default=True)
    deactivated_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "active"], name="staffdevice_user_active")]

    def __str__(self):
        return f"{self.get_platform_display()} device of user {self.user_id}"


class Notification(models.Model):
    """The in-app inbox (wire name ``notifications``), synced to the app like clinical rows:
    string id, tombstone, and ``sync_version`` stamped from the patient's clock on every write."""

    id = models.CharField(
        primary_key=True, max_length=36, default=new_id, validators=[ID_VALIDATOR]
    )
    patient = models.ForeignKey(
        PatientProfile, on_delete=models.CASCADE, related_name="notifications"
    )
    reminder = models.OneToOneField(
        Reminder, null=True, blank=True, on_delete=models.SET_NULL, related_name="notification"
    )
    kind = models.CharField(max_length=20, choices=ReminderKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    sync_version = models.BigIntegerField(default=0)

    objects = models.Manager()
    all_objects = models.Manager()

    class Meta:
        db_table = "reminders_notification"
        indexes = [
            models.Index(fields=["patient", "sync_version"], name="notification_patient_sync"),
            models.Index(
                fields=["patient", "-created_at", "-id"], name="notification_patient_list"
            ),
        ]

    def __str__(self):
        return self.title
