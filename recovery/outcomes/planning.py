"""The outcome questionnaires a surgery plans, and the reminder a recorded score cancels
(called by the write path)."""

from datetime import timedelta

from recovery.record.models import Surgery
from recovery.record.writes import batched
from reminders.services import (
    CausePlan,
    reminders_cancel_for_cause,
    reminders_cancel_for_causes,
    reminders_sync_for_causes,
)

from .models import OutcomeScore, Timepoint

# Outcome questionnaires: a pre-operative baseline a week before, then after the surgery.
OUTCOME_SCHEDULE = {
    Timepoint.BASELINE: timedelta(days=-7),
    Timepoint.WEEK_6: timedelta(weeks=6),
    Timepoint.MONTH_3: timedelta(days=91),
    Timepoint.MONTH_6: timedelta(days=182),
    Timepoint.MONTH_12: timedelta(days=365),
    Timepoint.MONTH_24: timedelta(days=730),
}


def _outcome_cause(surgery_id: str, timepoint: str) -> str:
    return f"{surgery_id}.{timepoint}"


def _outcome_plans(record: Surgery, action: str, recorded: set[str]) -> list[CausePlan]:
    plans = []
    for timepoint, offset in OUTCOME_SCHEDULE.items():
        active = action != "delete" and timepoint not in recorded
        plans.append(
            CausePlan(
                cause_type="outcome_due",
                cause_id=_outcome_cause(record.pk, timepoint),
                anchor=record.performed_on + offset if active else None,
                title=f"Outcome questionnaire ({Timepoint(timepoint).label})",
                active=active,
            )
        )
    return plans


def surgery_outcomes_planned(record: Surgery, action: str, actor) -> None:
    """Plans the outcome questionnaires of a surgery (cancelled when it is deleted, moved when
    its date changes, and each one cancelled when its score is recorded)."""
    surgeries_outcomes_planned([record], action, actor)


@batched(surgery_outcomes_planned)
def surgeries_outcomes_planned(records, action: str, actor) -> None:
    """``surgery_outcomes_planned`` for many surgeries: the scores already recorded in one
    query, then one reminder sync per patient for all their surgeries' timepoints."""
    recorded: dict[str, set[str]] = {}
    for surgery_id, timepoint in OutcomeScore.objects.filter(
        surgery__in=[record.pk for record in records]
    ).values_list("surgery_id", "timepoint"):
        recorded.setdefault(str(surgery_id), set()).add(timepoint)
    by_patient: dict[int, list[Surgery]] = {}
    for record in records:
        by_patient.setdefault(record.patient_id, []).append(record)
    for surgeries in by_patient.values():
        causes = [
            plan
            for record in surgeries
            for plan in _outcome_plans(record, action, recorded.get(str(record.pk), set()))
        ]
        reminders_sync_for_causes(patient=surgeries[0].patient, kind="outcome", causes=causes)


def outcome_recorded(record: OutcomeScore, action: str, actor) -> None:
    if action == "create" and record.surgery_id:
        reminders_cancel_for_cause(
            cause_type="outcome_due", cause_id=_outcome_cause(record.surgery_id, record.timepoint)
        )


@batched(outcome_recorded)
def outcomes_recorded(records, action: str, actor) -> None:
    """New scores: each one's questionnaire reminder is cancelled, in one query."""
    causes = [
        _outcome_cause(record.surgery_id, record.timepoint)
        for record in records
        if action == "create" and record.surgery_id
    ]
    if causes:
        reminders_cancel_for_causes(cause_type="outcome_due", cause_ids=causes)


# When a score counts for its timepoint: days from the surgery date (day 0) to the patient's
# local day of ``completed_at``, both ends included (docs/outcomes-and-fhir.md). The windows do
# not overlap, so a score fits at most one timepoint.
TIMEPOINT_WINDOWS = {
    Timepoint.BASELINE: (-90, 0),  # the 90 days before the operation, or its morning
    Timepoint.WEEK_6: (28, 56),  # 4-8 weeks
    Timepoint.MONTH_3: (70, 112),  # 10-16 weeks
    Timepoint.MONTH_6: (140, 238),  # 20-34 weeks
    Timepoint.MONTH_12: (273, 455),  # 39-65 weeks (9-15 months)
    Timepoint.MONTH_24: (546, 910),  # 78-130 weeks (18-30 months)
}
