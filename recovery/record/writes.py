"""The one write path shared by every kind of clinical record, and the one registry of tables.

Each capability describes its tables with a ``RecordKind`` in its ``kinds`` module and registers
it here; a capability that must act on another's writes (care shifts its protocol items when a
surgery moves) adds a hook to that table with ``on_write``. ``RecoveryConfig.ready()`` imports
every ``kinds`` module, so the registry is complete before the first request or task, and the
write path never imports the capabilities built on it.

A ``RecordKind`` is the one description of its table: the edges derive theirs from it (the REST
collection in ``recovery/api/kinds.py``, the sync table in ``recovery/sync/tables.py``) and add
only what is theirs alone (the API's serializers, the sync inbox table that is no record).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    FieldDoesNotExist,
    ImproperlyConfigured,
    ValidationError,
)
from django.db import IntegrityError, connections, models, transaction
from django.utils import timezone

from accounts.models import CaregiverScope, PatientProfile, Role, User
from accounts.roles import CAREGIVER_LOG_TABLES, is_care_team_member, is_caregiver_of
from accounts.services import patient_clock_tick
from config.errors import Conflict, DomainError, Forbidden, NotFound

from .checks import check_constraints
from .models import ClinicalRecord

# Columns no caller may set directly: the service owns them.
SERVER_FIELDS = frozenset(
    {"patient", "created_by", "created_at", "updated_at", "deleted_at", "sync_version"}
)


@dataclass(frozen=True)
class RecordKind:
    """What the write path, and every edge that serves the table, know about one kind of
    clinical record."""

    model: type[ClinicalRecord]
    table: str  # wire name, the same in REST and sync (design.md section 2)
    # Which rows a patient may create, and which of them they may change or delete.
    patient_may_create: bool = False
    patient_may_change: Callable[[ClinicalRecord, User], bool] = lambda record, actor: False
    # Which of their rows a patient may delete, when that differs from the rows they may change
    # (a wound photo: any of theirs, whoever uploaded it). None: as ``patient_may_change``.
    patient_may_delete: Callable[[ClinicalRecord, User], bool] | None = None
    # Fields a patient may change on rows they may not otherwise change (milestone achieved_on).
    patient_fields_on_any_row: frozenset = frozenset()
    # On rows the patient may change: only these fields (None: any), and a check of the values.
    patient_fields: frozenset | None = None
    patient_values_check: Callable[[dict], None] | None = None
    # Rows the care team may not change (a patient's own pain logs).
    clinician_may_change: Callable[[ClinicalRecord], bool] = lambda record: True
    # Derives server-computed columns (e.g. a questionnaire's score) before validation.
    prepare: Callable[[ClinicalRecord], None] | None = None
    # Called after every write, inside the transaction, with (record, action, actor): what a
    # change causes (reminders to plan, alerts to open, protocol items to shift).
    after_write: tuple[Callable[[ClinicalRecord, str, User], None], ...] = ()
    writable_fields: tuple = field(default=())

    # --- What the edges derive their descriptions from --------------------------------------
    # The time a row is about: REST lists are newest first by it and filter on it with
    # ``since``/``until``. A non-null date or datetime column, or an expression with an
    # ``output_field`` (a Coalesce over nullable ones). None: the table has no REST collection.
    sort: str | models.Expression | None = None
    # How the API describes ``sort`` (default: the column's name).
    sort_help: str = ""
    # User fields a writer may set, and the roles the named user must have in the patient's
    # clinic (a surgery's ``surgeon``). Record fields (foreign keys to clinical rows) need no
    # entry: they must name a live row of the same patient.
    staff_roles: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)
    # Fields a device is sent on sync but may not push (the care team sets them). Besides these,
    # a device never writes a user id or a column the server derives (``editable=False``).
    device_read_only: frozenset = frozenset()
    # The sync schema version that introduced the table (docs/sync.md), and that of each column
    # added to it later (older apps are not sent it).
    sync_since: int = 1
    sync_columns_since: dict[str, int] = field(default_factory=dict, compare=False)
    # Served by the generic REST collection (``recovery/api``). False: the capability has its
    # own endpoints (check-ins: ``recovery/care/api``).
    rest_collection: bool = True
    # A table of one live row per patient and key (``daily_steps``: one per day). Its creates
    # and updates, from the REST API and from sync, go through this batch function of its
    # capability instead of ``records_create`` / ``records_update``: called as
    # ``put(actor=, patient=, items=[(id, values)], clock=)``, it merges each item into the
    # row of its key whatever the id (a later value replaces an earlier one, never a 409) and
    # returns a ``BatchResult``. Sync applies such a table without the conflict check
    # (docs/sync.md).
    put: Callable[..., "BatchResult"] | None = field(default=None, compare=False)

    def fields(self) -> tuple[str, ...]:
        if self.writable_fields:
            return self.writable_fields
        return tuple(
            f.name
            for f in self.model._meta.concrete_fields
            if f.name not in SERVER_FIELDS and f.name != "id" and f.editable
        )


def created_by_actor(record, actor) -> bool:
    return record.created_by_id == actor.pk


def not_patients_own(record) -> bool:
    return record.created_by_id != record.patient.user_id


RECORD_KINDS: dict[str, RecordKind] = {}
WriteHook = Callable[[ClinicalRecord, str, User], None]
_HOOKS: dict[str, list[WriteHook]] = {}


def register(kind: RecordKind) -> RecordKind:
    RECORD_KINDS[kind.table] = kind
    return kind


def on_write(table: str) -> Callable[[WriteHook], WriteHook]:
    """Adds a hook, called after every write to ``table`` (after the kind's own hooks), inside
    the transaction, with ``(record, action, actor)``."""

    def add(hook: WriteHook) -> WriteHook:
        hooks = _HOOKS.setdefault(table, [])
        if hook not in hooks:
            hooks.append(hook)
        return hook

    return add


def write_hooks(kind: RecordKind) -> tuple[WriteHook, ...]:
    """The kind's own hooks, then those other capabilities added with ``on_write``."""
    return (*kind.after_write, *_HOOKS.get(kind.table, ()))


def _capability(module: str) -> str:
    """``recovery.care.kinds`` -> ``recovery.care``."""
    return ".".join(module.split(".")[:2])


def registry_in_order(capabilities: tuple[str, ...]) -> None:
    """Orders the tables and each table's hooks as ``capabilities`` are listed (lowest first;
    ``recovery/apps.py``), whichever module happened to import a ``kinds.py`` first. The edges
    list tables in this order (a sync pull's tables, the order a push is applied in)."""
    rank = {name: index for index, name in enumerate(capabilities)}

    def by_capability(module: str) -> int:
        return rank.get(_capability(module), len(rank))

    ordered = sorted(RECORD_KINDS.values(), key=lambda kind: by_capability(kind.model.__module__))
    RECORD_KINDS.clear()
    RECORD_KINDS.update((kind.table, kind) for kind in ordered)
    for hooks in _HOOKS.values():
        hooks.sort(key=lambda hook: by_capability(hook.__module__))


def registered_kinds() -> tuple[RecordKind, ...]:
    """Every table, in the order the capabilities registered them (lowest first). The edges
    derive their descriptions from this, so it must be complete: after Django's start-up."""
    if not apps.ready:
        raise ImproperlyConfigured(
            "The RecordKind registry is complete only after Django's start-up "
            "(RecoveryConfig.ready imports every capability's kinds.py)."
        )
    return tuple(RECORD_KINDS.values())


def kind_for_table(table: str) -> RecordKind:
    return RECORD_KINDS[table]


def kind_for_model(model) -> RecordKind:
    for kind in RECORD_KINDS.values():
        if kind.model is model:
            return kind
    raise KeyError(model)


# --- Role rules (design.md section 3) ---------------------------------------------------------


def forbidden(detail: str) -> DomainError:
    return Forbidden(detail, code="permission_denied")


def _check_caregiver(spec: RecordKind, actor: User, patient: PatientProfile) -> None:
    """A caregiver writes only the tables they log on the patient's behalf, only for a patient
    whose active grant carries the ``log`` scope."""
    if spec.table not in CAREGIVER_LOG_TABLES:
        raise forbidden(f"Caregivers do not write {spec.table}.")
    if not is_caregiver_of(actor, patient, CaregiverScope.LOG):
        raise forbidden("You may not log on this patient's behalf.")


def check_create(spec: RecordKind, actor: User, patient: PatientProfile) -> None:
    if actor.role == Role.CAREGIVER:
        _check_caregiver(spec, actor, patient)
        return
    if actor.role == Role.PATIENT:
        if patient.user_id != actor.pk:
            raise forbidden("Patients write only their own record.")
        if not spec.patient_may_create:
            raise forbidden(f"Only the care team writes {spec.table}.")
        return
    if not is_care_team_member(actor, patient):
        raise forbidden("Only the patient's care team writes this record.")


def check_change(spec: RecordKind, actor: User, record: ClinicalRecord, values=None) -> None:
    """``values`` are the fields being changed (None: a delete)."""
    patient = record.patient
    if actor.role == Role.CAREGIVER:
        _check_caregiver(spec, actor, patient)
        if record.created_by_id != actor.pk:
            raise forbidden("Caregivers change only the entries they made.")
        return
    if actor.role == Role.PATIENT:
        if patient.user_id != actor.pk:
            raise forbidden("Patients write only their own record.")
        if values is None and spec.patient_may_delete is not None:
            if spec.patient_may_delete(record, actor):
                return
            raise forbidden(f"Only the care team deletes {spec.table}.")
        if spec.patient_may_change(record, actor):
            if spec.patient_fields is None:
                return
            if values is None:
                raise forbidden(f"Only the care team deletes {spec.table}.")
            extra = sorted(set(values) - spec.patient_fields)
            if extra:
                raise forbidden("A patient cannot change: " + ", ".join(extra) + ".")
            if spec.patient_values_check is not None:
                spec.patient_values_check(values)
            return
        if values and set(values) <= spec.patient_fields_on_any_row:
            return
        raise forbidden(f"This {spec.model._meta.verbose_name} was set by the care team.")
    if not is_care_team_member(actor, patient):
        raise forbidden("Only the patient's care team writes this record.")
    if not spec.clinician_may_change(record):
        raise forbidden(f"This {spec.model._meta.verbose_name} is the patient's own entry.")


# --- Writes -----------------------------------------------------------------------------------


def _validate_field_names(spec: RecordKind, values: dict) -> None:
    unknown = sorted(set(values) - set(spec.fields()))
    if unknown:
        raise ValidationError(
            {
                name: ValidationError("Unknown or read-only field.", code="unknown_field")
                for name in unknown
            }
        )


def _same_content(record: ClinicalRecord, values: dict) -> bool:
    for name, value in values.items():
        try:
            model_field = record._meta.get_field(name)
        except FieldDoesNotExist:
            return False
        attname = model_field.attname
        if isinstance(model_field, models.ForeignKey):
            value = getattr(value, "pk", value)
        else:
            value = model_field.to_python(value)
        if getattr(record, attname) != value:
            return False
    return True


def _stamp(record: ClinicalRecord, version: int) -> None:
    record.sync_version = version
    record.updated_at = timezone.now()


def _save(spec: RecordKind, record: ClinicalRecord, *, force_insert=False) -> None:
    if spec.prepare is not None:
        spec.prepare(record)
    record.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            record.save(force_insert=force_insert)
    except IntegrityError as exc:
        # full_clean() checked every constraint; what is left is a race on the primary key
        # (another patient's record took this id between our check and our insert).
        raise Conflict("This id is already in use.", code="id_taken", attr="id") from exc


@transaction.atomic
def record_create(
    spec: RecordKind,
    *,
    actor: User,
    patient: PatientProfile,
    id: str | None = None,
    clock: int | None = None,
    **values,
) -> tuple[ClinicalRecord, bool]:
    """Creates a record, idempotently by id. Returns ``(record, created)``.

    The same id for the same patient with the same content returns the stored row
    (``created`` False); with different content, or an id used elsewhere, it is a 409.
    ``clock``: a clock value the caller took for a batch of writes in this transaction
    (``patient_clock_tick``, once: a sync push); otherwise the clock ticks here.
    """
    check_create(spec, actor, patient)
    _validate_field_names(spec, values)
    version = clock if clock is not None else patient_clock_tick(patient_id=patient.pk)
    if id is not None:
        existing = spec.model.all_objects.filter(pk=id).first()
        if existing is not None:
            if existing.patient_id != patient.pk:
                raise Conflict("This id is already in use.", code="id_taken", attr="id")
            if existing.deleted_at is not None:
                raise Conflict("A record with this id was deleted.", code="deleted", attr="id")
            if _same_content(existing, values):
                return existing, False
            raise Conflict(
                "A record with this id exists with different content.", code="conflict", attr="id"
            )
    record = spec.model(patient=patient, created_by=actor, **values)
    if id is not None:
        record.id = id
    _stamp(record, version)
    _save(spec, record, force_insert=True)
    for hook in write_hooks(spec):
        hook(record, "create", actor)
    return record, True


def _locked(spec: RecordKind, record: ClinicalRecord) -> ClinicalRecord:
    fresh = spec.model.all_objects.select_for_update().select_related("patient").get(pk=record.pk)
    if fresh.deleted_at is not None:
        raise NotFound("This record was deleted.", code="not_found")
    return fresh


STALE_RECORD = (
    "This record changed since you opened it; reload the page and make your change again."
)


def unchanged_since(version: int) -> Callable[[ClinicalRecord], None]:
    """A ``require`` for ``record_update``: the locked row still has the ``sync_version`` the
    caller read (an admin form opened before someone else's change must not undo it)."""

    def check(record: ClinicalRecord) -> None:
        if record.sync_version != version:
            raise Conflict(STALE_RECORD, code="stale")

    return check


@transaction.atomic
def record_update(
    spec: RecordKind,
    *,
    actor: User,
    record: ClinicalRecord,
    require: Callable[[ClinicalRecord], None] | None = None,
    clock: int | None = None,
    **values,
) -> ClinicalRecord:
    """Changes fields of a live record. ``require`` checks a precondition on the locked, fresh
    row (a state machine rule such as "only a scheduled appointment can be cancelled").
    ``clock``: as for ``record_create``."""
    _validate_field_names(spec, values)
    version = clock if clock is not None else patient_clock_tick(patient_id=record.patient_id)
    record = _locked(spec, record)
    check_change(spec, actor, record, values=values)
    if require is not None:
        require(record)
    for name, value in values.items():
        setattr(record, name, value)
    _stamp(record, version)
    _save(spec, record)
    for hook in write_hooks(spec):
        hook(record, "update", actor)
    return record


@transaction.atomic
def record_delete(
    spec: RecordKind, *, actor: User, record: ClinicalRecord, clock: int | None = None
) -> None:
    """Deletes by tombstone: the row stays (hidden) so sync can tell every device.
    ``clock``: as for ``record_create``."""
    version = clock if clock is not None else patient_clock_tick(patient_id=record.patient_id)
    record = _locked(spec, record)
    check_change(spec, actor, record)
    record.deleted_at = timezone.now()
    _stamp(record, version)
    record.save(update_fields=["deleted_at", "sync_version", "updated_at"])
    for hook in write_hooks(spec):
        hook(record, "delete", actor)


# --- Writes of many rows at once (a sync push) ------------------------------------------------
#
# The same rules as ``record_create`` / ``record_update`` / ``record_delete``, for many rows of
# one table in one transaction, with a number of queries that does not grow with the number of
# rows: one role check per row in Python, each row validated in Python (``full_clean()``'s
# field, ``clean()`` and CHECK constraint rules; foreign keys checked in one query per column;
# uniqueness left to the database's constraints, checked by the insert in this transaction),
# one insert (or update) for all rows, and each hook run once with all rows when it declares a
# batch form (``batched``), otherwise once per row.

BatchHook = Callable[[list[ClinicalRecord], str, User], None]
_BATCH_HOOKS: dict[WriteHook, BatchHook] = {}
BULK_BATCH_SIZE = 2000  # rows per INSERT or UPDATE: within PostgreSQL's 65,535 parameters


def batched(hook: WriteHook) -> Callable[[BatchHook], BatchHook]:
    """Declares the decorated function as ``hook`` applied to many rows at once: called with
    ``(records, action, actor)`` by the batch writes, it must do what calling ``hook`` on each
    row would do, with a bounded number of queries."""

    def add(batch: BatchHook) -> BatchHook:
        _BATCH_HOOKS[hook] = batch
        return batch

    return add


def _run_hooks(spec: RecordKind, records: list[ClinicalRecord], action: str, actor: User) -> None:
    if not records:
        return
    for hook in write_hooks(spec):
        batch = _BATCH_HOOKS.get(hook)
        if batch is not None:
            batch(records, action, actor)
        else:
            for record in records:
                hook(record, action, actor)


@dataclass
class BatchResult:
    """What a batch write did: ``records`` by position in the input (None where refused),
    ``written`` True where a row was written (False: an identical create left as it was), and
    ``refused`` position -> the refusal (``DomainError`` or Django ``ValidationError``)."""

    records: list[ClinicalRecord | None]
    written: list[bool]
    refused: dict[int, Exception] = field(default_factory=dict)

    @property
    def first_refusal(self) -> tuple[int, Exception] | None:
        return min(self.refused.items(), key=lambda item: item[0]) if self.refused else None


def _foreign_key_errors(records: list[ClinicalRecord]) -> list[dict]:
    """What ``ForeignKey.validate`` says of each row's foreign keys, one query per column."""
    errors: list[dict] = [{} for _ in records]
    if not records:
        return errors
    model = type(records[0])
    for fk in model._meta.fields:
        if not fk.is_relation or not fk.many_to_one or fk.remote_field.parent_link:
            continue
        values = {}
        for index, record in enumerate(records):
            raw = getattr(record, fk.attname)
            if fk.blank and raw in fk.empty_values:
                continue
            try:
                value = fk.to_python(raw)
                models.Field.validate(fk, value, record)
                fk.run_validators(value)
            except ValidationError as exc:
                errors[index][fk.name] = exc.error_list
                continue
            setattr(record, fk.attname, value)
            if value is not None:
                values[index] = value
        if not values:
            continue
        related = fk.remote_field.model
        found = set(
            related._base_manager.filter(
                **{f"{fk.remote_field.field_name}__in": set(values.values())}
            )
            .complex_filter(fk.get_limit_choices_to())
            .values_list(fk.remote_field.field_name, flat=True)
        )
        for index, value in values.items():
            if value not in found:
                errors[index][fk.name] = [
                    ValidationError(
                        fk.error_messages["invalid"],
                        code="invalid",
                        params={
                            "model": related._meta.verbose_name,
                            "pk": value,
                            "field": fk.remote_field.field_name,
                            "value": value,
                        },
                    )
                ]
    return errors


def _validate_many(spec: RecordKind, records: list[ClinicalRecord]) -> dict[int, ValidationError]:
    """``prepare`` and ``full_clean(validate_unique=False)`` for every row, the queries batched:
    foreign keys one query per column, CHECK constraints judged in Python."""
    prepared: dict[int, dict] = {}
    for index, record in enumerate(records):
        if spec.prepare is not None:
            try:
                spec.prepare(record)
            except ValidationError as exc:  # that row's refusal, as full_clean would give it
                prepared[index] = exc.update_error_dict({})
    fk_names = {f.name for f in spec.model._meta.fields if f.is_relation and f.many_to_one}
    fk_errors = _foreign_key_errors(records)
    refused = {}
    for index, record in enumerate(records):
        errors: dict = dict(prepared.get(index, {}))
        try:
            record.clean_fields(exclude=fk_names)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        for name, field_errors in fk_errors[index].items():
            errors.setdefault(name, []).extend(field_errors)
        try:
            record.clean()
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        try:
            check_constraints(record, exclude={n for n in errors if n != NON_FIELD_ERRORS})
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            refused[index] = ValidationError(errors)
    return refused


def _insert_many(spec: RecordKind, records: list[ClinicalRecord]) -> dict[int, Exception]:
    """One insert for all rows. If the database refuses it (an id another patient's record took
    since it was checked, a constraint the Python checks missed), the rows go in one at a
    time with the whole ``full_clean()``, each in a savepoint, and the ones refused are
    returned by position: nothing is lost and nothing half-written."""
    try:
        with transaction.atomic():
            spec.model.all_objects.bulk_create(records, batch_size=BULK_BATCH_SIZE)
        return {}
    except IntegrityError:
        pass
    refused: dict[int, Exception] = {}
    for index, record in enumerate(records):
        try:
            record.full_clean(validate_unique=False)
        except ValidationError as exc:
            refused[index] = exc
            continue
        try:
            with transaction.atomic():
                record.save(force_insert=True)
        except IntegrityError:
            refused[index] = Conflict("This id is already in use.", code="id_taken", attr="id")
    return refused


@transaction.atomic
def records_create(
    spec: RecordKind,
    *,
    actor: User,
    patient: PatientProfile,
    items: list[tuple[str | None, dict]],
    clock: int | None = None,
    partial: bool = False,
) -> BatchResult:
    """``record_create`` for many ``(id, values)`` of one patient and table, with the same
    rules (role, field names, idempotency by id, ``full_clean()``'s validation, hooks). A row
    it refuses is in ``refused`` by position; unless ``partial``, nothing is written when any
    row is refused (the caller raises). ``clock``: as for ``record_create`` (ticked once here
    otherwise)."""
    result = BatchResult(records=[None] * len(items), written=[False] * len(items))
    try:
        check_create(spec, actor, patient)
    except DomainError as exc:
        result.refused = dict.fromkeys(range(len(items)), exc)
        return result
    wanted = [record_id for record_id, _ in items if record_id is not None]
    existing = (
        {row.pk: row for row in spec.model.all_objects.filter(pk__in=wanted)} if wanted else {}
    )
    version = clock if clock is not None else patient_clock_tick(patient_id=patient.pk)
    fresh: list[tuple[int, ClinicalRecord]] = []
    for index, (record_id, values) in enumerate(items):
        try:
            _validate_field_names(spec, values)
        except ValidationError as exc:
            result.refused[index] = exc
            continue
        row = existing.get(record_id) if record_id is not None else None
        if row is not None:
            if row.patient_id != patient.pk:
                result.refused[index] = Conflict(
                    "This id is already in use.", code="id_taken", attr="id"
                )
            elif row.deleted_at is not None:
                result.refused[index] = Conflict(
                    "A record with this id was deleted.", code="deleted", attr="id"
                )
            elif _same_content(row, values):
                result.records[index] = row
            else:
                result.refused[index] = Conflict(
                    "A record with this id exists with different content.",
                    code="conflict",
                    attr="id",
                )
            continue
        record = spec.model(patient=patient, created_by=actor, **values)
        if record_id is not None:
            record.id = record_id
        _stamp(record, version)
        fresh.append((index, record))
    invalid = _validate_many(spec, [record for _, record in fresh])
    for position, exc in invalid.items():
        result.refused[fresh[position][0]] = exc
    if result.refused and not partial:
        return result
    fresh = [(index, record) for index, record in fresh if index not in result.refused]
    failed = _insert_many(spec, [record for _, record in fresh])
    for position, exc in failed.items():
        result.refused[fresh[position][0]] = exc
    if failed and not partial:
        return result
    written = [(index, record) for index, record in fresh if index not in result.refused]
    for index, record in written:
        result.records[index] = record
        result.written[index] = True
    _run_hooks(spec, [record for _, record in written], "create", actor)
    return result


def _locked_many(spec: RecordKind, pks: list[str]) -> dict[str, ClinicalRecord]:
    return {
        row.pk: row
        for row in spec.model.all_objects.select_for_update()
        .select_related("patient")
        .filter(pk__in=pks)
        .order_by("pk")  # locked in one order by every batch: no deadlocks
    }


# PostgreSQL's limit of bind parameters in one statement.
_MAX_PARAMETERS = 65_535


def _update_many(model: type[ClinicalRecord], records: list[ClinicalRecord]) -> None:
    """Writes every column of ``records`` (rows locked and changed in memory) back, each row
    whole as the write path validated it.

    On PostgreSQL one ``UPDATE ... FROM (VALUES ...)`` per batch: the rows joined on their
    primary key, every value cast to its column's type. Django's ``bulk_update`` builds a
    ``CASE WHEN pk = ... THEN ...`` of every row for every column instead, which the database
    evaluates row by row: quadratic in the rows (a re-push of three years of daily steps took
    2.4 s on a quiet machine and 13.6 s under load, 0.75 s this way; docs/benchmarks.md).
    Other databases (the embedded SQLite) keep ``bulk_update``: same rows, same values, the
    pushes they serve are small."""
    if not records:
        return
    manager = model.all_objects
    connection = connections[manager.db]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    if (
        connection.vendor != "postgresql"
        or model._meta.parents  # columns in more than one table
        or any(
            hasattr(getattr(record, f.attname), "resolve_expression")
            for record in records
            for f in fields
        )
    ):
        manager.bulk_update(records, [f.name for f in fields], batch_size=BULK_BATCH_SIZE)
        return
    pk = model._meta.pk
    columns = [pk, *fields]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(f"%s::{f.cast_db_type(connection)}" for f in columns) + ")"
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields)
    names = ", ".join(quote(f.column) for f in columns)
    table = quote(model._meta.db_table)
    size = max(1, min(BULK_BATCH_SIZE, _MAX_PARAMETERS // len(columns)))
    with connection.cursor() as cursor:
        for start in range(0, len(records), size):
            chunk = records[start : start + size]
            params = [
                f.get_db_prep_save(getattr(record, f.attname), connection)
                for record in chunk
                for f in columns
            ]
            # Names from the model's meta, quoted; every value a parameter.
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} "  # noqa: S608
                f"FROM (VALUES {', '.join([row] * len(chunk))}) AS v ({names}) "
                f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}",
                params,
            )


