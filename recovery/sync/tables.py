"""The sync schema: which tables sync, their columns and how each column travels.

A raw record on the wire is ``{"id": str, "<column>": str | number | bool | null}``
(design.md section 5): times as epoch milliseconds, dates as ``YYYY-MM-DD``, lists as JSON
strings, foreign keys as id strings. Each column has a codec that turns a database value into
its wire form (pull) and a wire value back into a model value (push), refusing wrong types
with a message that names the column.

Every clinical table syncs, and its sync table is derived from its ``RecordKind`` (the one
description of the table, in its capability's ``kinds.py``; ``sync_table_for``): one column per
model field in the model's order, then the server's ``created_by``, ``created_at`` and
``updated_at``; each column's codec from the field's type; a column the device may push unless
the server owns it (``editable=False``), it names a user, or the kind lists it in
``device_read_only``; pushes written through the one write path (``RecordWriter``). A new field
on a synced model is a new column; a new ``RecordKind`` is a new table.

The reminders inbox (``notifications``, version 3) is no clinical record and the one table
declared here: every column read-only except ``read_at``, and its own writer (``InboxWriter``)
calling the reminders services.

Schema versions: ``since`` on a table or column is the sync schema version that introduced it
(a table's is its kind's ``sync_since``). A client on version N is sent only tables with
``since <= N`` (WatermelonDB warns about tables it does not know) and only columns with
``since <= N``. ``docs/sync.md`` lists the history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

import orjson
from django.conf import settings
from django.db import models

from accounts.models import Role
from config.errors import Forbidden
from recovery.photos.storage import signed_url
from recovery.record.models import RECORD_ID_PATTERN
from recovery.record.writes import (
    RECORD_KINDS,
    RecordKind,
    record_create,
    record_delete,
    record_update,
    registered_kinds,
)
from reminders.models import Notification
from reminders.services import notification_delete, notification_mark_read

ID_RE = re.compile(RECORD_ID_PATTERN)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
MAX_INT = 2**31 - 1


class WireError(ValueError):
    """A wire value of the wrong type or form. ``code`` goes into the error body."""

    def __init__(self, message: str, code: str = "invalid_type"):
        super().__init__(message)
        self.code = code


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_int(value) -> int:
    """JavaScript numbers: an integer, or a float with no fractional part."""
    if _is_int(value):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise WireError("Expected an integer.")


# --- Codecs -------------------------------------------------------------------------------------
# ``to_wire`` runs per row on every pull: keep it cheap. ``from_wire`` validates types only; the
# write path (full_clean and the database) checks the values.


@dataclass(frozen=True)
class Codec:
    wire_type: str  # "string" | "number" | "boolean", as in WatermelonDB's appSchema
    nullable: bool = False

    # PostgreSQL expression giving the wire form of column ``{c}`` (the pull's fast path; must
    # agree with ``to_wire``, which tests/recovery/sync/test_pull.py checks on PostgreSQL).
    pg_sql = "{c}"
    # True: the database cannot compute the wire form (a signed URL); the fast path reads the
    # stored value with ``pg_sql`` and converts it with ``to_wire`` in Python.
    python_wire = False

    def to_wire(self, value):
        return value

    def from_wire(self, value):
        if value is None:
            if self.nullable:
                return None
            raise WireError("May not be null.", code="null")
        return self.decode(value)

    def decode(self, value):
        raise NotImplementedError

    def same(self, stored, incoming) -> bool:
        return stored == incoming


@dataclass(frozen=True)
class Text(Codec):
    wire_type: str = "string"
    blank_for_null: bool = False  # WatermelonDB optional strings may come back as null

    def from_wire(self, value):
        if value is None and self.blank_for_null:
            return ""
        return super().from_wire(value)

    def decode(self, value):
        if not isinstance(value, str):
            raise WireError("Expected a string.")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise WireError("NUL characters are not allowed.", code="null_characters_not_allowed")
        return value


@dataclass(frozen=True)
class Integer(Codec):
    wire_type: str = "number"

    def decode(self, value):
        number = _as_int(value)
        if not -MAX_INT <= number <= MAX_INT:
            raise WireError("Out of range.", code="out_of_range")
        return number


@dataclass(frozen=True)
class Number(Codec):
    """A decimal column (limit_value), sent as a JSON number."""

    wire_type: str = "number"
    pg_sql = "{c}::float8"

    def to_wire(self, value):
        return None if value is None else float(value)

    def decode(self, value):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WireError("Expected a number.")
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation as exc:
            raise WireError("Expected a finite number.") from exc
        if not number.is_finite():
            raise WireError("Expected a finite number.")
        return number

    def same(self, stored, incoming) -> bool:
        if stored is None or incoming is None:
            return stored is incoming
        return Decimal(stored) == incoming


@dataclass(frozen=True)
class Boolean(Codec):
    wire_type: str = "boolean"

    def decode(self, value):
        if not isinstance(value, bool):
            raise WireError("Expected true or false.")
        return value


@dataclass(frozen=True)
class EpochMs(Codec):
    """An aware datetime as integer epoch milliseconds (UTC)."""

    wire_type: str = "number"
    # Truncated to the millisecond like ``to_wire`` (floor division), exact whether EXTRACT
    # returns numeric (PostgreSQL 14+) or double precision.
    pg_sql = "(EXTRACT(EPOCH FROM date_trunc('milliseconds', {c})) * 1000)::bigint"

    def to_wire(self, value):
        return None if value is None else (value - EPOCH) // ONE_MS

    def decode(self, value):
        ms = _as_int(value)
        if not 0 <= ms <= MAX_MS:
            raise WireError("Epoch milliseconds out of range.", code="out_of_range")
        return EPOCH + timedelta(milliseconds=ms)

    def same(self, stored, incoming) -> bool:
        # The wire carries milliseconds; a stored time with microseconds that comes back
        # truncated is the same time, not a change.
        if stored is None or incoming is None:
            return stored is incoming
        return self.to_wire(stored) == self.to_wire(incoming)


@dataclass(frozen=True)
class IsoDate(Codec):
    wire_type: str = "string"
    pg_sql = "to_char({c}, 'YYYY-MM-DD')"

    def to_wire(self, value):
        return None if value is None else value.isoformat()

    def decode(self, value):
        if not isinstance(value, str) or not DATE_RE.match(value):
            raise WireError("Expected a date as YYYY-MM-DD.")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise WireError("Not a calendar date.", code="invalid_date") from exc


@dataclass(frozen=True)
class JsonList(Codec):
    """A list column, sent as a JSON string (WatermelonDB has no array type)."""

    wire_type: str = "string"
    max_length: int = 20_000
    pg_sql = "{c}::text"

    def to_wire(self, value):
        return orjson.dumps(value).decode() if value is not None else None

    container = list

    def decode(self, value):
        what = self.container.__name__.replace("dict", "object")
        if not isinstance(value, str):
            raise WireError(f"Expected a JSON string holding a {what}.")
        if len(value) > self.max_length:
            raise WireError("Too long.", code="max_length")
        if "\x00" in value or "\\u0000" in value:
            raise WireError("NUL characters are not allowed.", code="null_characters_not_allowed")
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise WireError("Not valid JSON.", code="invalid_json") from exc
        if not isinstance(parsed, self.container):
            raise WireError(f"Expected a JSON {what}.")
        return parsed

    def from_wire(self, value):
        if value is None or value == "":
            return self.container()
        return super().from_wire(value)


@dataclass(frozen=True)
class JsonObject(JsonList):
    """An object column (a questionnaire's answers), sent as a JSON string."""

    container = dict


@dataclass(frozen=True)
class ForeignId(Codec):
    """A foreign key sent as the related row's id string."""

    wire_type: str = "string"
    nullable: bool = True
    pg_sql = "{c}::text"

    def to_wire(self, value):
        return None if value is None else str(value)

    def decode(self, value):
        if not isinstance(value, str) or not ID_RE.match(value):
            raise WireError("Expected an id (1-36 of A-Z a-z 0-9 _ -).", code="invalid_id")
        return value

    def from_wire(self, value):
        if value == "":  # WatermelonDB's empty relation
            value = None
        return super().from_wire(value)


@dataclass(frozen=True)
class SignedFile(Codec):
    """A stored file (a wound photo), sent as a short-lived signed URL to fetch it
    (``recovery.photos.storage.signed_url``), or null while there is none. The database holds
    the storage key, so the URL is made in Python on both read paths (``python_wire``)."""

    wire_type: str = "string"
    nullable: bool = True
    python_wire = True

    def to_wire(self, value):
        return signed_url(value) if value else None

    def decode(self, value):  # never pushed: the column is read-only
        raise WireError("Read-only.", code="read_only")


# --- Columns and tables -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str  # the wire name (design.md section 2), equal to the model field name
    codec: Codec
    writable: bool = True  # False: sent on pull, ignored on push (the server owns it)
    since: int = 1  # sync schema version that introduced the column

    @property
    def db_name(self) -> str:
        """What to ask ``.values()`` for: the attname for foreign keys (no join)."""
        return self.name + "_id" if isinstance(self.codec, ForeignId) else self.name


class RecordWriter:
    """Writes a clinical table through the one write path (``recovery.record.writes``).

    The ``RecordKind`` is found in the registry by table name when writing: each capability's
    ``kinds.py`` registers its kinds when ``recovery/apps.py`` imports it at start-up, and this
    module imports only models, so it does not depend on that order. What a write causes
    (reminder planning, triage: the ``on_write`` hooks) runs inside ``record_create`` /
    ``record_update`` / ``record_delete``, whoever calls them. A table with other rules (the
    reminders inbox: only ``read_at`` may change) registers its own writer with the same three
    methods.
    """

    def __init__(self, table: str):
        self.table = table

    @property
    def kind(self) -> RecordKind:
        return RECORD_KINDS[self.table]

    @property
    def patient_may_write(self) -> bool:
        """Patients push this table at all (the write path still checks each row: a patient
        completes their own checklist items without being able to create any)."""
        return self.kind.patient_may_create or self.kind.patient_fields is not None

    def create(self, *, actor, patient, id: str, values: dict, version: int | None = None) -> None:
        record_create(self.kind, actor=actor, patient=patient, id=id, clock=version, **values)

    def update(self, *, actor, row, values: dict, version: int | None = None) -> None:
        record_update(self.kind, actor=actor, record=row, clock=version, **values)

    def delete(self, *, actor, row, version: int | None = None) -> None:
        record_delete(self.kind, actor=actor, record=row, clock=version)


@dataclass(frozen=True)
class SyncTable:
    name: str
    model: type[models.Model]
    columns: tuple[Column, ...]
    # How a push writes the table. ``None``: read-only (a push with any record in it is a 403
    # naming the table), and so is a writer whose ``patient_may_write`` is False.
    writer: RecordWriter | None = None
    since: int = 1
    by_name: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "by_name", {c.name: c for c in self.columns})

    def column(self, name: str) -> Column | None:
        return self.by_name.get(name)

    def columns_for(self, schema_version: int) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.since <= schema_version)

    @property
    def patient_writable(self) -> bool:
        return self.writer is not None and self.writer.patient_may_write


