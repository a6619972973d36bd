"""Reads of the care plan: what a protocol plans for a surgery (the preview shown before it is
applied) and the plan a patient follows (protocols applied to their surgeries and what they
created or skipped)."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from recovery.record.models import (
    Activity,
    ActivityRestriction,
    Appointment,
    AppointmentStatus,
    ClinicalRecord,
    Milestone,
    MilestoneKind,
    PTSession,
    PTStatus,
    Surgery,
)

from .models import (
    GENERATED_FIELDS,
    PlanOutcome,
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

# "The patient already has it": the same kind of record within this window of the planned date
# (docs/clinical-defaults.md). Restrictions: the same activity whose dates overlap the planned
# ones; milestones: the same kind dated in this recovery (on or after the surgery date).
APPOINTMENT_WINDOW = timedelta(days=7)
PT_WINDOW = timedelta(days=1)

# What applying does with one planned record (besides the stored ``PlanOutcome``s).
CREATE = "create"
APPLIED = "applied"  # linked by an earlier apply (created, skipped, or deleted since): nothing


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


@dataclass(frozen=True)
class PlannedRecord:
    """One record a protocol plans for a surgery, and what applying it now would do with it:
    ``CREATE``; skip it (``PlanOutcome.ALREADY_PRESENT``, with the patient's ``existing``
    record; ``PlanOutcome.NOT_APPLICABLE``, its date has passed); or nothing (``APPLIED``)."""

    item: ProtocolItem
    slot: int
    model: type[ClinicalRecord]
    values: dict
    on: date  # the planned day, in the patient's zone
    action: str
    existing: ClinicalRecord | None = None

    @property
    def table(self) -> str:
        return self.model._meta.verbose_name

    def summary(self) -> str:
        v = self.values
        if self.model is ActivityRestriction:
            until = f"to {v['ends_on']}" if v["ends_on"] else "until lifted"
            limit = f" over {v['limit_value']:g} {v['limit_unit']}" if v["limit_value"] else ""
            return f"no {v['activity'].replace('_', ' ')}{limit} from {v['starts_on']} {until}"
        if self.model is Appointment:
            return f"{v['notes'] or v['purpose'].replace('_', ' ')} on {self.on}"
        if self.model is Milestone:
            return f"{v['title']} by {self.on}"
        return f"PT session {self.slot + 1} ({v['setting']}) on {self.on}"


@dataclass(frozen=True)
class ProtocolPreview:
    """What applying ``protocol`` to ``surgery`` would do now, row by row."""

    protocol: Protocol
    surgery: Surgery
    anchor_on: date
    application: ProtocolApplication | None
    rows: tuple[PlannedRecord, ...] = field(default=())

    def where(self, action: str) -> list[PlannedRecord]:
        return [row for row in self.rows if row.action == action]

    @property
    def fingerprint(self) -> str:
        """Names this plan: the confirmation posts it back, and applying refuses when the plan
        computed under the lock is not the one the user confirmed."""
        rows = [
            [row.item.pk, row.slot, row.action, sorted((k, str(v)) for k, v in row.values.items())]
            for row in self.rows
        ]
        blob = json.dumps([self.protocol.pk, self.surgery.pk, str(self.anchor_on), rows])
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _local_day(moment: datetime, tz) -> date:
    return timezone.localtime(moment, tz).date()


def _restriction_matches(record: ActivityRestriction, values: dict, anchor: date, tz) -> bool:
    if record.activity != values["activity"]:
        return False
    if record.activity == Activity.OTHER and _norm(record.instructions) != _norm(
        values["instructions"]
    ):
        return False
    end = record.effective_end
    return (values["ends_on"] is None or record.starts_on <= values["ends_on"]) and (
        end is None or values["starts_on"] <= end
    )


def _appointment_matches(record: Appointment, values: dict, anchor: date, tz) -> bool:
    return (
        record.purpose == values["purpose"]
        and record.status != AppointmentStatus.CANCELLED
        and abs(_local_day(record.starts_at, tz) - _local_day(values["starts_at"], tz))
        <= APPOINTMENT_WINDOW
    )


def _milestone_day(record: Milestone, tz) -> date:
    return record.achieved_on or record.target_on or _local_day(record.created_at, tz)


def _milestone_matches(record: Milestone, values: dict, anchor: date, tz) -> bool:
    if record.kind != values["kind"]:
        return False
    if record.kind == MilestoneKind.OTHER and _norm(record.title) != _norm(values["title"]):
        return False
    return _milestone_day(record, tz) >= anchor


def _pt_matches(record: PTSession, values: dict, anchor: date, tz) -> bool:
    return (
        record.setting == values["setting"]
        and record.status != PTStatus.CANCELLED
        and abs(_local_day(record.happened_at, tz) - _local_day(values["scheduled_for"], tz))
        <= PT_WINDOW
    )


MATCHES = {
    ActivityRestriction: _restriction_matches,
    Appointment: _appointment_matches,
    Milestone: _milestone_matches,
    PTSession: _pt_matches,
}


def _distance(record, values: dict, tz) -> timedelta:
    """How far an existing record is from the planned one (the closest one is taken)."""
    if isinstance(record, ActivityRestriction):
        return abs(record.starts_on - values["starts_on"])
    if isinstance(record, Appointment):
        return abs(record.starts_at - values["starts_at"])
    if isinstance(record, PTSession):
        return abs(record.happened_at - values["scheduled_for"])
    return abs(_milestone_day(record, tz) - values["target_on"])


def _planned_day(model, values: dict, tz) -> date:
    if model is ActivityRestriction:
        return values["starts_on"]
    if model is Appointment:
        return _local_day(values["starts_at"], tz)
    if model is Milestone:
        return values["target_on"]
    return _local_day(values["scheduled_for"], tz)


def _in_the_past(model, values: dict, now: datetime, today: date) -> bool:
    """Would be overdue the moment it is created: never created as pending."""
    if model is ActivityRestriction:
        return values["ends_on"] is not None and values["ends_on"] < today
    if model is Appointment:
        return values["starts_at"] < now
    if model is Milestone:
        return values["target_on"] < today
    return values["scheduled_for"] < now


def _candidates(model, *, patient, application, planned: list[dict], anchor: date, tz):
    """The patient's live records of ``model`` that could cover a planned one: one query,
    bounded to the planned dates and their windows; not those this application generated
    (they belong to their own slots)."""
    qs = model.objects.filter(patient=patient)
    if application is not None:
        field_name = LINK_FIELD[model]
        qs = qs.exclude(
            pk__in=ProtocolRecord.objects.filter(
                application=application, **{f"{field_name}__isnull": False}
            ).values(f"{field_name}_id")
        )
    if model is ActivityRestriction:
        return list(qs.filter(activity__in={v["activity"] for v in planned}))
    if model is Milestone:
        return list(qs.filter(kind__in={v["kind"] for v in planned}))
    key, window = (
        ("starts_at", APPOINTMENT_WINDOW) if model is Appointment else ("scheduled_for", PT_WINDOW)
    )
    first = _at(min(_local_day(v[key], tz) for v in planned) - window, time(0), tz)
    last = _at(
        max(_local_day(v[key], tz) for v in planned) + window + timedelta(days=1), time(0), tz
    )
    if model is Appointment:
        return list(qs.filter(starts_at__gte=first, starts_at__lt=last))
    return list(
        qs.filter(
            Q(scheduled_for__gte=first, scheduled_for__lt=last)
            | Q(performed_at__gte=first, performed_at__lt=last)
        )
    )


def protocol_preview(
    *, protocol: Protocol, surgery: Surgery, now: datetime | None = None
) -> ProtocolPreview:
    """What applying ``protocol`` to ``surgery`` would do now, without writing anything.

    Each planned record is, in this order: already done by an earlier apply of the same
    protocol (``APPLIED``: created, skipped, or deleted on purpose since); covered by a record
    the patient already has, of the same kind within its window (``ALREADY_PRESENT``; one
    existing record covers one planned record, the closest); in the past (``NOT_APPLICABLE``:
    an appointment or session whose time has passed, a milestone whose target day has, a
    restriction that has already ended); else ``CREATE``. Dates count from the surgery date
    in the patient's zone. At most seven queries whatever the protocol."""
    patient = surgery.patient
    tz = patient.tz
    now = now or timezone.now()
    today = timezone.localdate(now, timezone=tz)
    anchor = surgery.performed_on
    application = ProtocolApplication.objects.filter(protocol=protocol, surgery=surgery).first()
    done = (
        set(ProtocolRecord.objects.filter(application=application).values_list("item_id", "slot"))
        if application is not None
        else set()
    )
    planned = [
        (item, model, slot, values)
        for item in protocol.items.all()
        for model, slot, values in planned_records(item, anchor, tz)
    ]
    pending: dict[type, list[dict]] = {}
    for item, model, slot, values in planned:
        if (item.pk, slot) not in done:
            pending.setdefault(model, []).append(values)
    existing = {
        model: _candidates(
            model, patient=patient, application=application, planned=rows, anchor=anchor, tz=tz
        )
        for model, rows in pending.items()
    }
    used: set[tuple[type, str]] = set()
    rows = []
    for item, model, slot, values in planned:
        match = None
        if (item.pk, slot) in done:
            action = APPLIED
        else:
            matching = [
                record
                for record in existing[model]
                if (model, record.pk) not in used and MATCHES[model](record, values, anchor, tz)
            ]
            if matching:
                match = min(matching, key=lambda r: (_distance(r, values, tz), r.pk))
                used.add((model, match.pk))
                action = PlanOutcome.ALREADY_PRESENT
            elif _in_the_past(model, values, now, today):
                action = PlanOutcome.NOT_APPLICABLE
            else:
                action = CREATE
        rows.append(
            PlannedRecord(
                item=item,
                slot=slot,
                model=model,
                values=values,
                on=_planned_day(model, values, tz),
                action=str(action),
                existing=match,
            )
        )
    return ProtocolPreview(
        protocol=protocol,
        surgery=surgery,
        anchor_on=anchor,
        application=application,
        rows=tuple(rows),
    )


