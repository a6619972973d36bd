"""Push: apply a device's changes through the one write path, all or nothing (design.md
section 5).

Each table's records go through the write path's batch functions (``records_create`` /
``records_update`` / ``records_delete``), so the same role rules, validation, clock stamps,
triage and reminder planning apply as for the REST API and the admin, with a number of
queries that does not grow with the push. The whole push is one transaction: the first
refusal raises, and nothing of the push stays.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import PatientProfile, User
from accounts.selectors import patients_for
from accounts.services import patient_clock_read, patient_clock_tick
from config.errors import Conflict, DomainError, Invalid, NotFound
from recovery.record.writes import records_create, records_delete, records_update

from .models import RejectedRecord, RejectedStatus
from .protocol import (
    Problems,
    PushBatch,
    PushedRecord,
    Refusal,
    decode_record,
    refuse_forbidden_tables,
)
from .rejections import refusal_of, rejected_answer, rejected_store, storable
from .tables import SYNC_TABLES, ForeignId, RecordWriter

logger = logging.getLogger(__name__)
_MISSING = object()


def _put(table):
    """The batch function of a table kept one row per key (``RecordKind.put``: daily steps by
    day), or None. Such a table is merged, never in conflict: its records skip the conflict
    check and go through that function (docs/sync.md)."""
    writer = table.writer
    return writer.kind.put if isinstance(writer, RecordWriter) else None


# --- Replays: a push whose answer was lost, sent again -------------------------------------------
# A push holds the patient's clock lock from start to commit, so every stamp in (clock at the
# start, clock at the end] was given by that push and no other writer. After commit, that range
# and the pushing user are remembered (the last few pushes per patient): a row changed after
# ``last_pulled_at`` whose stamp falls in such a range of the same user was last changed by that
# user's push. Losing the memory (cache flushed) only turns a replay back into a 409: the app
# pulls and pushes again, nothing is lost.
PUSH_MEMORY = 20
PUSH_MEMORY_SECONDS = 7 * 24 * 3600


def _pushes_key(patient_id: int) -> str:
    return f"sync:pushes:{patient_id}"


def _remembered_pushes(patient_id: int) -> list:
    try:
        return cache.get(_pushes_key(patient_id)) or []
    except Exception:  # the cache is an optimisation of the answer, never a reason to fail
        logger.warning("sync push memory unavailable", exc_info=True)
        return []


def _remember_push(patient_id: int, actor_id: int, first: int, last: int) -> None:
    pushes = [*_remembered_pushes(patient_id), (first, last, actor_id)][-PUSH_MEMORY:]
    cache.set(_pushes_key(patient_id), pushes, PUSH_MEMORY_SECONDS)


def _is_replay(
    batch: PushBatch,
    existing: dict,
    actor: User,
    patient: PatientProfile,
    last_pulled_at: int,
    kept: dict,
) -> bool:
    """The push is already applied: every pushed record is stored with the same values (or
    kept as refused, as sent: ``kept`` maps ``(table, id)`` to the raw record), every one
    changed since ``last_pulled_at`` was last changed by a push of ``actor``, and every
    deleted id is gone."""
    pushes = None
    for record in batch.records:
        if kept.get((record.table.name, record.id), (_MISSING,))[0] == storable(record.raw):
            continue
        if _put(record.table) is not None:
            continue  # merged by key: applying it again changes nothing
        row = existing[record.table.name].get(record.id)
        if row is None or row.patient_id != patient.pk or row.deleted_at is not None:
            return False
        if _changed_values(record, row):
            return False
        if row.sync_version > last_pulled_at:
            if pushes is None:
                pushes = [
                    (low, high)
                    for low, high, who in _remembered_pushes(patient.pk)
                    if who == actor.pk
                ]
            if not any(low < row.sync_version <= high for low, high in pushes):
                return False
    for table, record_id in batch.deleted:
        if kept.get((table.name, record_id), (_MISSING,))[0] == record_id:
            continue  # a deletion refused and kept by the first try
        row = existing[table.name].get(record_id)
        if row is not None and row.patient_id == patient.pk and row.deleted_at is None:
            return False
    return True


def _resolve_foreign_keys(
    table, entries: list[tuple[PushedRecord, dict]], patient: PatientProfile
) -> tuple[list[dict | None], dict[int, Exception]]:
    """Foreign ids become rows, looked up within the patient's record only: one query per
    foreign-key column for all ``entries`` (``(record, values)``). Returns the resolved values
    by position (None where refused) and the refusals by position."""
    resolved = [dict(values) for _, values in entries]
    refused: dict[int, Exception] = {}
    for column in table.columns:
        if not isinstance(column.codec, ForeignId):
            continue
        name = column.name
        wanted = {
            values[name] for _, values in entries if name in values and values[name] is not None
        }
        if not wanted:
            continue
        related = table.model._meta.get_field(name).related_model
        rows = {
            row.pk: row
            for row in related.all_objects.filter(
                pk__in=wanted, patient=patient, deleted_at__isnull=True
            )
        }
        for position, (_, values) in enumerate(entries):
            value = values.get(name)
            if value is None or position in refused:
                continue
            row = rows.get(value)
            if row is None:
                refused[position] = DjangoValidationError(
                    {
                        name: DjangoValidationError(
                            "No such record for this patient.", code="does_not_exist"
                        )
                    }
                )
            else:
                resolved[position][name] = row
    return [None if i in refused else v for i, v in enumerate(resolved)], refused


def _changed_values(record: PushedRecord, row) -> dict:
    """WatermelonDB pushes whole records; only the columns that differ are written (so a
    patient marking a care-team milestone achieved changes only ``achieved_on``)."""
    changed = {}
    for name, value in record.values.items():
        column = record.table.column(name)
        model_field = row._meta.get_field(name)
        stored = getattr(row, model_field.attname)
        if not column.codec.same(stored, value):
            changed[name] = value
    return changed


def _existing_rows(batch: PushBatch) -> dict[str, dict]:
    """One query per table: every row the push names, tombstones and other patients' included."""
    ids: dict[str, set] = {}
    for record in batch.records:
        ids.setdefault(record.table.name, set()).add(record.id)
    for table, record_id in batch.deleted:
        ids.setdefault(table.name, set()).add(record_id)
    return {
        name: {
            row.pk: row
            for row in SYNC_TABLES[name]
            .model._base_manager.select_related("patient")
            .filter(pk__in=wanted)
        }
        for name, wanted in ids.items()
    }