@transaction.atomic
def records_update(
    spec: RecordKind,
    *,
    actor: User,
    items: list[tuple[ClinicalRecord, dict]],
    clock: int | None = None,
    partial: bool = False,
) -> BatchResult:
    """``record_update`` for many ``(record, values)`` of one patient and table: the rows
    locked in one query, the role rules and validation per row, one ``UPDATE`` per
    ``BULK_BATCH_SIZE`` rows (``_update_many``), the hooks with all rows. Refusals as for ``records_create``."""
    result = BatchResult(records=[None] * len(items), written=[False] * len(items))
    if not items:
        return result
    patient_ids = {record.patient_id for record, _ in items}
    if len(patient_ids) != 1:
        raise ValueError("records_update writes the rows of one patient")
    for index, (_record, values) in enumerate(items):
        try:
            _validate_field_names(spec, values)
        except ValidationError as exc:
            result.refused[index] = exc
    version = clock if clock is not None else patient_clock_tick(patient_id=patient_ids.pop())
    locked = _locked_many(spec, [record.pk for record, _ in items])
    changed: list[tuple[int, ClinicalRecord]] = []
    for index, (record, values) in enumerate(items):
        if index in result.refused:
            continue
        fresh = locked.get(record.pk)
        try:
            if fresh is None or fresh.deleted_at is not None:
                raise NotFound("This record was deleted.", code="not_found")
            check_change(spec, actor, fresh, values=values)
        except DomainError as exc:
            result.refused[index] = exc
            continue
        for name, value in values.items():
            setattr(fresh, name, value)
        _stamp(fresh, version)
        changed.append((index, fresh))
    invalid = _validate_many(spec, [record for _, record in changed])
    for position, exc in invalid.items():
        result.refused[changed[position][0]] = exc
    if result.refused and not partial:
        return result
    changed = [(index, record) for index, record in changed if index not in result.refused]
    _update_many(spec.model, [record for _, record in changed])
    for index, record in changed:
        result.records[index] = record
        result.written[index] = True
    _run_hooks(spec, [record for _, record in changed], "update", actor)
    return result


