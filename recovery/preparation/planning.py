"""What a checklist item means for the patient's reminders (called by the write path)."""

from recovery.record.planning import sync_for_record, sync_for_records
from recovery.record.writes import batched

from .models import PrepItem, PrepOwner, PrepStatus


def _prep_item_plan(record: PrepItem, action: str):
    active = (
        action != "delete"
        and record.owner == PrepOwner.PATIENT
        and record.status == PrepStatus.OPEN
    )
    return record.due_on, str(record), active


def prep_item_planned(record: PrepItem, action: str, actor) -> None:
    anchor, title, active = _prep_item_plan(record, action)
    sync_for_record(record, kind="prep_item", anchor=anchor, title=title, active=active)


@batched(prep_item_planned)
def prep_items_planned(records, action: str, actor) -> None:
    sync_for_records(records, kind="prep_item", plan=lambda r: _prep_item_plan(r, action))
