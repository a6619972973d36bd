"""Pull: what changed for one patient since the device last pulled (design.md section 5)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from accounts.services import patient_clock_read
from config.api.errors import ApplicationError

from .protocol import Migration
from .tables import Codec, SyncTable, tables_for


def _encoder(table: SyncTable, schema_version: int):
    """Returns (db column names, a function turning one ``values_list`` row into a raw record).

    Per-row cost matters on a first pull (thousands of rows), so columns whose wire form is the
    database value skip the codec call.
    """
    columns = table.columns_for(schema_version)
    names = ("id", *(c.name for c in columns))
    db_names = ("id", *(c.db_name for c in columns))
    converters = [None] + [
        None if type(c.codec).to_wire is Codec.to_wire else c.codec.to_wire
        for c in columns
    ]
    plain = [i for i, conv in enumerate(converters) if conv is None]
    converted = [(i, conv) for i, conv in enumerate(converters) if conv is not None]

    def encode(row) -> dict:
        record = {names[i]: row[i] for i in plain}
        for i, conv in converted:
            record[names[i]] = conv(row[i])
        return record

    return db_names, encode


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
    ``migration`` are sent whole.
    """
    full_tables = migration.tables if (migration and last_pulled_at is not None) else frozenset()
    changes = {}
    with transaction.atomic():
        timestamp = patient_clock_read(patient_id=patient_id)
        if last_pulled_at is not None and last_pulled_at > timestamp:
            raise ApplicationError(
                "last_pulled_at is later than any timestamp this server handed out.",
                code="in_future",
                attr="last_pulled_at",
            )
        for table in tables_for(schema_version):
            rows = table.model.all_objects.filter(patient_id=patient_id)
            if last_pulled_at is None:
                rows = rows.filter(deleted_at__isnull=True)
            elif table.name in full_tables:
                rows = rows.filter(Q(deleted_at__isnull=True) | Q(sync_version__gt=last_pulled_at))
            else:
                rows = rows.filter(sync_version__gt=last_pulled_at)
            db_names, encode = _encoder(table, schema_version)
            updated, deleted = [], []
            for row in rows.values_list("deleted_at", *db_names):
                if row[0] is not None:
                    deleted.append(row[1])
                else:
                    updated.append(encode(row[1:]))
            changes[table.name] = {"created": [], "updated": updated, "deleted": deleted}
    return {"changes": changes, "timestamp": timestamp}
