"""Reading the sync protocol's input: query parameters and the push body.

Everything here checks form and types only and touches no database; a problem becomes a 4xx
in the one error shape whose ``attr`` names the parameter, or ``<table>.<id>.<column>`` for a
record value. Nothing is written before all of a push has been read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import orjson
from django.conf import settings
from django.core import signing
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions
from rest_framework.exceptions import ErrorDetail

from config.errors import DomainError, Forbidden, Invalid, PayloadTooLarge

from .tables import ID_RE, SYNC_TABLES, SyncTable, WireError, schema_version_range

IGNORED_KEYS = frozenset({"_status", "_changed"})  # WatermelonDB's local bookkeeping
CHANGE_KEYS = ("created", "updated", "deleted")
MAX_TIMESTAMP = 2**53 - 1  # JavaScript's largest safe integer


def bad(detail: str, *, attr: str | None, code: str = "invalid") -> DomainError:
    return Invalid(detail, code=code, attr=attr)


class Problems:
    """Collects every problem of a push, so the app hears about all of them at once."""

    def __init__(self):
        self.errors: dict[str, list[ErrorDetail]] = {}

    def add(self, attr: str, detail: str, code: str) -> None:
        self.errors.setdefault(attr, []).append(ErrorDetail(detail, code=code))

    def raise_if_any(self) -> None:
        if self.errors:
            raise exceptions.ValidationError(self.errors)


# --- Query parameters ---------------------------------------------------------------------------


DIGITS = re.compile(r"[0-9]{1,16}")


def parse_timestamp(raw: str | None, *, required: bool) -> int | None:
    """``last_pulled_at``: an integer the server handed out, or ``null`` before the first pull."""
    if raw is None or raw in ("", "null", "undefined"):
        if required:
            raise bad(
                "Pull before pushing: last_pulled_at is the timestamp of your last pull.",
                attr="last_pulled_at",
                code="never_pulled",
            )
        return None
    if not DIGITS.fullmatch(raw):
        raise bad("last_pulled_at must be an integer or null.", attr="last_pulled_at")
    value = int(raw)
    if value > MAX_TIMESTAMP:
        raise bad("last_pulled_at is out of range.", attr="last_pulled_at")
    return value


def parse_schema_version(raw: str | None, *, required: bool) -> int | None:
    low, high = schema_version_range()
    if raw is None or raw == "":
        if required:
            raise bad(
                f"schema_version is required; this server syncs versions {low} to {high}.",
                attr="schema_version",
                code="required",
            )
        return None
    if not DIGITS.fullmatch(raw):
        raise bad("schema_version must be an integer.", attr="schema_version")
    version = int(raw)
    if not low <= version <= high:
        raise Invalid(
            f"Schema version {version} is not supported; this server syncs versions {low} to "
            f"{high}. Update the app.",
            code="unsupported_schema_version",
            attr="schema_version",
            extra={"supported_schema_versions": {"min": low, "max": high}},
        )
    return version


@dataclass(frozen=True)
class Migration:
    """WatermelonDB's migration sync: the tables (and tables with new columns) to send whole."""

    from_version: int
    tables: frozenset[str]


def parse_migration(raw: str | None, *, schema_version: int) -> Migration | None:
    if raw is None or raw in ("", "null"):
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad("migration must be JSON or null.", attr="migration") from None
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) - {"from", "tables", "columns"}:
        raise bad(
            'migration must look like {"from": 1, "tables": [], "columns": []}.', attr="migration"
        )
    start = data.get("from")
    if isinstance(start, bool) or not isinstance(start, int) or not 1 <= start < schema_version:
        raise bad(
            f"migration.from must be an integer from 1 to {schema_version - 1}.",
            attr="migration.from",
        )
    tables = data.get("tables", [])
    columns = data.get("columns", [])
    if not isinstance(tables, list) or not isinstance(columns, list):
        raise bad("migration.tables and migration.columns must be lists.", attr="migration")
    names = set()
    for table in tables:
        if not isinstance(table, str):
            raise bad("migration.tables is a list of table names.", attr="migration.tables")
        if table not in SYNC_TABLES:
            raise bad(
                f"Unknown table {table[:60]!r}.", attr="migration.tables", code="unknown_table"
            )
        names.add(table)
    for entry in columns:
        if (
            not isinstance(entry, dict)
            or set(entry) != {"table", "columns"}
            or not isinstance(entry["table"], str)
            or not isinstance(entry["columns"], list)
            or not all(isinstance(c, str) for c in entry["columns"])
        ):
            raise bad(
                'Each entry of migration.columns looks like {"table": "<name>", "columns": ["<name>", ...]}.',
                attr="migration.columns",
            )
        table = SYNC_TABLES.get(entry["table"])
        if table is None:
            raise bad(
                f"Unknown table {entry['table'][:60]!r}.",
                attr="migration.columns",
                code="unknown_table",
            )
        unknown = [c[:60] for c in entry["columns"] if table.column(c) is None]
        if unknown:
            raise bad(
                f"Unknown column(s) of {table.name}: {unknown!r}.",
                attr=f"migration.columns.{table.name}",
                code="unknown_column",
            )
        names.add(table.name)
    return Migration(from_version=start, tables=frozenset(names))


