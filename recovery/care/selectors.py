"""The care plan a patient follows: protocols applied to their surgeries and what they created."""

from django.db.models import Q

from .models import (
    GENERATED_FIELDS,
    ProtocolApplication,
    ProtocolRecord,
)


def plan_for_patient(*, patient) -> list[dict]:
    """One entry per applied protocol, with the ids of the live records it generated (edited or
    not), found through their ``ProtocolRecord`` links and only among this patient's rows. A
    fixed number of queries: applications with their items, then the links."""
    applications = list(
        ProtocolApplication.objects.filter(surgery__patient=patient)
        .select_related("protocol", "surgery")
        .prefetch_related("protocol__items")
        .order_by("applied_at")
    )
    live = Q()
    for name in GENERATED_FIELDS:
        live |= Q(**{f"{name}__patient": patient, f"{name}__deleted_at__isnull": True})
    links = (
        ProtocolRecord.objects.filter(application__in=[a.pk for a in applications])
        .filter(live)
        .order_by("slot")
        .values_list("application_id", "item_id", *(f"{name}_id" for name in GENERATED_FIELDS))
    )
    records: dict[tuple[int, int], list[str]] = {}
    for application_id, item_id, *ids in links:
        records.setdefault((application_id, item_id), []).append(next(i for i in ids if i))
    return [
        {
            "protocol": application.protocol.name,
            "surgery": application.surgery_id,
            "applied_at": application.applied_at,
            "anchor_on": application.anchor_on,
            "items": [
                {
                    "item_type": item.item_type,
                    "description": item.describe(),
                    "records": records.get((application.pk, item.pk), []),
                }
                for item in application.protocol.items.all()
            ],
        }
        for application in applications
    ]