SYNC_TABLES: dict[str, SyncTable] = {}


def register(table: SyncTable) -> SyncTable:
    names = [c.name for c in table.columns]
    if len(names) != len(set(names)) or "id" in names:
        raise ValueError(f"{table.name}: column names must be unique and not 'id'")
    SYNC_TABLES[table.name] = table
    return table


def _meta_columns() -> tuple[Column, ...]:
    """Server-owned columns every clinical table sends. ``created_by`` (v2) lets the app tell
    the patient's own rows (editable) from the care team's."""
    return (
        Column("created_by", ForeignId(), writable=False, since=2),
        Column("created_at", EpochMs(), writable=False),
        Column("updated_at", EpochMs(), writable=False),
    )


# --- The clinical tables, derived from their RecordKinds -----------------------------------------

# Columns the protocol carries itself (``id``, tombstones, the clock) or that are implied (the
# patient is the caller).
_PROTOCOL_FIELDS = frozenset({"id", "patient", "deleted_at", "sync_version"})
_META_NAMES = frozenset(c.name for c in _meta_columns())


def codec_for(model_field: models.Field) -> Codec:
    """How a model field travels (the order matters: a DateTimeField is a DateField)."""
    null = model_field.null
    if isinstance(model_field, models.ForeignKey):
        return ForeignId(nullable=null)
    if isinstance(model_field, models.FileField):
        return SignedFile()
    if isinstance(model_field, models.DateTimeField):
        return EpochMs(nullable=null)
    if isinstance(model_field, models.DateField):
        return IsoDate(nullable=null)
    if isinstance(model_field, models.BooleanField):
        return Boolean(nullable=null)
    if isinstance(model_field, models.IntegerField):
        return Integer(nullable=null)
    if isinstance(model_field, models.DecimalField):
        return Number(nullable=null)
    if isinstance(model_field, models.CharField | models.TextField):
        return Text(nullable=null, blank_for_null=model_field.blank)
    if isinstance(model_field, models.JSONField) and model_field.default in (list, dict):
        return JsonList() if model_field.default is list else JsonObject()
    raise TypeError(f"{model_field}: no sync codec for {type(model_field).__name__}")


