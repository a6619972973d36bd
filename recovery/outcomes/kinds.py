"""The write path's description of outcome scores, and what a surgery's write means for its
outcome questionnaires."""

from recovery.record.writes import RecordKind, created_by_actor, on_write, register

from . import planning
from .models import OutcomeScore
from .scoring import outcome_score_prepare

OUTCOME_SCORES = register(
    RecordKind(
        OutcomeScore,
        "outcome_scores",
        patient_may_create=True,
        patient_may_change=created_by_actor,
        prepare=outcome_score_prepare,
        after_write=(planning.outcome_recorded,),
        sort="completed_at",
        sync_since=3,
    )
)
on_write("surgeries")(planning.surgery_outcomes_planned)