@transaction.atomic
def records_delete(
    spec: RecordKind,
    *,
    actor: User,
    records: list[ClinicalRecord],
    clock: int | None = None,
    partial: bool = False,
) -> BatchResult:
    """``record_delete`` for many rows of one patient and table: tombstones, one ``UPDATE``
    for all rows, the hooks with all rows. Refusals as for ``records_create``."""
    result = BatchResult(records=[None] * len(records), written=[False] * len(records))
    if not records:
        return result
    patient_ids = {record.patient_id for record in records}
    if len(patient_ids) != 1:
        raise ValueError("records_delete writes the rows of one patient")
    version = clock if clock is not None else patient_clock_tick(patient_id=patient_ids.pop())
    locked = _locked_many(spec, [record.pk for record in records])
    doomed: list[tuple[int, ClinicalRecord]] = []
    for index, record in enumerate(records):
        fresh = locked.get(record.pk)
        try:
            if fresh is None or fresh.deleted_at is not None:
                raise NotFound("This record was deleted.", code="not_found")
            check_change(spec, actor, fresh)
        except DomainError as exc:
            result.refused[index] = exc
            continue
        doomed.append((index, fresh))
    if result.refused and not partial:
        return result
    now = timezone.now()
    for index, record in doomed:
        record.deleted_at = now
        _stamp(record, version)
        record.updated_at = now
        result.records[index] = record
        result.written[index] = True
    if doomed:
        spec.model.all_objects.filter(pk__in=[record.pk for _, record in doomed]).update(
            deleted_at=now, sync_version=version, updated_at=now
        )
    _run_hooks(spec, [record for _, record in doomed], "delete", actor)
    return result
