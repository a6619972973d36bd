"""Reads of the reminder engine, scoped to the caller first."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from accounts.models import PatientProfile, User

from .models import Device, Notification, Reminder, ReminderStatus, StaffDevice


def notifications_for(user: User) -> QuerySet[Notification]:
    """The signed-in patient's inbox (tombstones excluded). Staff have no inbox here."""
    if not user.is_authenticated or not user.is_active or not user.is_patient:
        return Notification.objects.none()
    return Notification.objects.filter(patient__user=user, deleted_at__isnull=True)


def devices_for(user: User) -> QuerySet[Device] | QuerySet[StaffDevice]:
    """The caller's phones: a patient's ``Device`` rows, a caregiver's ``StaffDevice`` rows
    (the user-scoped device model)."""
    if not user.is_authenticated or not user.is_active:
        return Device.objects.none()
    if user.role == "caregiver":
        return StaffDevice.objects.filter(user=user)
    if not user.is_patient:
        return Device.objects.none()
    return Device.objects.filter(patient__user=user)


def reminders_sent_for_patient(
    *, patient: PatientProfile, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[Reminder]:
    """Reminders sent to the patient (for the admin timeline), oldest first; the caller has
    already scoped ``patient``. Served by the partial index ``reminder_patient_sent``. The
    patient's own rows only: caregivers' copies are in the reminders admin (``recipient``)."""
    qs = Reminder.objects.filter(
        patient=patient, status=ReminderStatus.SENT, recipient__isnull=True
    )
    if since is not None:
        qs = qs.filter(sent_at__gte=since)
    if until is not None:
        qs = qs.filter(sent_at__lt=until)
    return qs.only(
        "id",
        "patient_id",
        "kind",
        "title",
        "channel",
        "due_at",
        "sent_at",
        "cause_type",
        "cause_id",
    ).order_by("sent_at", "id")
