"""What a checklist item means for the patient's reminders (called by the write path)."""

from recovery.record.planning import record_planner

from .models import PrepItem, PrepOwner, PrepStatus


def _prep_item_plan(record: PrepItem, action: str):
    active = (
        action != "delete"
        and record.owner == PrepOwner.PATIENT
        and record.status == PrepStatus.OPEN
    )
    return record.due_on, str(record), active


prep_item_planned = record_planner("prep_item", _prep_item_plan)
