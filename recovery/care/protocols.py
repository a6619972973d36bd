"""Recovery protocols: a clinic's care plan per kind of surgery, applied to one surgery.

Applying creates the plan's restrictions, appointments, milestones and PT sessions through the
ordinary services (so role rules, sync stamps and reminders follow). Each generated record is
linked to its application, item and slot (the n-th session of a PT plan) by a ``ProtocolRecord``
row with a foreign key to the record: applying twice creates nothing new, and a moved surgery
shifts exactly the linked records of that patient that have not happened yet. Generated records
get ordinary server ids; nothing is found by an id pattern (ids are the patient's to choose
too). A surgeon may edit or delete any generated record for one patient; the protocol is not
touched, and a deleted item is not re-created by applying again (its link stays).
"""

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from config.errors import Invalid
from recovery.record.models import (
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    Milestone,
    PTSession,
    PTStatus,
    Surgery,
)
from recovery.record.writes import kind_for_model, record_create, record_update

from .models import (
    Protocol,
    ProtocolApplication,
    ProtocolItem,
    ProtocolItemType,
    ProtocolRecord,
)

LINK_FIELD = {  # the ProtocolRecord field that points at each generated table
    ActivityRestriction: "restriction",
    Appointment: "appointment",
    Milestone: "milestone",
    PTSession: "pt_session",
}

APPOINTMENT_TIME = time(9, 0)
APPOINTMENT_LENGTH = timedelta(minutes=30)
PT_TIME = time(10, 0)


def _at(day: date, at: time, tz) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def planned_records(item: ProtocolItem, anchor: date, tz):
    """Yields ``(model, slot, values)`` for what ``item`` plans from surgery date ``anchor``."""
    if item.item_type == ProtocolItemType.RESTRICTION:
        yield (
            ActivityRestriction,
            0,
            {
                "activity": item.activity,
                "instructions": item.instructions,
                "limit_value": item.limit_value,
                "limit_unit": item.limit_unit,
                "starts_on": anchor + timedelta(weeks=item.start_week),
                "ends_on": anchor + timedelta(weeks=item.end_week)
                if item.end_week is not None
                else None,
            },
        )
    elif item.item_type == ProtocolItemType.APPOINTMENT:
        starts = _at(anchor + timedelta(days=item.day_offset), APPOINTMENT_TIME, tz)
        yield (
            Appointment,
            0,
            {
                "starts_at": starts,
                "ends_at": starts + APPOINTMENT_LENGTH,
                "purpose": item.purpose,
                "imaging": item.imaging or "none",
                "notes": item.title,
            },
        )
    elif item.item_type == ProtocolItemType.MILESTONE:
        yield (
            Milestone,
            0,
            {
                "title": item.title,
                "kind": item.milestone_kind or "other",
                "target_on": anchor + timedelta(days=item.day_offset),
            },
        )
    elif item.item_type == ProtocolItemType.PT_PLAN:
        spacing = 7 / item.sessions_per_week
        for week in range(item.weeks):
            for k in range(item.sessions_per_week):
                day = anchor + timedelta(weeks=item.start_week + week, days=int(k * spacing))
                yield (
                    PTSession,
                    week * item.sessions_per_week + k,
                    {
                        "scheduled_for": _at(day, PT_TIME, tz),
                        "status": PTStatus.PLANNED,
                        "setting": item.pt_setting or "clinic",
                    },
                )


def _check_protocol_for(protocol: Protocol, surgery: Surgery) -> None:
    if protocol.clinic_id not in (None, surgery.patient.clinic_id):
        raise Invalid("This protocol belongs to another clinic.", attr="protocol")
    if not protocol.is_active:
        raise Invalid("This protocol is not active.", attr="protocol")