def _check_conflicts(
    batch: PushBatch, existing: dict, patient: PatientProfile, last_pulled_at: int
):
    conflicts: dict[str, list[str]] = {}
    first_code = None

    def conflict(table: str, record_id: str, code: str):
        nonlocal first_code
        conflicts.setdefault(table, []).append(record_id)
        first_code = first_code or code

    for record in batch.records:
        row = existing[record.table.name].get(record.id)
        if row is None or _put(record.table) is not None:
            continue  # a table merged by key has no conflicts (a later value replaces)
        if row.patient_id != patient.pk:
            continue  # refused on its own (id_taken), see sync_push
        if row.deleted_at is not None:
            conflict(record.table.name, record.id, "deleted")
        elif row.sync_version > last_pulled_at:
            conflict(record.table.name, record.id, "conflict")
    for table, record_id in batch.deleted:
        row = existing[table.name].get(record_id)
        live = row is not None and row.patient_id == patient.pk and row.deleted_at is None
        if live and row.sync_version > last_pulled_at:
            conflict(table.name, record_id, "conflict")
    if conflicts:
        first_table = next(iter(conflicts))
        raise Conflict(
            "Records changed on the server since your last pull; pull, merge and push again. "
            "Nothing was applied.",
            code=first_code,
            attr=f"{first_table}.{conflicts[first_table][0]}",
            extra={"conflicts": {name: sorted(ids) for name, ids in conflicts.items()}},
        )