def plan_for_patient(*, patient) -> list[dict]:
    """One entry per applied protocol, with the ids of the live records it generated (edited or
    not), found through their ``ProtocolRecord`` links and only among this patient's rows, and
    the planned records it skipped (already present, or in the past when applied). A fixed
    number of queries: applications with their items, then the links."""
    applications = list(
        ProtocolApplication.objects.filter(surgery__patient=patient)
        .select_related("protocol", "surgery")
        .prefetch_related("protocol__items")
        .order_by("applied_at")
    )
    live = ~Q(outcome=PlanOutcome.CREATED)
    for name in GENERATED_FIELDS:
        live |= Q(**{f"{name}__patient": patient, f"{name}__deleted_at__isnull": True})
    links = (
        ProtocolRecord.objects.filter(application__in=[a.pk for a in applications])
        .filter(live)
        .order_by("slot")
        .values_list(
            "application_id",
            "item_id",
            "outcome",
            "planned_on",
            *(f"{name}_id" for name in GENERATED_FIELDS),
        )
    )
    records: dict[tuple[int, int], list[str]] = {}
    skipped: dict[tuple[int, int], list[dict]] = {}
    for application_id, item_id, outcome, planned_on, *ids in links:
        key = (application_id, item_id)
        if outcome == PlanOutcome.CREATED:
            records.setdefault(key, []).append(next(i for i in ids if i))
        else:
            skipped.setdefault(key, []).append({"on": planned_on, "reason": outcome})
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
                    "skipped": skipped.get((application.pk, item.pk), []),
                }
                for item in application.protocol.items.all()
            ],
        }
        for application in applications
    ]
