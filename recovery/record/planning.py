"""What each change of the clinical record means for the patient's reminders.

Called by the write path (``RecordKind.after_write``) inside the transaction that made the
change, so a reminder is planned, moved or cancelled atomically with its cause. The reminder
engine knows patients, kinds, times and channels; this module knows when something deserves a
reminder (design.md section 1).
"""

from django.utils import timezone

from reminders.services import (
    daily_checkin_satisfied,
    reminders_sync_for_cause,
)

from .models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    Milestone,
    PainLog,
    PTSession,
    PTStatus,
)


def sync_for_record(record, *, kind: str, anchor, title: str, active: bool) -> None:
    reminders_sync_for_cause(
        patient=record.patient,
        kind=kind,
        cause_type=record._meta.model_name,
        cause_id=record.pk,
        anchor=anchor if active else None,
        title=title,
        active=active,
    )


def appointment_planned(record: Appointment, action: str, actor) -> None:
    active = action != "delete" and record.status == AppointmentStatus.SCHEDULED
    sync_for_record(
        record, kind="appointment", anchor=record.starts_at, title=str(record), active=active
    )


def pt_session_planned(record: PTSession, action: str, actor) -> None:
    active = (
        action != "delete"
        and record.status == PTStatus.PLANNED
        and record.scheduled_for is not None
    )
    sync_for_record(
        record,
        kind="pt_session",
        anchor=record.scheduled_for,
        title="Physical therapy",
        active=active,
    )


def restriction_planned(record: ActivityRestriction, action: str, actor) -> None:
    active = action != "delete" and record.ends_on is not None and record.lifted_on is None
    sync_for_record(
        record, kind="restriction_end", anchor=record.ends_on, title=f"{record} ends", active=active
    )


def milestone_planned(record: Milestone, action: str, actor) -> None:
    active = action != "delete" and record.target_on is not None and record.achieved_on is None
    sync_for_record(
        record, kind="milestone", anchor=record.target_on, title=record.title, active=active
    )


def pain_logged(record: PainLog, action: str, actor) -> None:
    if action == "create":
        local_day = timezone.localtime(record.recorded_at, record.patient.tz).date()
        daily_checkin_satisfied(patient=record.patient, local_date=local_day)
