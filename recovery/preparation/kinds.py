"""The checklist, imaging studies and complications: their write rules and what the edges
derive from them (``recovery.record.writes``)."""

from recovery.record.writes import RecordKind, forbidden, register

from . import planning
from .models import (
    Complication,
    ImagingStudy,
    PrepItem,
    PrepStatus,
)


def _patient_owns_item(record, actor) -> bool:
    return record.owner == "patient"


def _patient_completes_only(values: dict) -> None:
    if values.get("status", PrepStatus.DONE) not in (PrepStatus.DONE, PrepStatus.OPEN):
        raise forbidden("Only the care team waives a checklist item.")


PREP_ITEMS = register(
    RecordKind(
        PrepItem,
        "prep_items",
        patient_may_change=_patient_owns_item,
        patient_fields=frozenset(
            {
                "status",
                "completed_on",
                "quit_on",
                "nicotine_free_confirmed",
                "second_opinion",
                "hba1c_percent",
                "hba1c_on",
                "weight_kg",
                "bmi",
                "notes",
            }
        ),
        patient_values_check=_patient_completes_only,
        after_write=(planning.prep_item_planned,),
        sort="due_on",
        sync_since=3,
    )
)
IMAGING_STUDIES = register(
    RecordKind(ImagingStudy, "imaging_studies", sort="performed_on", sync_since=3)
)
COMPLICATIONS = register(RecordKind(Complication, "complications", sort="noticed_on", sync_since=3))