def _write_table(
    table, creates, updates, *, actor: User, patient: PatientProfile, version
) -> dict[int, Exception]:
    """Writes one table's part of a push: ``creates`` are ``(position, record)``, ``updates``
    ``(position, record, row, changed values)``. Clinical tables go through the batch write
    path (``records_create`` / ``records_update``); a table with its own writer (the inbox)
    row by row, each in a savepoint. Every acceptable record is written; the refused ones are
    returned by position in the push."""
    refused: dict[int, Exception] = {}
    create_values, bad = _resolve_foreign_keys(
        table, [(record, record.values) for _, record in creates], patient
    )
    refused |= {creates[i][0]: exc for i, exc in bad.items()}
    creates = [
        (c, v) for i, (c, v) in enumerate(zip(creates, create_values, strict=True)) if i not in bad
    ]
    update_values, bad = _resolve_foreign_keys(
        table, [(record, changed) for _, record, _, changed in updates], patient
    )
    refused |= {updates[i][0]: exc for i, exc in bad.items()}
    updates = [
        (u, v) for i, (u, v) in enumerate(zip(updates, update_values, strict=True)) if i not in bad
    ]
    writer = table.writer
    if isinstance(writer, RecordWriter):
        if creates:
            result = records_create(
                writer.kind,
                actor=actor,
                patient=patient,
                items=[(record.id, values) for (_, record), values in creates],
                clock=version(),
                partial=True,
            )
            refused |= {creates[i][0][0]: exc for i, exc in result.refused.items()}
        if updates:
            result = records_update(
                writer.kind,
                actor=actor,
                items=[(row, values) for (_, _, row, _), values in updates],
                clock=version(),
                partial=True,
            )
            refused |= {updates[i][0][0]: exc for i, exc in result.refused.items()}
        return refused
    for (position, record), values in creates:
        try:
            with transaction.atomic():
                writer.create(
                    actor=actor, patient=patient, id=record.id, values=values, version=version()
                )
        except (DjangoValidationError, DomainError) as exc:
            refused[position] = exc
    for (position, _, row, _), values in updates:
        try:
            with transaction.atomic():
                writer.update(actor=actor, row=row, values=values, version=version())
        except (DjangoValidationError, DomainError) as exc:
            refused[position] = exc
    return refused


def _put_table(table, puts, *, actor: User, patient: PatientProfile, version) -> dict:
    """Writes one table merged by key (``RecordKind.put``): ``puts`` are ``(position, record)``;
    refusals by position."""
    result = _put(table)(
        actor=actor,
        patient=patient,
        items=[(record.id, record.values) for _, record in puts],
        clock=version(),
    )
    return {puts[i][0]: exc for i, exc in result.refused.items()}


def _delete_table(table, rows, *, actor: User, version) -> dict[int, Exception]:
    """Deletes one table's rows of a push (``(position, row)``); refusals by position."""
    writer = table.writer
    if isinstance(writer, RecordWriter):
        result = records_delete(
            writer.kind,
            actor=actor,
            records=[row for _, row in rows],
            clock=version(),
            partial=True,
        )
        return {rows[i][0]: exc for i, exc in result.refused.items()}
    refused: dict[int, Exception] = {}
    for position, row in rows:
        try:
            with transaction.atomic():
                writer.delete(actor=actor, row=row, version=version())
        except DomainError as exc:
            refused[position] = exc
    return refused


def _table_order(name: str) -> int:
    return list(SYNC_TABLES).index(name)


def _kept_refusals(batch: PushBatch, patient: PatientProfile) -> dict:
    """``(table, id) -> (raw, errors)`` of the open refusals kept for the ids this push
    names."""
    ids = {r.id for r in batch.records} | {record_id for _, record_id in batch.deleted}
    if not ids:
        return {}
    return {
        (row.table_name, row.record_id): (row.raw, row.errors)
        for row in RejectedRecord.objects.filter(
            patient=patient, status=RejectedStatus.OPEN, record_id__in=ids
        ).order_by("id")
    }


