"""The care plan a patient follows: protocols applied to their surgeries and what they created."""

from recovery.record.models import (
    ActivityRestriction,
    Appointment,
    Milestone,
    PTSession,
)

from .models import (
    ProtocolApplication,
)

GENERATED = (
    ("restrictions", ActivityRestriction),
    ("appointments", Appointment),
    ("milestones", Milestone),
    ("pt_sessions", PTSession),
)


def plan_for_patient(*, patient) -> list[dict]:
    """One entry per applied protocol, with the ids of the live records it generated (edited or
    not). A fixed number of queries: applications with their items, then one per table."""
    applications = list(
        ProtocolApplication.objects.filter(surgery__patient=patient)
        .select_related("protocol", "surgery")
        .prefetch_related("protocol__items")
        .order_by("applied_at")
    )
    generated: dict[str, list[tuple[str, str]]] = {}
    for table, model in GENERATED:
        for record_id in model.objects.filter(patient=patient, pk__startswith="pa").values_list("pk", flat=True):
            prefix = record_id.split("-", 1)[0] + "-"
            generated.setdefault(prefix, []).append((table, record_id))
    plan = []
    for application in applications:
        records = generated.get(application.id_prefix, [])
        plan.append({
            "protocol": application.protocol.name,
            "surgery": application.surgery_id,
            "applied_at": application.applied_at,
            "anchor_on": application.anchor_on,
            "items": [
                {
                    "item_type": item.item_type,
                    "description": item.describe(),
                    "records": sorted(
                        rid for _, rid in records if rid.split("-")[1] == str(item.pk)
                    ),
                }
                for item in application.protocol.items.all()
            ],
        })
    return plan