# --- Paged pull -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullPosition:
    """Where a paged pull stands (docs/sync.md, "Paged pull"); travels signed as ``cursor``."""

    schema_version: int
    page_size: int
    since: int | None  # the last_pulled_at the pages pull from (None: a first sync)
    whole: frozenset[str] = frozenset()  # tables sent whole (a migration sync)
    snapshot: int | None = None  # the patient's clock at the first page; None before it
    after: tuple[int, str, str] | None = None  # (sync_version, table, id) of the last row sent

    def following(self, *, snapshot: int, after: tuple[int, str, str]) -> PullPosition:
        return replace(self, snapshot=snapshot, after=after)


CURSOR_SALT = "realign.sync.pull-cursor"
MAX_CURSOR_LENGTH = 1000


def parse_page_size(raw: str | None) -> int | None:
    """``page_size``: asks for a paged pull of at most that many records per page."""
    if raw is None or raw in ("", "null"):
        return None
    limit = settings.SYNC_PULL_MAX_PAGE_SIZE
    if not DIGITS.fullmatch(raw) or not 1 <= int(raw) <= limit:
        raise bad(
            f"page_size must be an integer from 1 to {limit}.",
            attr="page_size",
            code="out_of_range",
        )
    return int(raw)


def _salt(user_id: int) -> str:
    return f"{CURSOR_SALT}:{user_id}"  # a cursor is valid for the user it was given to only


def write_cursor(position: PullPosition, *, user_id: int, patient_id: int) -> str:
    """The position, signed (``django.core.signing``: HMAC with the secret key, timestamped):
    opaque to the app and tamper-evident."""
    return signing.dumps(
        {
            "p": patient_id,
            "v": position.schema_version,
            "n": position.page_size,
            "s": position.since,
            "w": sorted(position.whole),
            "t": position.snapshot,
            "a": list(position.after),
        },
        salt=_salt(user_id),
    )


def read_cursor(
    raw: str, *, user_id: int, patient_id: int, schema_version: int, page_size: int | None
) -> PullPosition:
    """The position a ``cursor`` carries. Refused (400, attr ``cursor``) unless this server
    signed it for this user and patient, within ``SYNC_PULL_CURSOR_MAX_AGE`` seconds, for the
    same schema version. ``page_size``, when given, replaces the cursor's for the pages to come."""
    again = "Pull again without the cursor, from your last timestamp."
    if len(raw) > MAX_CURSOR_LENGTH:
        raise bad(
            f"Not a pull cursor of this server. {again}", attr="cursor", code="invalid_cursor"
        )
    try:
        data = signing.loads(raw, salt=_salt(user_id), max_age=settings.SYNC_PULL_CURSOR_MAX_AGE)
    except signing.SignatureExpired:
        raise bad(
            f"This cursor has expired. {again}", attr="cursor", code="cursor_expired"
        ) from None
    except (signing.BadSignature, ValueError):
        raise bad(
            f"Not a pull cursor this server gave you. {again}", attr="cursor", code="invalid_cursor"
        ) from None
    try:
        position = PullPosition(
            schema_version=int(data["v"]),
            page_size=page_size or int(data["n"]),
            since=None if data["s"] is None else int(data["s"]),
            whole=frozenset(str(name) for name in data["w"]),
            snapshot=int(data["t"]),
            after=(int(data["a"][0]), str(data["a"][1]), str(data["a"][2])),
        )
        owner = int(data["p"])
    except (KeyError, TypeError, ValueError, IndexError):  # a cursor of an older format
        raise bad(
            f"Not a pull cursor of this server. {again}", attr="cursor", code="invalid_cursor"
        ) from None
    if owner != patient_id:
        raise bad(
            f"Not a pull cursor this server gave you. {again}", attr="cursor", code="invalid_cursor"
        )
    if position.schema_version != schema_version:
        raise bad(
            f"This cursor is for schema version {position.schema_version}; the app sent "
            f"{schema_version}. {again}",
            attr="cursor",
            code="invalid_cursor",
        )
    return position