@transaction.atomic
def sync_push(
    *,
    actor: User,
    patient: PatientProfile,
    last_pulled_at: int,
    batch: PushBatch,
    device: str = "",
) -> list[dict]:
    """Applies a push: every acceptable record, in one transaction. Returns the refused ones
    (``[{"table", "id", "errors"}]``), each kept in the rejected-record store as sent.

    - 409 ``conflict`` (nothing applied) if a pushed or deleted record changed on the server
      after ``last_pulled_at`` (ids by table under ``conflicts``), ``deleted`` if an update names
      a deleted record: that is the protocol (the app pulls, merges and pushes again);
    - every other refusal is per record and quarantined: a value the write path refuses, a
      record of a table or a row the patient may not write, an id another patient's record
      holds (``id_taken``). The next pull sends the server's truth for each refused id.

    ``created`` with an existing id updates it, ``updated`` with an unknown id creates it,
    unknown ``deleted`` ids are ignored. A replay of a push already applied (same records, same
    values, the rows last changed by this user's push: its answer was lost) is answered as
    applied without writing.
    """
    refuse_forbidden_tables(batch)
    # Holding the clock's row lock from here to commit orders this push after every writer
    # that committed before and before every writer that comes after: the conflict check
    # below cannot be overtaken by a concurrent write.
    clock = patient_clock_read(patient_id=patient.pk)
    if last_pulled_at > clock:
        raise Invalid(
            "last_pulled_at is later than any timestamp this server handed out.",
            code="in_future",
            attr="last_pulled_at",
        )
    existing = _existing_rows(batch)
    try:
        _check_conflicts(batch, existing, patient, last_pulled_at)
    except Conflict:
        kept = _kept_refusals(batch, patient)
        if _is_replay(batch, existing, actor, patient, last_pulled_at, kept):
            # already applied (the answer to the first try was lost): nothing to write
            return (
                rejected_answer(batch.refused)
                + [
                    {"table": r.table.name, "id": r.id, "errors": kept[(r.table.name, r.id)][1]}
                    for r in batch.records
                    if kept.get((r.table.name, r.id), (_MISSING,))[0] == storable(r.raw)
                ]
                + [
                    {"table": t.name, "id": i, "errors": kept[(t.name, i)][1]}
                    for t, i in batch.deleted
                    if kept.get((t.name, i), (_MISSING,))[0] == i
                ]
            )
        raise

    # One clock tick for the whole push (taken at the first write): every row it writes carries
    # the same stamp.
    stamp: list[int] = []

    def version() -> int:
        if not stamp:
            stamp.append(patient_clock_tick(patient_id=patient.pk))
        return stamp[0]

    refusals = list(batch.refused)

    def refuse(record, exc):
        refusals.append(
            refusal_of(
                exc,
                table=record.table.name,
                record_id=record.id,
                section=record.section,
                raw=record.raw,
            )
        )

    # Table by table (the order of SYNC_TABLES: a row's foreign keys point at earlier
    # tables), each table's rows in one batch write.
    creates: dict[str, list] = {}
    updates: dict[str, list] = {}
    puts: dict[str, list] = {}
    for position, record in enumerate(batch.records):
        if _put(record.table) is not None:
            puts.setdefault(record.table.name, []).append((position, record))
            continue
        row = existing[record.table.name].get(record.id)
        if row is None:
            creates.setdefault(record.table.name, []).append((position, record))
            continue
        if row.patient_id != patient.pk:
            refuse(
                record,
                Conflict(
                    "This id is already in use; create the record with a new id.",
                    code="id_taken",
                    attr="id",
                ),
            )
            continue
        changed = _changed_values(record, row)
        if changed:
            updates.setdefault(record.table.name, []).append((position, record, row, changed))
    for name in sorted(set(creates) | set(updates) | set(puts), key=_table_order):
        if name in puts:
            refused = _put_table(
                SYNC_TABLES[name], puts[name], actor=actor, patient=patient, version=version
            )
        else:
            refused = _write_table(
                SYNC_TABLES[name],
                creates.get(name, []),
                updates.get(name, []),
                actor=actor,
                patient=patient,
                version=version,
            )
        for position in sorted(refused):
            refuse(batch.records[position], refused[position])
    deletes: dict[str, list] = {}
    for position, (table, record_id) in enumerate(batch.deleted):
        row = existing[table.name].get(record_id)
        if row is None or row.patient_id != patient.pk or row.deleted_at is not None:
            continue  # unknown (or already deleted) ids are ignored
        deletes.setdefault(table.name, []).append((position, row))
    for name in sorted(deletes, key=lambda n: -_table_order(n)):
        refused = _delete_table(SYNC_TABLES[name], deletes[name], actor=actor, version=version)
        for position in sorted(refused):
            table, record_id = batch.deleted[position]
            refusals.append(
                refusal_of(
                    refused[position],
                    table=table.name,
                    record_id=record_id,
                    section="deleted",
                    raw=record_id,
                )
            )
    if refusals:
        rejected_store(
            patient=patient,
            actor=actor,
            refusals=refusals,
            last_pulled_at=last_pulled_at,
            version=version(),
            device=device,
        )
    last = patient_clock_read(patient_id=patient.pk)
    if last > clock:
        transaction.on_commit(
            lambda: _remember_push(patient.pk, actor.pk, clock, last), robust=True
        )
    return rejected_answer(refusals)


# --- Replaying a refused record ------------------------------------------------------------------


