"""Writes of daily steps: one row per patient and local day, a later count replacing an earlier
one, whatever id the phone sent it with.

Why by day and not by id: WatermelonDB gives every record the phone creates a random id. A
patient with two phones (or one phone reinstalled) creates a second local record for a day the
server already holds under another id. Refusing it (a unique-day 400) would strand that record
in the phone's queue and in the quarantine; a 409 would come back on every sync. So a write
names a day, and the server holds one row for it:

- the day has no row: the record is created under its id;
- the day has a row: that row takes the new count if it was counted at the same time or later
  (``counted_at``; an older count, say from a phone that was offline, changes nothing), and
  the id the phone sent, if it is not the row's, becomes a tombstone of this patient (an
  *alias*). The next pull tells that phone the alias is deleted and sends the day's row, so
  every phone ends with the same one record per day (docs/sync.md). An alias sent again (the
  phone had not pulled yet) lands on the day's row again, and its tombstone is stamped anew so
  the phone hears of it on its next pull.

Every write goes through the one write path (``records_create`` / ``records_update`` with the
sync clock taken once), so the role rules, validation, sync stamps and the triage hook apply as
for every table.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import PatientProfile, User
from accounts.services import patient_clock_tick
from config.errors import Conflict, DomainError
from recovery.record.checks import check_constraints
from recovery.record.models import validate_record_id
from recovery.record.writes import (
    BatchResult,
    check_create,
    kind_for_table,
    records_create,
    records_update,
)

from .models import DailySteps

TABLE = "daily_steps"
VALUE_FIELDS = ("day", "steps", "counted_at", "source")


def _unknown_fields(spec, values: dict) -> ValidationError | None:
    unknown = sorted(set(values) - set(spec.fields()))
    if not unknown:
        return None
    return ValidationError(
        {
            name: ValidationError("Unknown or read-only field.", code="unknown_field")
            for name in unknown
        }
    )


def _judged(patient: PatientProfile, actor: User, record_id, values: dict) -> DailySteps:
    """The item as an unsaved row, validated as ``full_clean()`` would (fields, the future-day
    rule, the CHECK constraints) without a query; raises the ``ValidationError``."""
    row = DailySteps(patient=patient, created_by=actor, **values)
    if record_id is not None:
        row.id = record_id
    errors: dict = {}
    try:
        row.clean_fields(exclude={"patient", "created_by"})
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if "day" not in errors:
        try:
            row.clean()
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
    try:
        check_constraints(row, exclude={n for n in errors if n != NON_FIELD_ERRORS})
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)
    return row


def _changes(row: DailySteps, incoming: DailySteps) -> dict:
    return {
        name: getattr(incoming, name)
        for name in VALUE_FIELDS
        if getattr(row, name) != getattr(incoming, name)
    }


@transaction.atomic
def daily_steps_put(
    *,
    actor: User,
    patient: PatientProfile,
    items: list[tuple[str | None, dict]],
    clock: int | None = None,
) -> BatchResult:
    """Stores many ``(id, values)`` of one patient's daily steps, one row per day (see the
    module). ``records[i]`` is the row now holding item ``i``'s day (its id may differ from
    the one sent), ``written[i]`` whether the item changed anything, ``refused`` the items
    refused by position (the others are written: a sync push keeps the refused ones in its
    quarantine). Queries do not grow with the number of items."""
    spec = kind_for_table(TABLE)
    count = len(items)
    result = BatchResult(records=[None] * count, written=[False] * count)
    if not items:
        return result
    try:
        check_create(spec, actor, patient)
    except DomainError as exc:
        result.refused = dict.fromkeys(range(count), exc)
        return result
    version = clock if clock is not None else patient_clock_tick(patient_id=patient.pk)
    now = timezone.now()

    # Each item on its own: field names, values, the day not in the future, the id's form.
    judged: dict[int, DailySteps] = {}
    for index, (record_id, values) in enumerate(items):
        values = dict(values)
        if values.get("counted_at") is None:
            values["counted_at"] = now
        unknown = _unknown_fields(spec, values)
        if unknown is not None:
            result.refused[index] = unknown
            continue
        if values.get("day") is None:
            result.refused[index] = ValidationError(
                {"day": ValidationError("Name the day these steps are of.", code="required")}
            )
            continue
        try:
            judged[index] = _judged(patient, actor, record_id, values)
        except ValidationError as exc:
            result.refused[index] = exc

    ids = {items[i][0] for i in judged if items[i][0] is not None}
    by_id = {row.pk: row for row in DailySteps.all_objects.filter(pk__in=ids)} if ids else {}
    for index in list(judged):
        row = by_id.get(items[index][0])
        if row is not None and row.patient_id != patient.pk:
            result.refused[index] = Conflict(
                "This id is already in use.", code="id_taken", attr="id"
            )
            del judged[index]

    # One winner per day: the latest count, the last sent of equal counts.
    days: dict = {}
    for index, row in judged.items():
        days.setdefault(row.day, []).append(index)
    by_day = {
        row.day: row for row in DailySteps.objects.filter(patient=patient, day__in=list(days))
    }
    creates: list[tuple[list[int], str | None, dict]] = []
    updates: list[tuple[list[int], DailySteps, dict]] = []
    aliases: dict[str, DailySteps] = {}  # id sent -> the incoming row it named
    for day, group in days.items():
        winner = max(group, key=lambda i: (judged[i].counted_at, i))
        incoming = judged[winner]
        live = by_day.get(day)
        if live is None:
            own = by_id.get(items[winner][0])
            if own is None:
                creates.append((group, items[winner][0], _values(incoming)))
                target_id = items[winner][0]
            elif own.deleted_at is None:  # the phone moved its record to another day
                updates.append((group, own, _changes(own, incoming)))
                target_id = own.pk
            else:  # a tombstone (deleted, or an alias of a day since deleted): a fresh row
                creates.append((group, None, _values(incoming)))
                target_id = None
        else:
            target_id = live.pk
            if incoming.counted_at >= live.counted_at:
                updates.append((group, live, _changes(live, incoming)))
            else:
                updates.append((group, live, {}))
        for index in group:
            record_id = items[index][0]
            if record_id is not None and record_id != target_id:
                aliases.setdefault(record_id, judged[index])

    # Alias ids must be valid ids (they become rows).
    for record_id in list(aliases):
        try:
            validate_record_id(record_id)
        except ValidationError as exc:
            for index, (sent, _) in enumerate(items):
                if sent == record_id and index in judged:
                    result.refused[index] = ValidationError({"id": exc.error_list})
            del aliases[record_id]

    if creates:
        batch = records_create(
            spec,
            actor=actor,
            patient=patient,
            items=[(record_id, values) for _, record_id, values in creates],
            clock=version,
            partial=True,
        )
        for (group, _, _), row, written, refusal in zip(
            creates,
            batch.records,
            batch.written,
            [batch.refused.get(i) for i in range(len(creates))],
            strict=True,
        ):
            _settle(result, group, row, written, refusal)
    real_updates = [(group, row, changed) for group, row, changed in updates if changed]
    for group, row, changed in updates:
        if not changed:
            _settle(result, group, row, False, None)
    if real_updates:
        batch = records_update(
            spec,
            actor=actor,
            items=[(row, changed) for _, row, changed in real_updates],
            clock=version,
            partial=True,
        )
        for (group, _, _), row, written, refusal in zip(
            real_updates,
            batch.records,
            batch.written,
            [batch.refused.get(i) for i in range(len(real_updates))],
            strict=True,
        ):
            _settle(result, group, row, written, refusal)

    _tombstone_aliases(
        {k: v for k, v in aliases.items() if _alias_stands(result, items, k)},
        by_id=by_id,
        actor=actor,
        patient=patient,
        version=version,
        now=now,
    )
    return result


def _values(row: DailySteps) -> dict:
    return {name: getattr(row, name) for name in VALUE_FIELDS}


def _settle(result: BatchResult, group: list[int], row, written: bool, refusal) -> None:
    for index in group:
        if refusal is not None:
            result.refused[index] = refusal
        else:
            result.records[index] = row
            result.written[index] = written


def _alias_stands(result: BatchResult, items, record_id: str) -> bool:
    """An alias is kept only when the day it named was stored (its row is in ``records``)."""
    return any(
        sent == record_id and result.records[index] is not None
        for index, (sent, _) in enumerate(items)
    )


def _tombstone_aliases(
    aliases: dict[str, DailySteps], *, by_id: dict, actor, patient, version: int, now
) -> None:
    """Each alias id becomes (or stays) a tombstone of the patient, stamped with this write's
    clock value, so the phone that holds it deletes it on its next pull. A live row under an
    alias id (the phone moved its record to a day that already had one) is deleted the same
    way."""
    if not aliases:
        return
    fresh, restamp = [], []
    for record_id, incoming in aliases.items():
        row = by_id.get(record_id)
        if row is None:
            fresh.append(
                DailySteps(
                    id=record_id,
                    patient=patient,
                    created_by=actor,
                    day=incoming.day,
                    steps=incoming.steps,
                    counted_at=incoming.counted_at,
                    source=incoming.source,
                    created_at=now,
                    updated_at=now,
                    deleted_at=now,
                    sync_version=version,
                )
            )
        else:
            restamp.append(record_id)
    if fresh:
        DailySteps.all_objects.bulk_create(fresh)
    if restamp:
        DailySteps.all_objects.filter(patient=patient, pk__in=restamp).update(
            deleted_at=now, sync_version=version, updated_at=now
        )


def daily_steps_record(
    *, actor: User, patient: PatientProfile, id: str | None = None, **values
) -> tuple[DailySteps, bool]:
    """One day's count (the REST API): ``(row, created)``, the row being the day's (its id may
    differ from ``id``). Raises the refusal (``DomainError`` or ``ValidationError``)."""
    with transaction.atomic():
        check_create(kind_for_table(TABLE), actor, patient)
        clock = patient_clock_tick(patient_id=patient.pk)  # orders this write first
        existed = DailySteps.objects.filter(patient=patient, day=values.get("day")).exists()
        result = daily_steps_put(actor=actor, patient=patient, items=[(id, values)], clock=clock)
        if result.refused:
            raise result.refused[0]
    return result.records[0], not existed and result.written[0]
