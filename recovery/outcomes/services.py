"""Writes of outcome scores, through the one write path."""

from accounts.models import PatientProfile, User
from recovery.record.writes import record_create, record_delete

from .kinds import OUTCOME_SCORES


def outcome_score_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple:
    """Records a completed ODI/NDI questionnaire or pain rating; the score is computed here."""
    return record_create(OUTCOME_SCORES, actor=actor, patient=patient, id=id, **values)


def outcome_score_delete(*, actor: User, score) -> None:
    record_delete(OUTCOME_SCORES, actor=actor, record=score)
