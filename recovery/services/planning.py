"""What each change of the clinical record means for the patient's reminders.

Called by the write path (``RecordKind.after_write``) inside the transaction that made the
change, so a reminder is planned, moved or cancelled atomically with its cause. The reminder
engine knows patients, kinds, times and channels; this module knows when something deserves a
reminder (design.md section 1).
"""

from datetime import timedelta

from django.utils import timezone

from reminders.services import (
    daily_checkin_satisfied,
    reminders_cancel_for_cause,
    reminders_sync_for_cause,
)

from ..models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    Milestone,
    OutcomeScore,
    PainLog,
    PrepItem,
    PrepOwner,
    PrepStatus,
    PTSession,
    PTStatus,
    Surgery,
    Timepoint,
)

# Outcome questionnaires: a pre-operative baseline a week before, then after the surgery.
OUTCOME_SCHEDULE = {
    Timepoint.BASELINE: timedelta(days=-7),
    Timepoint.WEEK_6: timedelta(weeks=6),
    Timepoint.MONTH_3: timedelta(days=91),
    Timepoint.MONTH_6: timedelta(days=182),
    Timepoint.MONTH_12: timedelta(days=365),
    Timepoint.MONTH_24: timedelta(days=730),
}


def _sync(record, *, kind: str, anchor, title: str, active: bool) -> None:
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
    _sync(record, kind="appointment", anchor=record.starts_at, title=str(record), active=active)


def pt_session_planned(record: PTSession, action: str, actor) -> None:
    active = action != "delete" and record.status == PTStatus.PLANNED and record.scheduled_for is not None
    _sync(record, kind="pt_session", anchor=record.scheduled_for, title="Physical therapy", active=active)


def restriction_planned(record: ActivityRestriction, action: str, actor) -> None:
    active = action != "delete" and record.ends_on is not None and record.lifted_on is None
    _sync(record, kind="restriction_end", anchor=record.ends_on, title=f"{record} ends", active=active)


def milestone_planned(record: Milestone, action: str, actor) -> None:
    active = action != "delete" and record.target_on is not None and record.achieved_on is None
    _sync(record, kind="milestone", anchor=record.target_on, title=record.title, active=active)


def prep_item_planned(record: PrepItem, action: str, actor) -> None:
    active = action != "delete" and record.owner == PrepOwner.PATIENT and record.status == PrepStatus.OPEN
    _sync(record, kind="prep_item", anchor=record.due_on, title=str(record), active=active)


def pain_logged(record: PainLog, action: str, actor) -> None:
    if action == "create":
        local_day = timezone.localtime(record.recorded_at, record.patient.tz).date()
        daily_checkin_satisfied(patient=record.patient, local_date=local_day)


def _outcome_cause(surgery_id: str, timepoint: str) -> str:
    return f"{surgery_id}.{timepoint}"


def surgery_outcomes_planned(record: Surgery, action: str, actor) -> None:
    """Plans the outcome questionnaires of a surgery (cancelled when it is deleted, moved when
    its date changes, and each one cancelled when its score is recorded)."""
    recorded = set(
        OutcomeScore.objects.filter(surgery=record).values_list("timepoint", flat=True)
    )
    for timepoint, offset in OUTCOME_SCHEDULE.items():
        cause = _outcome_cause(record.pk, timepoint)
        active = action != "delete" and timepoint not in recorded
        reminders_sync_for_cause(
            patient=record.patient,
            kind="outcome",
            cause_type="outcome_due",
            cause_id=cause,
            anchor=record.performed_on + offset if active else None,
            title=f"Outcome questionnaire ({Timepoint(timepoint).label})",
            active=active,
        )


def outcome_recorded(record: OutcomeScore, action: str, actor) -> None:
    if action == "create" and record.surgery_id:
        reminders_cancel_for_cause(
            cause_type="outcome_due", cause_id=_outcome_cause(record.surgery_id, record.timepoint)
        )