# --- Push body ----------------------------------------------------------------------------------


def check_push_size(content_length: str | None, body_size: int | None = None) -> None:
    limit = settings.SYNC_PUSH_MAX_BYTES
    try:
        declared = int(content_length or 0)
    except ValueError:
        declared = 0
    if max(declared, body_size or 0) > limit:
        raise PayloadTooLarge(
            f"A push may be at most {limit} bytes; push fewer records at a time.",
            extra={"max_bytes": limit},
        )


def read_push_body(request) -> bytes:
    """The raw body, after the size checks (declared length first, then what arrived). A
    chunked body arrives here with its length (``config.api.middleware.ChunkedBodyMiddleware``)."""
    check_push_size(request.META.get("CONTENT_LENGTH"))
    try:
        body = request.body
    except RequestDataTooBig:  # beyond Django's own limit
        check_push_size(None, settings.SYNC_PUSH_MAX_BYTES + 1)
        raise
    check_push_size(None, len(body))
    return body


def load_push_body(body: bytes):
    """orjson, not the json module: it refuses nesting deeper than 1024 with an error instead of
    recursing, and refuses lone surrogates and NaN that PostgreSQL could not store."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"The body is not valid JSON: {exc}", code="parse_error") from None


@dataclass
class PushedRecord:
    table: SyncTable
    id: str
    values: dict  # model field name -> Python value; only writable columns that were sent
    section: str  # "created" | "updated"
    raw: object = None  # as sent (kept if the record is refused)

    @property
    def attr(self) -> str:
        return f"{self.table.name}.{self.id}"


@dataclass
class Refusal:
    """A pushed record the server will not apply, kept as sent (``RejectedRecord``): ``errors``
    in the API's error shape (``[{"code", "detail", "attr"}]``)."""

    table: str
    id: str
    section: str  # "created" | "updated" | "deleted"
    raw: object
    errors: list[dict]


def error_list(errors: dict[str, list]) -> list[dict]:
    """``{attr: [ErrorDetail]}`` as the API's ``errors`` list."""
    return [
        {"code": getattr(detail, "code", "invalid"), "detail": str(detail), "attr": attr}
        for attr, details in errors.items()
        for detail in details
    ]


@dataclass
class PushBatch:
    records: list[PushedRecord] = field(default_factory=list)
    deleted: list[tuple[SyncTable, str]] = field(default_factory=list)
    # Records read with problems of their own (a wrong type, an unknown column): refused one by
    # one, the rest of the push still applies.
    refused: list[Refusal] = field(default_factory=list)

    @property
    def tables(self) -> set[str]:
        return {r.table.name for r in self.records} | {t.name for t, _ in self.deleted}


def decode_record(table: SyncTable, section: str, index: int, raw, problems: Problems):
    """A pushed record, or None. A record without a readable id is a problem of the push (400);
    a record with an id and a bad value is refused on its own (``Refusal``)."""
    where = f"{table.name}.{section}[{index}]"
    if not isinstance(raw, dict):
        problems.add(where, "A record is an object with an id.", "invalid_type")
        return None
    record_id = raw.get("id")
    if not isinstance(record_id, str) or not ID_RE.match(record_id):
        problems.add(
            f"{where}.id",
            "Ids are 1-36 characters of letters, digits, '_' and '-'.",
            "invalid_id",
        )
        return None
    own = Problems()
    values = {}
    for key, value in raw.items():
        if key == "id" or key in IGNORED_KEYS:
            continue
        column = table.column(key)
        if column is None:
            own.add(
                f"{table.name}.{record_id}.{key[:60]}",
                f"Unknown column of {table.name}.",
                "unknown_column",
            )
            continue
        if not column.writable:
            continue  # the server owns it (created_at, updated_at, created_by, surgeon...)
        try:
            values[key] = column.codec.from_wire(value)
        except WireError as exc:
            own.add(f"{table.name}.{record_id}.{key}", str(exc), exc.code)
    if own.errors:
        return Refusal(
            table=table.name,
            id=record_id,
            section=section,
            raw=raw,
            errors=error_list(own.errors),
        )
    return PushedRecord(table=table, id=record_id, values=values, section=section, raw=raw)


