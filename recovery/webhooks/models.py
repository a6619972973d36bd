"""A clinic's webhook endpoints, the outbox of events its changes caused, and the deliveries of
each event to each endpoint with a log of every attempt.

The event row is the outbox: it is written in the same transaction as the change that caused it
(``events.webhook_event_emit``), with one ``WebhookDelivery`` per endpoint that wants it, so a
rolled-back change emits nothing and a committed one is never lost: a delivery stays ``pending``
until an attempt succeeds or the attempts run out, whatever happens to the Celery messages.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Clinic


class EventType(models.TextChoices):
    """The events a clinic may subscribe to (``docs/webhooks.md``). A new source of events adds
    its type here and emits it with ``webhook_events_emit`` from a write hook in
    ``recovery/webhooks/kinds.py``."""

    ALERT_OPENED = "alert.opened", "Alert opened"
    ALERT_ESCALATED = "alert.escalated", "Alert escalated (not acknowledged in time)"
    ALERT_ACKNOWLEDGED = "alert.acknowledged", "Alert acknowledged"
    ALERT_RESOLVED = "alert.resolved", "Alert resolved"
    OUTCOME_SCORE_RECORDED = "outcome_score.recorded", "Outcome score recorded"
    CHECK_IN_RECORDED = "check_in.recorded", "Check-in recorded"
    APPOINTMENT_MISSED = "appointment.missed", "Appointment missed"
    WOUND_PHOTO_UPLOADED = "wound_photo.uploaded", "Wound photo uploaded"


class WebhookEndpoint(models.Model):
    """A URL of a clinic that receives the events it subscribed to, signed with its secret."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000, help_text="https://... (receives POST requests)")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, help_text="the event types this endpoint receives (EventType values)"
    )
    is_active = models.BooleanField(
        default=True, help_text="Off: nothing is sent (turned off after repeated failures)."
    )
    # Standard Webhooks secret: "whsec_" + base64 of random bytes; the server signs with it, so
    # it is stored as is, and shown to the clinic once (when created or rotated).
    secret = models.CharField(max_length=100, editable=False)
    # After a rotation, the previous secret signs too until it expires (receivers switch over).
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        indexes = [models.Index(fields=["clinic", "is_active"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(secret__startswith="whsec_"),  # noqa: S106 (a prefix)
                name="webhook_endpoint_secret_format",
                violation_error_code="invalid",
                violation_error_message="A webhook endpoint needs a secret made by the server.",
            ),
        ]

    def __str__(self):
        return self.description or self.url

    def wants(self, event_type: str) -> bool:
        return self.is_active and event_type in (self.event_types or [])


class WebhookEvent(models.Model):
    """One event (the outbox row): what happened, to which clinic, and the exact body sent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=40, choices=EventType.choices)
    occurred_at = models.DateTimeField(default=timezone.now)
    body = models.TextField(help_text="the JSON body, byte for byte what every attempt sends")
    # For events that must be emitted once per fact (an appointment missed: once per
    # appointment and time), else empty.
    dedup_key = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["clinic", "occurred_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"],
                name="webhook_event_once_per_fact",
                violation_error_code="duplicate",
                violation_error_message="This event was already emitted.",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (attempts used up)"


class WebhookDelivery(models.Model):
    """One event to one endpoint: pending until an attempt gets a 2xx answer (delivered) or the
    attempts run out (failed). ``next_attempt_at`` is the schedule; ``claimed_until`` the lease
    of the worker attempting it now."""

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="attempts since it was created or last resent"
    )
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"],
                name="webhook_delivery_once_per_endpoint",
                violation_error_code="duplicate",
                violation_error_message="This event is already on its way to this endpoint.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="delivered") | models.Q(delivered_at__isnull=False),
                name="webhook_delivery_delivered_has_time",
                violation_error_code="required",
                violation_error_message="A delivered webhook needs the time it was delivered.",
            ),
        ]

    def __str__(self):
        return f"{self.event.type} -> {self.endpoint} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: when, the answer's status code (none when the request
    failed), how long it took, and the error."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-attempted_at"]
        indexes = [models.Index(fields=["delivery", "attempted_at"])]

    def __str__(self):
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"
