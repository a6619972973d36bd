"""What a checklist item means for the patient's reminders (called by the write path)."""

from recovery.record.planning import sync_for_record

from .models import PrepItem, PrepOwner, PrepStatus


def prep_item_planned(record: PrepItem, action: str, actor) -> None:
    active = (
        action != "delete"
        and record.owner == PrepOwner.PATIENT
        and record.status == PrepStatus.OPEN
    )
    sync_for_record(
        record, kind="prep_item", anchor=record.due_on, title=str(record), active=active
    )