def parse_push_body(data) -> PushBatch:
    """``{"<table>": {"created": [raw], "updated": [raw], "deleted": [id]}}``."""
    if not isinstance(data, dict):
        raise bad("The push body is an object keyed by table name.", attr=None, code="invalid_type")
    problems = Problems()
    batch = PushBatch()
    count = 0
    seen: dict[tuple[str, str], str] = {}
    for table_name, change in data.items():
        table = SYNC_TABLES.get(table_name)
        if table is None:
            problems.add(table_name[:60], "Unknown table.", "unknown_table")
            continue
        if not isinstance(change, dict) or set(change) - set(CHANGE_KEYS):
            problems.add(
                table_name,
                'Expected {"created": [], "updated": [], "deleted": []}.',
                "invalid_type",
            )
            continue
        for section in CHANGE_KEYS:
            items = change.get(section, [])
            if not isinstance(items, list):
                problems.add(f"{table_name}.{section}", "Expected a list.", "invalid_type")
                continue
            count += len(items)
            if count > settings.SYNC_PUSH_MAX_RECORDS:
                raise PayloadTooLarge(
                    f"A push may hold at most {settings.SYNC_PUSH_MAX_RECORDS} records; push fewer at a time.",
                    extra={"max_records": settings.SYNC_PUSH_MAX_RECORDS},
                )
            for index, item in enumerate(items):
                if section == "deleted":
                    if not isinstance(item, str) or not ID_RE.match(item):
                        problems.add(
                            f"{table_name}.deleted[{index}]", "Expected an id.", "invalid_id"
                        )
                        continue
                    record_id = item
                    batch.deleted.append((table, item))
                else:
                    record = decode_record(table, section, index, item, problems)
                    if record is None:
                        continue
                    record_id = record.id
                    if isinstance(record, Refusal):
                        batch.refused.append(record)
                    else:
                        batch.records.append(record)
                key = (table_name, record_id)
                if key in seen:
                    problems.add(
                        f"{table_name}.{record_id}",
                        f"This id appears twice in the push ({seen[key]} and {section}).",
                        "duplicate_id",
                    )
                seen[key] = section
    problems.raise_if_any()
    return batch


def forbidden_tables(batch: PushBatch) -> list[str]:
    return sorted(name for name in batch.tables if not SYNC_TABLES[name].patient_writable)


def refuse_forbidden_tables(batch: PushBatch) -> None:
    """Moves every record of a table the patient may not write (a local edit of a read-only
    table) from the batch to its refusals, with a 403's reason (``permission_denied``)."""
    denied = set(forbidden_tables(batch))
    if not denied:
        return

    def refusal(table: str, record_id: str, section: str, raw) -> Refusal:
        return Refusal(
            table=table,
            id=record_id,
            section=section,
            raw=raw,
            errors=[
                {
                    "code": "permission_denied",
                    "detail": f"You may not write {table}: the care team keeps it.",
                    "attr": f"{table}.{record_id}",
                }
            ],
        )

    batch.refused += [
        refusal(r.table.name, r.id, r.section, r.raw)
        for r in batch.records
        if r.table.name in denied
    ]
    batch.refused += [
        refusal(t.name, i, "deleted", i) for t, i in batch.deleted if t.name in denied
    ]
    batch.records = [r for r in batch.records if r.table.name not in denied]
    batch.deleted = [(t, i) for t, i in batch.deleted if t.name not in denied]


def raise_forbidden_tables(names: list[str]) -> None:
    raise Forbidden(
        f"You may not write {', '.join(names)}: the care team keeps these. Nothing was applied.",
        code="permission_denied",
        attr=names[0],
        extra={"tables": names},
    )
