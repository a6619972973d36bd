"""The checklist's and complications' domain actions (complete, waive, resolve), through the one
write path. Plain creates and changes call ``record_create(PREP_ITEMS, ...)`` /
``record_update(COMPLICATIONS, ...)`` with the table's ``RecordKind`` (``kinds.py``)."""

from datetime import date
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from recovery.record.services import UNSET, Unset, given
from recovery.record.writes import record_update

from .kinds import COMPLICATIONS, PREP_ITEMS
from .models import Complication, PrepItem


def prep_item_complete(
    *,
    actor: User,
    item: PrepItem,
    completed_on: date | None = None,
    quit_on: date | None | Unset = UNSET,
    nicotine_free_confirmed: bool | None | Unset = UNSET,
    second_opinion: str | Unset = UNSET,
    hba1c_percent: Decimal | None | Unset = UNSET,
    hba1c_on: date | None | Unset = UNSET,
    weight_kg: Decimal | None | Unset = UNSET,
    bmi: Decimal | None | Unset = UNSET,
    notes: str | Unset = UNSET,
) -> PrepItem:
    """The owner (the patient for their own items) marks an item done, with its values
    (quit date, HbA1c, weight...; those left out keep their values)."""
    completed_on = completed_on or timezone.localdate(timezone=item.patient.tz)
    return record_update(
        PREP_ITEMS,
        actor=actor,
        record=item,
        status="done",
        completed_on=completed_on,
        **given(
            quit_on=quit_on,
            nicotine_free_confirmed=nicotine_free_confirmed,
            second_opinion=second_opinion,
            hba1c_percent=hba1c_percent,
            hba1c_on=hba1c_on,
            weight_kg=weight_kg,
            bmi=bmi,
            notes=notes,
        ),
    )


def prep_item_waive(*, actor: User, item: PrepItem, reason: str) -> PrepItem:
    return record_update(
        PREP_ITEMS,
        actor=actor,
        record=item,
        status="waived",
        waived_reason=reason,
        completed_on=None,
    )


def complication_resolve(
    *, actor: User, complication: Complication, resolved_on: date, treatment: str | None = None
) -> Complication:
    """Records when a complication resolved (and, if given, how it was treated)."""
    values = {"resolved_on": resolved_on}
    if treatment is not None:
        values["treatment"] = treatment
    return record_update(COMPLICATIONS, actor=actor, record=complication, **values)
