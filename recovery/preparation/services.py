"""Writes of the checklist, imaging studies and complications, through the one write path."""

from datetime import date

from django.utils import timezone

from accounts.models import PatientProfile, User
from recovery.record.writes import record_create, record_update

from .kinds import COMPLICATIONS, IMAGING_STUDIES, PREP_ITEMS


def prep_item_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple:
    return record_create(PREP_ITEMS, actor=actor, patient=patient, id=id, **values)


def prep_item_update(*, actor: User, item, **values):
    return record_update(PREP_ITEMS, actor=actor, record=item, **values)


def prep_item_complete(*, actor: User, item, completed_on: date | None = None, **values):
    """The owner (the patient for their own items) marks an item done, with its values
    (quit date, HbA1c, weight...)."""
    completed_on = completed_on or timezone.localdate(timezone=item.patient.tz)
    return prep_item_update(actor=actor, item=item, status="done", completed_on=completed_on, **values)


def prep_item_waive(*, actor: User, item, reason: str):
    return prep_item_update(actor=actor, item=item, status="waived", waived_reason=reason, completed_on=None)


def imaging_study_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple:
    return record_create(IMAGING_STUDIES, actor=actor, patient=patient, id=id, **values)


def imaging_study_update(*, actor: User, study, **values):
    return record_update(IMAGING_STUDIES, actor=actor, record=study, **values)


def complication_create(*, actor: User, patient: PatientProfile, id: str | None = None, **values) -> tuple:
    return record_create(COMPLICATIONS, actor=actor, patient=patient, id=id, **values)


def complication_update(*, actor: User, complication, **values):
    return record_update(COMPLICATIONS, actor=actor, record=complication, **values)


def complication_resolve(*, actor: User, complication, resolved_on: date, treatment: str | None = None):
    values = {"resolved_on": resolved_on}
    if treatment is not None:
        values["treatment"] = treatment
    return complication_update(actor=actor, complication=complication, **values)