@transaction.atomic
def rejected_record_replay(*, actor: User, rejected: RejectedRecord) -> RejectedRecord:
    """Applies a refused record as the phone sent it, once the care team fixed the cause (the
    item made the patient's, the surgery it names entered): through the same write path and
    rules as a push, as the patient who sent it, stamped on the patient's clock so every phone
    gets it on its next pull. No conflict check: the care team decides, now, that this record
    as sent is wanted. Refused again: raises the refusal (``DomainError`` or
    ``ValidationError``, pointed at the record) and the record stays open."""
    if not patients_for(actor).filter(pk=rejected.patient_id).exists():
        raise NotFound("No such refused record.", code="not_found")
    rejected = (
        RejectedRecord.objects.select_for_update(of=("self",))
        .select_related("patient", "user")
        .get(pk=rejected.pk)
    )
    if rejected.status != RejectedStatus.OPEN:
        raise Invalid(f"This record was already {rejected.status}.", code="invalid_state")
    patient, sender = rejected.patient, rejected.user
    table = SYNC_TABLES.get(rejected.table_name)
    if sender is None or table is None or table.writer is None:
        raise Invalid("This record can no longer be applied.", code="invalid_state")
    attr = f"{rejected.table_name}.{rejected.record_id}"
    stamp: list[int] = []

    def version() -> int:
        if not stamp:
            stamp.append(patient_clock_tick(patient_id=patient.pk))
        return stamp[0]

    if rejected.section == "deleted":
        row = table.model._base_manager.filter(
            pk=rejected.record_id, patient=patient, deleted_at__isnull=True
        ).first()
        refused = (
            {} if row is None else _delete_table(table, [(0, row)], actor=sender, version=version)
        )
    else:
        problems = Problems()
        record = decode_record(table, rejected.section, 0, rejected.raw, problems)
        if record is None or isinstance(record, Refusal):
            errors = record.errors if isinstance(record, Refusal) else [{"detail": "Unreadable."}]
            raise Invalid(errors[0].get("detail", ""), code="invalid", attr=errors[0].get("attr"))
        changed_columns = rejected.raw.get("_changed") if isinstance(rejected.raw, dict) else ""
        if record.section == "updated" and isinstance(changed_columns, str) and changed_columns:
            # WatermelonDB names the columns the patient changed: replay those, so that the
            # rest of a stale whole record does not undo the care team's fix.
            wanted = set(changed_columns.split(","))
            record.values = {k: v for k, v in record.values.items() if k in wanted}
        if _put(table) is not None:  # merged by key: the day's row takes it
            refused = _put_table(
                table, [(0, record)], actor=sender, patient=patient, version=version
            )
        else:
            row = table.model._base_manager.filter(pk=record.id).first()
            if row is not None and (row.patient_id != patient.pk or row.deleted_at is not None):
                raise Conflict("This id is taken or deleted.", code="id_taken", attr=attr)
            creates = [(0, record)] if row is None else []
            changed = _changed_values(record, row) if row is not None else {}
            updates = [(0, record, row, changed)] if changed else []
            refused = _write_table(
                table, creates, updates, actor=sender, patient=patient, version=version
            )
    if refused:
        exc = refused[0]
        if isinstance(exc, DomainError):
            raise exc.renamed(attr)
        raise exc
    rejected.status = RejectedStatus.REPLAYED
    rejected.handled_at, rejected.handled_by = timezone.now(), actor
    rejected.save(update_fields=["status", "handled_at", "handled_by"])
    return rejected


@transaction.atomic
def rejected_record_dismiss(
    *, actor: User, rejected: RejectedRecord, note: str = ""
) -> RejectedRecord:
    """The care team will not apply this record (kept until the retention purge)."""
    if not patients_for(actor).filter(pk=rejected.patient_id).exists():
        raise NotFound("No such refused record.", code="not_found")
    rejected = RejectedRecord.objects.select_for_update().get(pk=rejected.pk)
    if rejected.status != RejectedStatus.OPEN:
        raise Invalid(f"This record was already {rejected.status}.", code="invalid_state")
    rejected.status = RejectedStatus.DISMISSED
    rejected.handled_at, rejected.handled_by, rejected.note = timezone.now(), actor, note[:2000]
    rejected.save(update_fields=["status", "handled_at", "handled_by", "note"])
    return rejected
