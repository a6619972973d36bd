"""Recovery protocols: a clinic's care plan per kind of surgery, applied to one surgery.

Applying creates the plan's restrictions, appointments, milestones and PT sessions through the
ordinary services (so role rules, sync stamps and reminders follow), exactly as the preview
(``recovery.care.selectors.protocol_preview``) showed it: what the patient already has (same
kind, same date window) is skipped, and what is already in the past is recorded as not
applicable instead of being created as pending. Each planned record gets a ``ProtocolRecord``
row (application, item, slot, outcome, and a foreign key to the record when one was created):
applying twice creates nothing new, and a moved surgery shifts exactly the linked records of
that patient that have not happened yet. Generated records get ordinary server ids; nothing is
found by an id pattern (ids are the patient's to choose too). A surgeon may edit or delete any
generated record for one patient; the protocol is not touched, and a deleted item is not
re-created by applying again (its link stays).
"""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import is_care_team_member
from accounts.services import patient_clock_read
from config.errors import Conflict, Forbidden, Invalid
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
    PlanOutcome,
    Protocol,
    ProtocolApplication,
    ProtocolItem,
    ProtocolRecord,
)
from .selectors import APPLIED, CREATE, LINK_FIELD, protocol_preview

STALE_PREVIEW = (
    "The plan changed since it was shown (a record was added or the time of an item passed): "
    "review it again before applying."
)


def _check_protocol_for(protocol: Protocol, surgery: Surgery) -> None:
    if protocol.clinic_id not in (None, surgery.patient.clinic_id):
        raise Invalid("This protocol belongs to another clinic.", attr="protocol")
    if not protocol.is_active:
        raise Invalid("This protocol is not active.", attr="protocol")


@transaction.atomic
def protocol_apply(
    *,
    actor: User,
    protocol: Protocol,
    surgery: Surgery,
    expected: str | None = None,
) -> tuple[ProtocolApplication, int]:
    """Applies the plan ``protocol_preview`` shows for this surgery, in one transaction: creates
    its ``CREATE`` rows, records the skipped ones (already present, not applicable), and leaves
    what an earlier apply did. Returns the application and how many records were created (0
    when applied before). ``expected``: the fingerprint of the preview the user confirmed; when
    the plan computed here differs, nothing is written (``Conflict``, code ``stale_preview``).

    The patient's sync clock is locked first (the lock every writer of the patient's records
    takes), so two applies for one patient, of the same protocol or not, run one after the
    other and the second sees what the first created; the unique ``(application, item, slot)``
    link is the database's guard."""
    surgery = Surgery.objects.select_related("patient").get(pk=surgery.pk)
    patient = surgery.patient
    if not is_care_team_member(actor, patient):
        raise Forbidden(
            "Only the patient's care team applies a protocol.", code="permission_denied"
        )
    _check_protocol_for(protocol, surgery)
    patient_clock_read(patient_id=patient.pk)  # the patient's writers' lock, until commit
    application, _ = ProtocolApplication.objects.select_for_update().get_or_create(
        protocol=protocol,
        surgery=surgery,
        defaults={"applied_by": actor, "anchor_on": surgery.performed_on},
    )
    if application.anchor_on != surgery.performed_on:
        _shift(actor=actor, application=application, surgery=surgery)
    preview = protocol_preview(protocol=protocol, surgery=surgery)
    if expected is not None and preview.fingerprint != expected:
        raise Conflict(STALE_PREVIEW, code="stale_preview")
    created = 0
    links = []
    for row in preview.rows:
        if row.action == APPLIED:
            continue  # applied before, skipped before, or deleted on purpose by the care team
        link = ProtocolRecord(
            application=application, item=row.item, slot=row.slot, planned_on=row.on
        )
        if row.action == CREATE:
            record, _ = record_create(
                kind_for_model(row.model), actor=actor, patient=patient, **row.values
            )
            link.outcome = PlanOutcome.CREATED
            setattr(link, LINK_FIELD[row.model], record)
            created += 1
        else:
            link.outcome = row.action
        links.append(link)
    ProtocolRecord.objects.bulk_create(links)
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