@transaction.atomic
def protocol_apply(
    *, actor: User, protocol: Protocol, surgery: Surgery
) -> tuple[ProtocolApplication, int]:
    """Creates what the protocol plans for this surgery and is not there yet. Returns the
    application and how many records were created (0 when applied before)."""
    surgery = Surgery.objects.select_related("patient").get(pk=surgery.pk)
    _check_protocol_for(protocol, surgery)
    application, _ = ProtocolApplication.objects.select_for_update().get_or_create(
        protocol=protocol,
        surgery=surgery,
        defaults={"applied_by": actor, "anchor_on": surgery.performed_on},
    )
    if application.anchor_on != surgery.performed_on:
        _shift(actor=actor, application=application, surgery=surgery)
    tz = surgery.patient.tz
    # Under the application's row lock: a concurrent apply waits, then sees these links.
    done = set(
        ProtocolRecord.objects.filter(application=application).values_list("item_id", "slot")
    )
    created = 0
    for item in protocol.items.all():
        for model, slot, values in planned_records(item, application.anchor_on, tz):
            if (item.pk, slot) in done:
                continue  # applied before, or deleted on purpose by the care team
            record, _ = record_create(
                kind_for_model(model), actor=actor, patient=surgery.patient, **values
            )
            ProtocolRecord.objects.create(
                application=application, item=item, slot=slot, **{LINK_FIELD[model]: record}
            )
            created += 1
    return application, created


def generated_records(model, *, application: ProtocolApplication, patient):
    """The live records of ``model`` this application generated, of its own patient only."""
    field = LINK_FIELD[model]
    linked = ProtocolRecord.objects.filter(application=application, **{f"{field}__isnull": False})
    return model.objects.filter(patient=patient, pk__in=linked.values(f"{field}_id"))


def _shift(*, actor: User, application: ProtocolApplication, surgery: Surgery) -> int:
    """Moves the generated items that have not happened yet by the change of surgery date."""
    delta = surgery.performed_on - application.anchor_on
    patient = surgery.patient
    today = timezone.localdate(timezone=patient.tz)
    mine = {"application": application, "patient": patient}
    moved = 0
    for appointment in generated_records(Appointment, **mine).filter(
        status=AppointmentStatus.SCHEDULED
    ):
        record_update(
            kind_for_model(Appointment),
            actor=actor,
            record=appointment,
            starts_at=appointment.starts_at + delta,
            ends_at=appointment.ends_at + delta if appointment.ends_at else None,
        )
        moved += 1
    for session in generated_records(PTSession, **mine).filter(
        status=PTStatus.PLANNED, scheduled_for__isnull=False
    ):
        record_update(
            kind_for_model(PTSession),
            actor=actor,
            record=session,
            scheduled_for=session.scheduled_for + delta,
        )
        moved += 1
    for milestone in generated_records(Milestone, **mine).filter(
        achieved_on__isnull=True, target_on__isnull=False
    ):
        record_update(
            kind_for_model(Milestone),
            actor=actor,
            record=milestone,
            target_on=milestone.target_on + delta,
        )
        moved += 1
    for restriction in generated_records(ActivityRestriction, **mine).filter(
        lifted_on__isnull=True
    ):
        if restriction.starts_on > today:
            values = {"starts_on": restriction.starts_on + delta}
        elif restriction.ends_on is None or restriction.ends_on < today:
            continue  # already in force until lifted, or over
        else:
            values = {}
        if restriction.ends_on is not None:
            values["ends_on"] = max(
                restriction.ends_on + delta, values.get("starts_on", restriction.starts_on)
            )
        record_update(
            kind_for_model(ActivityRestriction), actor=actor, record=restriction, **values
        )
        moved += 1
    application.anchor_on = surgery.performed_on
    application.save(update_fields=["anchor_on"])
    return moved


def protocols_follow_surgery(*, actor: User, surgery: Surgery) -> int:
    """Called when a surgery changes: shifts the protocols applied to it to its new date."""
    moved = 0
    for application in ProtocolApplication.objects.select_for_update().filter(surgery=surgery):
        if application.anchor_on != surgery.performed_on:
            moved += _shift(actor=actor, application=application, surgery=surgery)
    return moved


@transaction.atomic
def protocol_copy(*, protocol: Protocol, clinic, name: str | None = None) -> Protocol:
    """Copies a (default) protocol into a clinic's own, editable protocol."""
    copy = Protocol(clinic=clinic, name=name or protocol.name, description=protocol.description)
    copy.full_clean()
    copy.save()
    items = []
    for item in protocol.items.all():
        item.pk = None
        item.protocol = copy
        items.append(item)
    ProtocolItem.objects.bulk_create(items)
    return copy
