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
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from accounts.models import PatientProfile, Role, User
from accounts.roles import is_care_team_member
from accounts.services import patient_clock_tick
from config.errors import Conflict, DomainError, Forbidden, NotFound

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


def check_create(spec: RecordKind, actor: User, patient: PatientProfile) -> None:
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
    if actor.role == Role.PATIENT:
        if patient.user_id != actor.pk:
            raise forbidden("Patients write only their own record.")
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
