"""Pull: what changed for one patient since the device last pulled (design.md section 5).

Two ways to read the rows, with the same result:
- on PostgreSQL, one hand-built SELECT per table whose columns are already in wire form
  (epoch milliseconds, ``YYYY-MM-DD``, JSON text: see each codec's ``pg_sql``). A first pull
  is thousands of rows; converting them in the database and skipping the ORM per request keeps
  the endpoint close to the cost of fetching and serialising the rows at all
  (bench/sync_pull.py, docs/benchmarks.md);
- elsewhere (SQLite in development), ``values_list()`` and each codec's ``to_wire``.
"""

from __future__ import annotations

from functools import cache

from django.db import connection, transaction
from django.db.models import Q

from accounts.services import patient_clock_read
from config.errors import Invalid

from .protocol import Migration
from .rejections import pull_add_rejected
from .tables import SYNC_TABLES, Codec, SyncTable, tables_for

FIRST, SINCE, WHOLE = "first", "since", "whole"  # which rows of a table a pull wants


def sync_pull(
    *,
    patient_id: int,
    last_pulled_at: int | None,
    schema_version: int,
    migration: Migration | None = None,
) -> dict:
    """Every live row changed after ``last_pulled_at`` under ``updated`` (``created`` stays
    empty: the app sets ``sendCreatedAsUpdated``), ids of rows deleted since then under
    ``deleted``, and the patient's clock as ``timestamp``.

    The clock is read under its row lock in the same transaction as the rows, so every write
    stamped up to ``timestamp`` has committed and is seen here, and every later write gets a
    larger stamp: nothing falls between two pulls however transactions interleave.
    ``last_pulled_at=None`` (first pull) sends all live rows and no tombstones; tables named by a
    ``migration`` are sent whole (live rows, plus tombstones since ``last_pulled_at``).
    One query per table, whatever the patient's history.
    """
    whole = migration.tables if (migration and last_pulled_at is not None) else frozenset()
    read = _read_postgresql if connection.vendor == "postgresql" else _read_orm
    changes = {}
    with transaction.atomic():
        timestamp = patient_clock_read(patient_id=patient_id)
        if last_pulled_at is not None and last_pulled_at > timestamp:
            raise Invalid(
                "last_pulled_at is later than any timestamp this server handed out.",
                code="in_future",
                attr="last_pulled_at",
            )
        wanted = [
            (table, FIRST if last_pulled_at is None else WHOLE if table.name in whole else SINCE)
            for table in tables_for(schema_version)
        ]
        for table, (updated, deleted) in zip(
            (t for t, _ in wanted),
            read(wanted, schema_version, patient_id, last_pulled_at),
            strict=True,
        ):
            changes[table.name] = {"created": [], "updated": updated, "deleted": deleted}
        body = {"changes": changes, "timestamp": timestamp}
        pull_add_rejected(
            body,
            patient_id=patient_id,
            last_pulled_at=last_pulled_at,
            schema_version=schema_version,
        )
    return body


# --- PostgreSQL: columns converted in SQL -------------------------------------------------------


@cache
def _postgresql_select(
    table_name: str, schema_version: int, mode: str
) -> tuple[str, tuple[str, ...]]:
    table = SYNC_TABLES[table_name]
    quote = connection.ops.quote_name
    columns = table.columns_for(schema_version)
    select = ", ".join(
        ["t.id", *(c.codec.pg_sql.format(c=f"t.{quote(c.db_name)}") for c in columns)]
    )
    where = {
        FIRST: "t.deleted_at IS NULL",
        SINCE: "t.sync_version > %s",
        WHOLE: "(t.deleted_at IS NULL OR t.sync_version > %s)",
    }[mode]
    # The tombstone flag comes last: zip() with the names stops before it, no slicing per row.
    # Identifiers come from the registry and are quoted; values are parameters.
    sql = (
        f"SELECT {select}, t.deleted_at IS NOT NULL FROM {quote(table.model._meta.db_table)} t "  # noqa: S608
        f"WHERE t.patient_id = %s AND {where}"
    )
    return sql, ("id", *(c.name for c in columns))


def _read_postgresql(wanted, schema_version: int, patient_id: int, since):
    """All tables in one round trip: one SELECT per table, sent together (psycopg's client-side
    binding cursor, which Django uses, runs them in order and returns one result set each)."""
    statements, params, names = [], [], []
    for table, mode in wanted:
        sql, table_names = _postgresql_select(table.name, schema_version, mode)
        statements.append(sql)
        params.extend((patient_id,) if mode == FIRST else (patient_id, since))
        names.append(table_names)
    with connection.cursor() as cursor:
        cursor.execute(";\n".join(statements), params)
        for index, table_names in enumerate(names):
            if index:
                cursor.nextset()
            updated, deleted = [], []
            for row in cursor.fetchall():
                if row[-1]:
                    deleted.append(row[0])
                else:
                    updated.append(dict(zip(table_names, row, strict=False)))
            yield updated, deleted


# --- Any database: the ORM and the codecs --------------------------------------------------------


def _encoder(table: SyncTable, schema_version: int):
    columns = table.columns_for(schema_version)
    names = ("id", *(c.name for c in columns))
    db_names = ("id", *(c.db_name for c in columns))
    converters = [None] + [
        None if type(c.codec).to_wire is Codec.to_wire else c.codec.to_wire for c in columns
    ]
    plain = [i for i, conv in enumerate(converters) if conv is None]
    converted = [(i, conv) for i, conv in enumerate(converters) if conv is not None]

    def encode(row) -> dict:
        record = {names[i]: row[i] for i in plain}
        for i, conv in converted:
            record[names[i]] = conv(row[i])
        return record

    return db_names, encode


def _read_orm(wanted, schema_version: int, patient_id: int, since):
    for table, mode in wanted:
        yield _read_orm_table(table, schema_version, mode, patient_id, since)


def _read_orm_table(table: SyncTable, schema_version: int, mode: str, patient_id: int, since):
    rows = table.model._base_manager.filter(patient_id=patient_id)
    if mode == FIRST:
        rows = rows.filter(deleted_at__isnull=True)
    elif mode == WHOLE:
        rows = rows.filter(Q(deleted_at__isnull=True) | Q(sync_version__gt=since))
    else:
        rows = rows.filter(sync_version__gt=since)
    db_names, encode = _encoder(table, schema_version)
    updated, deleted = [], []
    for row in rows.values_list("deleted_at", *db_names):
        if row[0] is not None:
            deleted.append(row[1])
        else:
            updated.append(encode(row[1:]))
    return updated, deleted
