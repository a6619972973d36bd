"""What each change of the clinical record means for the patient's reminders.

Called by the write path (``RecordKind.after_write``) inside the transaction that made the
change, so a reminder is planned, moved or cancelled atomically with its cause. The reminder
engine knows patients, kinds, times and channels; this module knows when something deserves a
reminder (design.md section 1). Each planner has a batch form (``batched``) that the batch
writes of a sync push call once with all rows: the same plan, a bounded number of queries.
"""

from django.utils import timezone

from reminders.services import (
    CausePlan,
    daily_checkins_satisfied,
    reminders_sync_for_cause,
    reminders_sync_for_causes,
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
from .writes import batched


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


def sync_for_records(records, *, kind: str, plan) -> None:
    """``sync_for_record`` for many rows of one patient: ``plan(record)`` gives each row's
    ``(anchor, title, active)``."""
    if not records:
        return
    causes = []
    for record in records:
        anchor, title, active = plan(record)
        causes.append(
            CausePlan(
                cause_type=record._meta.model_name,
                cause_id=record.pk,
                anchor=anchor if active else None,
                title=title,
                active=active,
            )
        )
    reminders_sync_for_causes(patient=records[0].patient, kind=kind, causes=causes)


def _appointment_plan(record: Appointment, action: str):
    active = action != "delete" and record.status == AppointmentStatus.SCHEDULED
    return record.starts_at, str(record), active


def appointment_planned(record: Appointment, action: str, actor) -> None:
    anchor, title, active = _appointment_plan(record, action)
    sync_for_record(record, kind="appointment", anchor=anchor, title=title, active=active)


@batched(appointment_planned)
def appointments_planned(records, action: str, actor) -> None:
    sync_for_records(records, kind="appointment", plan=lambda r: _appointment_plan(r, action))


def _pt_session_plan(record: PTSession, action: str):
    active = (
        action != "delete"
        and record.status == PTStatus.PLANNED
        and record.scheduled_for is not None
    )
    return record.scheduled_for, "Physical therapy", active


def pt_session_planned(record: PTSession, action: str, actor) -> None:
    anchor, title, active = _pt_session_plan(record, action)
    sync_for_record(record, kind="pt_session", anchor=anchor, title=title, active=active)


@batched(pt_session_planned)
def pt_sessions_planned(records, action: str, actor) -> None:
    sync_for_records(records, kind="pt_session", plan=lambda r: _pt_session_plan(r, action))


def _restriction_plan(record: ActivityRestriction, action: str):
    active = action != "delete" and record.ends_on is not None and record.lifted_on is None
    return record.ends_on, f"{record} ends", active


def restriction_planned(record: ActivityRestriction, action: str, actor) -> None:
    anchor, title, active = _restriction_plan(record, action)
    sync_for_record(record, kind="restriction_end", anchor=anchor, title=title, active=active)


@batched(restriction_planned)
def restrictions_planned(records, action: str, actor) -> None:
    sync_for_records(records, kind="restriction_end", plan=lambda r: _restriction_plan(r, action))


def _milestone_plan(record: Milestone, action: str):
    active = action != "delete" and record.target_on is not None and record.achieved_on is None
    return record.target_on, record.title, active


def milestone_planned(record: Milestone, action: str, actor) -> None:
    anchor, title, active = _milestone_plan(record, action)
    sync_for_record(record, kind="milestone", anchor=anchor, title=title, active=active)


@batched(milestone_planned)
def milestones_planned(records, action: str, actor) -> None:
    sync_for_records(records, kind="milestone", plan=lambda r: _milestone_plan(r, action))


def _local_day(record: PainLog):
    return timezone.localtime(record.recorded_at, record.patient.tz).date()


def pain_logged(record: PainLog, action: str, actor) -> None:
    if action == "create":
        pain_logs_logged([record], action, actor)


@batched(pain_logged)
def pain_logs_logged(records, action: str, actor) -> None:
    """New pain logs: their local days' check-in reminders are not sent."""
    if action != "create" or not records:
        return
    by_patient: dict = {}
    for record in records:
        by_patient.setdefault(record.patient_id, (record.patient, set()))[1].add(_local_day(record))
    for patient, days in by_patient.values():
        daily_checkins_satisfied(patient=patient, local_dates=days)
