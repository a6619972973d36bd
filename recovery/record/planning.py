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
    sync_for_records([record], kind=kind, plan=lambda _record: (anchor, title, active))


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


def record_planner(kind: str, plan):
    """The write hook keeping one row's reminders of ``kind`` in step with the row, and its batch
    form (``batched``): ``plan(record, action)`` gives the row's ``(anchor, title, active)``."""

    def planned(record, action: str, actor) -> None:
        anchor, title, active = plan(record, action)
        sync_for_record(record, kind=kind, anchor=anchor, title=title, active=active)

    @batched(planned)
    def planned_many(records, action: str, actor) -> None:
        sync_for_records(records, kind=kind, plan=lambda r: plan(r, action))

    return planned


def _appointment_plan(record: Appointment, action: str):
    active = action != "delete" and record.status == AppointmentStatus.SCHEDULED
    return record.starts_at, str(record), active


appointment_planned = record_planner("appointment", _appointment_plan)


def _pt_session_plan(record: PTSession, action: str):
    active = (
        action != "delete"
        and record.status == PTStatus.PLANNED
        and record.scheduled_for is not None
    )
    return record.scheduled_for, "Physical therapy", active


pt_session_planned = record_planner("pt_session", _pt_session_plan)


def _restriction_plan(record: ActivityRestriction, action: str):
    active = action != "delete" and record.ends_on is not None and record.lifted_on is None
    return record.ends_on, f"{record} ends", active


restriction_planned = record_planner("restriction_end", _restriction_plan)


def _milestone_plan(record: Milestone, action: str):
    active = action != "delete" and record.target_on is not None and record.achieved_on is None
    return record.target_on, record.title, active


milestone_planned = record_planner("milestone", _milestone_plan)


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
