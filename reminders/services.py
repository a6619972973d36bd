"""Writes of the reminder engine: planning, moving, cancelling, re-planning, the inbox.

The planning functions are called by the clinical record INSIDE its own transaction (they open a
savepoint at most) and do no network I/O, so a reminder exists exactly when its cause committed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import CaregiverGrant, CaregiverScope, PatientProfile
from accounts.services import patient_clock_tick
from config.errors import Forbidden

from .models import (
    OPEN_STATUSES,
    Device,
    Notification,
    Reminder,
    ReminderKind,
    ReminderPlan,
    ReminderStatus,
    StaffDevice,
)
from .planning import DATETIME_KINDS, DEFAULT_PLANS, QuietHours, step_due

CHECKIN_CAUSE = "daily_checkin"
BULK_ROWS = 2000  # reminders per INSERT or UPDATE: within PostgreSQL's 65,535 parameters
PLANNING_FIELDS = {"time_zone", "checkin_time", "quiet_hours_start", "quiet_hours_end"}

_CAUSE_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_CAUSE_ID = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")


def dedup_key(
    *, cause_type: str, cause_id: str, step_key: str, channel: str, recipient_id: int | None = None
) -> str:
    """Deterministic from the cause, the plan step, the channel and the recipient (none: the
    patient; else the caregiver's user id): re-planning never duplicates, and the key doubles
    as the provider's collapse key."""
    key = f"{cause_type}:{cause_id}:{step_key}:{channel}"
    return key if recipient_id is None else f"{key}:cg{recipient_id}"


def planning_channels() -> list[str]:
    return list(settings.REMINDERS_CHANNELS)


# A caregiver's copy goes out on these channels only: the inbox is the patient's own.
CAREGIVER_CHANNELS = ("push", "email")


def _reminder_grants(now=None):
    """Grants that make their caregiver receive the patient's reminders now: not revoked, not
    expired, with the ``reminders`` scope. (A caregiver who has not activated their account yet
    is planned for; delivery refuses while their account is inactive.)"""
    now = now or timezone.now()
    return CaregiverGrant.objects.filter(
        revoked_at__isnull=True, scopes__contains=CaregiverScope.REMINDERS
    ).exclude(expires_at__lte=now)


def reminder_caregivers(*, patient_id: int, now=None) -> list[int]:
    """The user ids of the patient's caregivers who get copies of the patient's reminders."""
    return sorted(
        _reminder_grants(now).filter(patient_id=patient_id).values_list("caregiver_id", flat=True)
    )


def reminder_caregivers_by_patient(now=None) -> dict[int, list[int]]:
    """``reminder_caregivers`` for every patient at once (the hourly check-in planner)."""
    result: dict[int, list[int]] = {}
    for patient_id, caregiver_id in (
        _reminder_grants(now)
        .order_by("patient_id", "caregiver_id")
        .values_list("patient_id", "caregiver_id")
    ):
        result.setdefault(patient_id, []).append(caregiver_id)
    return result


def recipients_for(channel: str, caregivers: list[int]) -> list[int | None]:
    """Who gets a row of ``channel``: the patient (None), and each caregiver if the channel
    is one a caregiver's copy goes on."""
    return [None] + (list(caregivers) if channel in CAREGIVER_CHANNELS else [])


def plan_steps(*, patient: PatientProfile, kind: str) -> list[dict]:
    plan = (
        ReminderPlan.objects.filter(clinic_id=patient.clinic_id, kind=kind)
        .values_list("steps", flat=True)
        .first()
    )
    return plan if plan is not None else DEFAULT_PLANS.get(kind, [])


def quiet_hours_of(patient: PatientProfile) -> QuietHours:
    return QuietHours(start=patient.quiet_hours_start, end=patient.quiet_hours_end)


def _validate_cause(*, kind: str, cause_type: str, cause_id: str) -> None:
    if kind not in ReminderKind.values or kind == ReminderKind.DAILY_CHECKIN:
        raise ValidationError({"kind": f"{kind!r} is not a kind planned from a cause."})
    if not _CAUSE_TYPE.match(cause_type or ""):
        raise ValidationError({"cause_type": "1-40 characters of a-z, 0-9 and _."})
    if not _CAUSE_ID.match(str(cause_id or "")):
        raise ValidationError({"cause_id": "1-64 characters of A-Z, a-z, 0-9, _, :, . and -."})


def _split_anchor(kind: str, anchor) -> tuple[datetime | None, date | None]:
    if anchor is None:
        return None, None
    if kind in DATETIME_KINDS:
        if not isinstance(anchor, datetime) or timezone.is_naive(anchor):
            raise ValidationError({"anchor": f"A {kind} reminder needs an aware datetime."})
        return anchor, None
    if isinstance(anchor, datetime) or not isinstance(anchor, date):
        raise ValidationError({"anchor": f"A {kind} reminder needs a date."})
    return None, anchor


def _open_to_pending(row: Reminder, due: datetime) -> None:
    row.status = ReminderStatus.PENDING
    row.due_at = due
    row.available_at = due
    row.claimed_at = None
    row.attempts = 0
    row.last_error = ""


_UPDATE_FIELDS = [
    "status",
    "due_at",
    "available_at",
    "claimed_at",
    "attempts",
    "last_error",
    "title",
    "step",
    "anchor_at",
    "anchor_date",
    "updated_at",
]


@dataclass(frozen=True)
class CausePlan:
    """One cause's wish for ``reminders_sync_for_causes``: what it is, when it is (``anchor``:
    an aware datetime or a date, by kind), its title, and whether it still wants reminders."""

    cause_type: str
    cause_id: str
    anchor: object
    title: str
    active: bool = True


@transaction.atomic
def reminders_sync_for_cause(
    *,
    patient: PatientProfile,
    kind: str,
    cause_type: str,
    cause_id: str,
    anchor,
    title: str,
    active: bool = True,
) -> list[Reminder]:
    """(Re)plans the reminders of one cause from the clinic's plan for ``kind``. Idempotent.

    Creates the missing ones, moves open ones whose due time changed (a claimed one goes back
    to pending, so an in-flight delivery of the old time finds it no longer claimed), cancels
    open ones no longer planned, revives cancelled ones planned again. Due times already past
    are not created, and an open row moved into the past is cancelled; an open row whose due
    time did not change is left alone even if the dispatcher has not reached it yet. Sent rows
    are never touched. Returns the cause's rows that are not cancelled, by due time.
    """
    cause_id = str(cause_id)
    reminders_sync_for_causes(
        patient=patient,
        kind=kind,
        causes=[CausePlan(cause_type, cause_id, anchor, title, active)],
    )
    return list(
        Reminder.objects.filter(cause_type=cause_type, cause_id=cause_id)
        .exclude(status=ReminderStatus.CANCELLED)
        .order_by("due_at", "channel")
    )


@transaction.atomic
def reminders_sync_for_causes(
    *, patient: PatientProfile, kind: str, causes: list[CausePlan]
) -> None:
    """``reminders_sync_for_cause`` for many causes of one patient and kind at once (a sync
    push of many PT sessions): the same rules, in a number of queries that does not grow with
    the number of causes (the clinic's plan once, the causes' rows locked in one query, one
    bulk update and one bulk insert)."""
    if not causes:
        return
    plans = []
    for cause in causes:
        cause_id = str(cause.cause_id)
        _validate_cause(kind=kind, cause_type=cause.cause_type, cause_id=cause_id)
        plans.append((cause, cause_id, *_split_anchor(kind, cause.anchor)))
    now = timezone.now()
    wanted = Q()
    by_type: dict[str, set[str]] = {}
    for cause, cause_id, _at, _date in plans:
        by_type.setdefault(cause.cause_type, set()).add(cause_id)
    for cause_type, cause_ids in by_type.items():
        wanted |= Q(cause_type=cause_type, cause_id__in=cause_ids)
    existing_by_cause: dict[tuple[str, str], dict[str, Reminder]] = {}
    # Locked in id order, like every other multi-row lock here: no deadlocks.
    for row in Reminder.objects.select_for_update().filter(wanted).order_by("id"):
        existing_by_cause.setdefault((row.cause_type, row.cause_id), {})[row.dedup_key] = row
    steps = None
    tz, quiet = patient.tz, quiet_hours_of(patient)
    channels = planning_channels()
    caregivers = reminder_caregivers(patient_id=patient.pk, now=now)
    changed, created = [], []
    for cause, cause_id, anchor_at, anchor_date in plans:
        cause_type = cause.cause_type
        existing = existing_by_cause.get((cause_type, cause_id), {})
        desired: dict[str, tuple[dict, str, datetime, int | None]] = {}
        if cause.active and cause.anchor is not None:
            if steps is None:
                steps = plan_steps(patient=patient, kind=kind)
            for step in steps:
                due = step_due(
                    step=step, anchor_at=anchor_at, anchor_date=anchor_date, tz=tz, quiet=quiet
                )
                for channel in channels:
                    for recipient_id in recipients_for(channel, caregivers):
                        key = dedup_key(
                            cause_type=cause_type,
                            cause_id=cause_id,
                            step_key=step["key"],
                            channel=channel,
                            recipient_id=recipient_id,
                        )
                        desired[key] = (step, channel, due, recipient_id)

        title = (cause.title or "")[:200]
        for key, row in existing.items():
            if row.status == ReminderStatus.SENT:
                continue
            want = desired.get(key)
            before = (row.status, row.due_at, row.title, row.step, row.anchor_at, row.anchor_date)
            if want is None:
                if row.status in OPEN_STATUSES:
                    row.status = ReminderStatus.CANCELLED
                    row.last_error = "no longer planned"
            else:
                step, _channel, due, _recipient = want
                if row.status in OPEN_STATUSES:
                    if due != row.due_at:
                        if due <= now:
                            row.status = ReminderStatus.CANCELLED
                            row.last_error = "moved into the past"
                        else:
                            _open_to_pending(row, due)
                elif due > now and (row.status == ReminderStatus.CANCELLED or due != row.due_at):
                    _open_to_pending(row, due)  # planned again (re-booked, re-opened, moved)
                if row.status != ReminderStatus.CANCELLED:
                    row.title, row.step = title, step
                    row.anchor_at, row.anchor_date = anchor_at, anchor_date
            after = (row.status, row.due_at, row.title, row.step, row.anchor_at, row.anchor_date)
            if after != before:
                row.updated_at = now
                changed.append(row)
        for key, (step, channel, due, recipient_id) in desired.items():
            if key in existing or due <= now:
                continue
            created.append(
                Reminder(
                    patient=patient,
                    recipient_id=recipient_id,
                    kind=kind,
                    cause_type=cause_type,
                    cause_id=cause_id,
                    title=title,
                    channel=channel,
                    step=step,
                    anchor_at=anchor_at,
                    anchor_date=anchor_date,
                    due_at=due,
                    available_at=due,
                    dedup_key=key,
                    created_at=now,
                )
            )
    if changed:
        Reminder.objects.bulk_update(changed, _UPDATE_FIELDS, batch_size=BULK_ROWS)
    if created:
        Reminder.objects.bulk_create(created, batch_size=BULK_ROWS)


def reminders_cancel_for_cause(*, cause_type: str, cause_id: str, reason: str = "cancelled") -> int:
    """Cancels the cause's open reminders (a completed appointment, an achieved milestone)."""
    return Reminder.objects.filter(
        cause_type=cause_type, cause_id=str(cause_id), status__in=OPEN_STATUSES
    ).update(status=ReminderStatus.CANCELLED, last_error=reason, updated_at=timezone.now())


def reminders_cancel_for_causes(
    *, cause_type: str, cause_ids: list[str], reason: str = "cancelled"
) -> int:
    """``reminders_cancel_for_cause`` for many causes of one type, in one query."""
    return Reminder.objects.filter(
        cause_type=cause_type, cause_id__in=[str(c) for c in cause_ids], status__in=OPEN_STATUSES
    ).update(status=ReminderStatus.CANCELLED, last_error=reason, updated_at=timezone.now())


# --- Daily check-in ------------------------------------------------------------------------


def _checkin_step(at: time) -> dict:
    # The patient chose this time themselves: it is not deferred by their quiet hours.
    return {"key": "checkin", "days": 0, "at": at.strftime("%H:%M"), "urgent": True}


def _checkin_rows(
    *,
    profile: PatientProfile,
    local_date: date,
    now: datetime,
    caregivers: list[int],
    status=ReminderStatus.PENDING,
) -> list[Reminder]:
    at = profile.checkin_time or time(19, 0)
    step = _checkin_step(at)
    due = step_due(step=step, anchor_at=None, anchor_date=local_date, tz=profile.tz, quiet=None)
    cause_id = f"{profile.pk}:{local_date.isoformat()}"
    return [
        Reminder(
            patient_id=profile.pk,
            recipient_id=recipient_id,
            kind=ReminderKind.DAILY_CHECKIN,
            cause_type=CHECKIN_CAUSE,
            cause_id=cause_id,
            title="Daily pain check-in",
            channel=channel,
            step=step,
            anchor_date=local_date,
            due_at=due,
            available_at=due,
            status=status,
            last_error="" if status == ReminderStatus.PENDING else "pain already logged that day",
            dedup_key=dedup_key(
                cause_type=CHECKIN_CAUSE,
                cause_id=cause_id,
                step_key="checkin",
                channel=channel,
                recipient_id=recipient_id,
            ),
            created_at=now,
        )
        for channel in planning_channels()
        for recipient_id in recipients_for(channel, caregivers)
    ]


def daily_checkins_plan_for_patient(
    *, profile: PatientProfile, now: datetime | None = None, days: int = 2
) -> int:
    """Plans the check-ins of the patient's local today and the next ``days - 1`` days that are
    still ahead. Idempotent by dedup key: a day already planned, or already satisfied (its
    cancelled row exists), is left as it is. Returns the number of rows offered."""
    if profile.checkin_time is None:
        return 0
    now = now or timezone.now()
    today = now.astimezone(profile.tz).date()
    caregivers = reminder_caregivers(patient_id=profile.pk, now=now)
    rows = []
    for offset in range(days):
        for row in _checkin_rows(
            profile=profile,
            local_date=today + timedelta(days=offset),
            now=now,
            caregivers=caregivers,
        ):
            if row.due_at > now:
                rows.append(row)
    Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def daily_checkins_plan(*, now: datetime | None = None, days: int = 2, chunk: int = 500) -> int:
    """The hourly planner: every active patient with a check-in time, in chunks. Safe to run
    twice at once (``ON CONFLICT DO NOTHING`` on the dedup key)."""
    now = now or timezone.now()
    profiles = (
        PatientProfile.objects.filter(checkin_time__isnull=False, user__is_active=True)
        .only("pk", "time_zone", "checkin_time")
        .order_by("pk")
    )
    offered = 0
    batch: list[Reminder] = []
    caregivers = reminder_caregivers_by_patient(now)  # one query for every patient
    for profile in profiles.iterator(chunk_size=chunk):
        today = now.astimezone(profile.tz).date()
        for offset in range(days):
            for row in _checkin_rows(
                profile=profile,
                local_date=today + timedelta(days=offset),
                now=now,
                caregivers=caregivers.get(profile.pk, []),
            ):
                if row.due_at > now:
                    batch.append(row)
        if len(batch) >= chunk:
            Reminder.objects.bulk_create(batch, ignore_conflicts=True)
            offered += len(batch)
            batch = []
    Reminder.objects.bulk_create(batch, ignore_conflicts=True)
    return offered + len(batch)


@transaction.atomic
def daily_checkin_satisfied(*, patient: PatientProfile, local_date: date) -> None:
    """The patient logged pain on ``local_date`` (their local day): that day's check-in is not
    sent. Rows not planned yet are created cancelled, so the planner will not plan them later."""
    daily_checkins_satisfied(patient=patient, local_dates=[local_date])


@transaction.atomic
def daily_checkins_satisfied(*, patient: PatientProfile, local_dates) -> None:
    """``daily_checkin_satisfied`` for several local days at once (a sync push of many pain
    logs): two queries whatever the number of days."""
    days = sorted(set(local_dates))
    if not days:
        return
    now = timezone.now()
    caregivers = reminder_caregivers(patient_id=patient.pk, now=now)
    rows = []
    for local_date in days:
        rows += _checkin_rows(
            profile=patient,
            local_date=local_date,
            now=now,
            caregivers=caregivers,
            status=ReminderStatus.CANCELLED,
        )
    Reminder.objects.bulk_create(rows, ignore_conflicts=True, batch_size=BULK_ROWS)
    Reminder.objects.filter(
        cause_type=CHECKIN_CAUSE,
        cause_id__in=[f"{patient.pk}:{local_date.isoformat()}" for local_date in days],
        status__in=OPEN_STATUSES,
    ).update(
        status=ReminderStatus.CANCELLED, last_error="pain already logged that day", updated_at=now
    )


# --- Patient settings ----------------------------------------------------------------------


@transaction.atomic
def patient_reminders_replan(*, profile: PatientProfile, changed: set) -> int:
    """``PATIENT_SETTINGS_CHANGED_HOOKS`` entry: a new time zone, check-in time or quiet hours
    re-derive the due time of every open reminder from its stored intent (anchor and step).

    A re-derived time that has already passed: a check-in is cancelled (that moment is gone);
    anything else is sent at once rather than lost. Returns the number of rows changed.
    """
    if not (set(changed) & PLANNING_FIELDS):
        return 0
    now = timezone.now()
    tz, quiet = profile.tz, quiet_hours_of(profile)
    rows = list(
        Reminder.objects.select_for_update()
        .filter(patient=profile, status__in=OPEN_STATUSES)
        .order_by("id")
    )
    changed_rows = []
    for row in rows:
        step = row.step
        if row.kind == ReminderKind.DAILY_CHECKIN:
            if profile.checkin_time is None:
                row.status, row.last_error, row.updated_at = (
                    ReminderStatus.CANCELLED,
                    "check-in turned off",
                    now,
                )
                changed_rows.append(row)
                continue
            step = _checkin_step(profile.checkin_time)
        due = step_due(
            step=step, anchor_at=row.anchor_at, anchor_date=row.anchor_date, tz=tz, quiet=quiet
        )
        if due == row.due_at and step == row.step:
            continue
        row.step = step
        if due <= now and row.kind == ReminderKind.DAILY_CHECKIN:
            row.status, row.last_error = ReminderStatus.CANCELLED, "check-in time already passed"
        else:
            _open_to_pending(row, max(due, now))
        row.updated_at = now
        changed_rows.append(row)
    if changed_rows:
        Reminder.objects.bulk_update(changed_rows, _UPDATE_FIELDS)
    daily_checkins_plan_for_patient(profile=profile, now=now)
    return len(changed_rows)


# --- Clinician actions (admin) ---------------------------------------------------------------


@transaction.atomic
def reminder_cancel(*, reminder_id: int, by: str) -> bool:
    row = Reminder.objects.select_for_update().filter(pk=reminder_id).first()
    if row is None or row.status not in OPEN_STATUSES:
        return False
    row.status = ReminderStatus.CANCELLED
    row.last_error = f"cancelled by {by}"[:2000]
    row.save(update_fields=["status", "last_error", "updated_at"])
    return True


# What a resent reminder or a caregiver's copy takes from the row it is made from.
_PLANNED_FIELDS = (
    "patient_id",
    "recipient_id",
    "kind",
    "cause_type",
    "cause_id",
    "title",
    "channel",
    "step",
    "anchor_at",
    "anchor_date",
)


def _planned_like(row: Reminder, **fields) -> Reminder:
    """A new (unsaved) reminder planned as ``row``, with ``fields`` set."""
    return Reminder(**{**{name: getattr(row, name) for name in _PLANNED_FIELDS}, **fields})


@transaction.atomic
def reminder_resend(*, reminder_id: int, by: str) -> Reminder | None:
    """Sends a reminder again, now. A failed or cancelled row is re-opened; a sent one is copied
    to a new row (its own dedup key), so the history of the first delivery stays."""
    row = Reminder.objects.select_for_update().filter(pk=reminder_id).first()
    if row is None or row.status in OPEN_STATUSES:
        return None
    now = timezone.now()
    if row.status != ReminderStatus.SENT:
        _open_to_pending(row, now)
        row.last_error = f"resent by {by}"[:2000]
        row.save()
        return row
    copies = Reminder.objects.filter(dedup_key__startswith=f"{row.dedup_key}#resend").count()
    resent = _planned_like(
        row,
        due_at=now,
        available_at=now,
        last_error=f"resent by {by}"[:2000],
        dedup_key=f"{row.dedup_key}#resend{copies + 1}",
        created_at=now,
    )
    resent.save(force_insert=True)
    return resent


# --- In-app inbox ----------------------------------------------------------------------------


def notification_create(
    *, patient_id: int, kind: str, title: str, body: str = "", reminder=None, due_at=None
) -> Notification:
    """Called inside the delivery transaction of the inbox channel."""
    version = patient_clock_tick(patient_id=patient_id)
    now = timezone.now()
    return Notification.objects.create(
        patient_id=patient_id,
        reminder=reminder,
        kind=kind,
        title=title[:200],
        body=body,
        due_at=due_at,
        created_at=now,
        updated_at=now,
        sync_version=version,
    )


@transaction.atomic
def notification_mark_read(*, notification: Notification) -> Notification:
    version = patient_clock_tick(patient_id=notification.patient_id)
    row = Notification.objects.select_for_update().get(pk=notification.pk)
    if row.read_at is None:
        now = timezone.now()
        row.read_at, row.updated_at, row.sync_version = now, now, version
        row.save(update_fields=["read_at", "updated_at", "sync_version"])
    return row


@transaction.atomic
def notification_delete(*, notification: Notification) -> None:
    """A tombstone: the row stays (sync sends its id under ``deleted``)."""
    version = patient_clock_tick(patient_id=notification.patient_id)
    row = Notification.objects.select_for_update().get(pk=notification.pk)
    if row.deleted_at is None:
        now = timezone.now()
        row.deleted_at, row.updated_at, row.sync_version = now, now, version
        row.save(update_fields=["deleted_at", "updated_at", "sync_version"])


# --- Devices (push tokens) -----------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def device_register(*, patient: PatientProfile, token: str, platform: str) -> tuple[Device, bool]:
    """Registers a push token for the patient; idempotent. A token already known for another
    patient moves to this one (the phone was signed in to another account). Returns the
    device and whether it was created."""
    token = (token or "").strip()
    device = Device(patient=patient, token=token, token_hash=_token_hash(token), platform=platform)
    device.full_clean(exclude=["token_hash"], validate_unique=False, validate_constraints=False)
    # The phone was a caregiver's or a clinician's before: it is the patient's now, only.
    StaffDevice.objects.filter(token_hash=device.token_hash).delete()
    existing = Device.objects.select_for_update().filter(token_hash=device.token_hash).first()
    if existing is None:
        device.save()
        return device, True
    existing.patient, existing.platform, existing.active = patient, platform, True
    existing.deactivated_reason = ""
    existing.save(
        update_fields=["patient", "platform", "active", "deactivated_reason", "updated_at"]
    )
    return existing, False


def device_remove(*, patient: PatientProfile, token: str) -> bool:
    """Forgets one of the patient's tokens (sign-out on the phone). Another patient's token is
    treated as unknown."""
    deleted, _ = Device.objects.filter(
        patient=patient, token_hash=_token_hash((token or "").strip())
    ).delete()
    return bool(deleted)


@transaction.atomic
def staff_device_register(*, user, token: str, platform: str) -> tuple[StaffDevice, bool]:
    """A clinician registers (or re-activates) a phone for urgent alerts, or a caregiver one for
    the reminders of the patients they care for. Returns (device, created)."""
    if user.role == "patient":
        raise Forbidden(
            "Patients register devices at /api/v1/devices/.",
            code="permission_denied",
        )
    digest = _token_hash(token)
    # The phone was a patient's before (signed in to another account): it is this user's now,
    # only, so it never shows the patient's reminders twice or to the wrong person.
    Device.objects.filter(token_hash=digest).delete()
    device = StaffDevice.objects.filter(token_hash=digest).first()
    if device is not None and device.user_id != user.pk:
        device.delete()  # the phone changed hands: the token follows its new owner
        device = None
    if device is None:
        device = StaffDevice(user=user, token=token, token_hash=digest, platform=platform)
        device.full_clean()
        device.save()
        return device, True
    device.active, device.deactivated_reason, device.platform = True, "", platform
    device.save(update_fields=["active", "deactivated_reason", "platform", "updated_at"])
    return device, False


def staff_device_remove(*, user, token: str) -> bool:
    return StaffDevice.objects.filter(user=user, token_hash=_token_hash(token)).delete()[0] > 0


def patient_reminders_erase(*, profile: PatientProfile) -> dict:
    """``PATIENT_ERASED_HOOKS`` entry (``accounts.erasure``): an erased account gets nothing
    more and keeps nothing of its own here. Its push devices are deleted (their tokens are
    personal data), every open reminder is cancelled and the inbox emptied. Inside the
    erasure's transaction. Returns the counts."""
    now = timezone.now()
    cancelled = Reminder.objects.filter(patient=profile, status__in=OPEN_STATUSES).update(
        status=ReminderStatus.CANCELLED, last_error="account deleted", updated_at=now
    )
    devices, _ = Device.objects.filter(patient=profile).delete()
    notifications, _ = Notification.all_objects.filter(patient=profile).delete()
    return {"reminders": cancelled, "devices": devices, "notifications": notifications}


# --- Caregivers' copies ----------------------------------------------------------------------

CAREGIVER_ACCESS_ENDED = "the caregiver's access to the patient's reminders ended"


@transaction.atomic
def caregiver_reminders_sync(*, grant) -> dict:
    """``CAREGIVER_GRANT_CHANGED_HOOKS`` entry (``accounts.caregivers``): a grant was made,
    changed or revoked. Its caregiver's copies follow at once, inside the grant's transaction:

    - the grant is active with the ``reminders`` scope: every open push or e-mail row of the
      patient's own gets the caregiver's copy (same step, due time and intent; a cancelled copy
      of an earlier grant is opened again);
    - otherwise (revoked, expired, scope removed): the caregiver's open copies are cancelled.

    Delivery checks the grant again, so a copy claimed before the change is not sent either.
    Three queries whatever the number of reminders. Returns the counts."""
    now = timezone.now()
    copies = Reminder.objects.filter(patient_id=grant.patient_id, recipient_id=grant.caregiver_id)
    wanted = (
        grant.revoked_at is None
        and (grant.expires_at is None or grant.expires_at > now)
        and CaregiverScope.REMINDERS in grant.scopes
    )
    if not wanted:
        cancelled = copies.filter(status__in=OPEN_STATUSES).update(
            status=ReminderStatus.CANCELLED, last_error=CAREGIVER_ACCESS_ENDED, updated_at=now
        )
        return {"cancelled": cancelled, "planned": 0}
    own = list(
        Reminder.objects.filter(
            patient_id=grant.patient_id,
            recipient__isnull=True,
            channel__in=CAREGIVER_CHANNELS,
            status__in=OPEN_STATUSES,
            due_at__gt=now,
        ).order_by("id")
    )
    suffix = f":cg{grant.caregiver_id}"
    existing = {
        row.dedup_key: row
        for row in copies.select_for_update().filter(
            dedup_key__in=[row.dedup_key + suffix for row in own]
        )
    }
    created, reopened = [], []
    for row in own:
        copy = existing.get(row.dedup_key + suffix)
        if copy is None:
            created.append(
                _planned_like(
                    row,
                    recipient_id=grant.caregiver_id,
                    due_at=row.due_at,
                    available_at=row.due_at,
                    dedup_key=row.dedup_key + suffix,
                    created_at=now,
                )
            )
        elif copy.status == ReminderStatus.CANCELLED:
            _open_to_pending(copy, row.due_at)
            copy.title, copy.step = row.title, row.step
            copy.anchor_at, copy.anchor_date = row.anchor_at, row.anchor_date
            copy.updated_at = now
            reopened.append(copy)
    if reopened:
        Reminder.objects.bulk_update(reopened, _UPDATE_FIELDS, batch_size=BULK_ROWS)
    if created:
        Reminder.objects.bulk_create(created, batch_size=BULK_ROWS, ignore_conflicts=True)
    return {"cancelled": 0, "planned": len(created) + len(reopened)}