def _device_writes(kind: RecordKind, model_field: models.Field) -> bool:
    names_a_user = (
        isinstance(model_field, models.ForeignKey)
        and model_field.related_model._meta.label == settings.AUTH_USER_MODEL
    )
    return (
        model_field.name in kind.fields()
        and not names_a_user
        and model_field.name not in kind.device_read_only
    )


def sync_table_for(kind: RecordKind) -> SyncTable:
    fields = [
        f
        for f in kind.model._meta.concrete_fields
        if f.name not in _PROTOCOL_FIELDS and f.name not in _META_NAMES
    ]
    columns = tuple(
        Column(
            f.name,
            codec_for(f),
            writable=_device_writes(kind, f),
            since=kind.sync_columns_since.get(f.name, 1),
        )
        for f in fields
    )
    return SyncTable(
        kind.table,
        kind.model,
        (*columns, *_meta_columns()),
        writer=RecordWriter(kind.table),
        since=kind.sync_since,
    )


for _kind in registered_kinds():
    register(sync_table_for(_kind))


# --- The in-app inbox ---------------------------------------------------------------------------


class InboxWriter:
    """The in-app inbox: the patient marks a notification read (``read_at``) or deletes it;
    notifications are never created or otherwise changed from a phone."""

    patient_may_write = True

    def create(self, *, actor, patient, id: str, values: dict, version: int | None = None) -> None:
        raise Forbidden(
            "Notifications are created by the server.",
            code="permission_denied",
        )  # no attr: the push names the record (notifications.<id>)

    def update(self, *, actor, row, values: dict, version: int | None = None) -> None:
        # The reminders services tick the clock themselves (``version`` is not used).
        _own_inbox(actor)
        if set(values) - {"read_at"}:
            raise Forbidden(
                "Only read_at of a notification can change.",
                code="permission_denied",
            )
        if values.get("read_at") is not None and row.read_at is None:
            notification_mark_read(notification=row)

    def delete(self, *, actor, row, version: int | None = None) -> None:
        _own_inbox(actor)
        notification_delete(notification=row)


def _own_inbox(actor) -> None:
    """The inbox is the patient's own: a caregiver syncing the patient's record never gets it
    (``recovery.sync.views``) and may not change it."""
    if actor.role != Role.PATIENT:
        raise Forbidden("The inbox is the patient's own.", code="permission_denied")


register(
    SyncTable(
        "notifications",
        Notification,
        (
            Column("kind", Text(), writable=False),
            Column("title", Text(), writable=False),
            Column("body", Text(blank_for_null=True), writable=False),
            Column("due_at", EpochMs(nullable=True), writable=False),
            Column("read_at", EpochMs(nullable=True)),
            Column("created_at", EpochMs(), writable=False),
            Column("updated_at", EpochMs(), writable=False),
        ),
        writer=InboxWriter(),
        since=3,
    )
)


def schema_version_range() -> tuple[int, int]:
    return settings.SYNC_SCHEMA_VERSION_MIN, settings.SYNC_SCHEMA_VERSION_MAX


def tables_for(schema_version: int) -> list[SyncTable]:
    return [t for t in SYNC_TABLES.values() if t.since <= schema_version]
