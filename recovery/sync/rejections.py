"""Quarantine of refused pushed records (docs/sync.md, "Refused records").

A push keeps each record it refuses (other than for a conflict) in ``RejectedRecord``, as sent;
the next pull gives the phone the server's truth for each refused id and the refusals
themselves (``rejected``), so the phone converges and the app can say what to fix. The care
team sees them in the admin and on the timeline, and a refused check-in opens an alert.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.utils import timezone

from accounts.models import PatientProfile, User
from config.errors import DomainError
from recovery.care.alerts import alert_open
from recovery.care.models import Tier, TriageRule

from .models import RejectedRecord, RejectedStatus
from .protocol import Refusal
from .tables import SYNC_TABLES, tables_for

# A refused check-in must never vanish silently: the care team gets an alert (one open per
# patient; its detail names the check-ins). Not a triage rule of the clinic: it is not about the
# answers, which the server could not read as valid.
REFUSED_CHECK_IN_RULE = TriageRule(
    key="check-in-refused",
    tier=Tier.SAME_DAY,
    title="A check-in from the app was refused by the server",
)


def storable(raw):
    """The raw record as PostgreSQL can keep it: a NUL character (which ``jsonb`` cannot hold)
    becomes U+FFFD; everything else exactly as sent."""
    if isinstance(raw, str):
        return raw.replace("\x00", "\ufffd")
    if isinstance(raw, dict):
        return {storable(k): storable(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [storable(v) for v in raw]
    return raw


def _message(error) -> str:
    return error.message % error.params if error.params else error.message


def refusal_of(exc: Exception, *, table: str, record_id: str, section: str, raw) -> Refusal:
    """A write path refusal (a Django ``ValidationError`` or a ``DomainError``) as a
    ``Refusal`` whose errors name ``<table>.<id>[.<field>]``, as a 400/403/409 would."""
    attr = f"{table}.{record_id}"
    errors = []
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            for name, field_errors in exc.error_dict.items():
                key = attr if name == NON_FIELD_ERRORS else f"{attr}.{name}"
                errors += [
                    {"code": e.code or "invalid", "detail": _message(e), "attr": key}
                    for e in field_errors
                ]
        else:
            errors += [
                {"code": e.code or "invalid", "detail": _message(e), "attr": attr}
                for e in exc.error_list
            ]
    elif isinstance(exc, DomainError):
        renamed = exc.renamed(attr)
        errors.append({"code": renamed.code, "detail": str(renamed.detail), "attr": renamed.attr})
    else:
        raise exc
    return Refusal(table=table, id=record_id, section=section, raw=raw, errors=errors)


def rejected_store(
    *,
    patient: PatientProfile,
    actor: User,
    refusals: list[Refusal],
    last_pulled_at: int,
    version: int,
    device: str = "",
) -> list[RejectedRecord]:
    """Keeps the refusals of one push (inside its transaction, under the patient's clock lock).
    The same record sent again with the same content (the phone retried) is counted on the
    row already kept, not stored twice; ``version`` stamps them all, so the next pull sends
    the server's truth for each id."""
    if not refusals:
        return []
    now = timezone.now()
    kept = {
        (row.table_name, row.record_id): row
        for row in RejectedRecord.objects.filter(
            patient=patient, status=RejectedStatus.OPEN, record_id__in={r.id for r in refusals}
        ).order_by("id")
    }
    fresh, again = [], []
    for refusal in refusals:
        raw = storable(refusal.raw)
        row = kept.get((refusal.table, refusal.id))
        if row is not None and row.raw == raw and row.section == refusal.section:
            row.times_sent += 1
            row.errors, row.sync_version, row.rejected_at = refusal.errors, version, now
            row.last_pulled_at = last_pulled_at
            again.append(row)
            continue
        fresh.append(
            RejectedRecord(
                patient=patient,
                user=actor,
                table_name=refusal.table,
                record_id=refusal.id,
                section=refusal.section,
                raw=raw,
                errors=refusal.errors,
                device=device[:200],
                last_pulled_at=last_pulled_at,
                sync_version=version,
                rejected_at=now,
            )
        )
    if again:
        RejectedRecord.objects.bulk_update(
            again, ["times_sent", "errors", "sync_version", "rejected_at", "last_pulled_at"]
        )
    RejectedRecord.objects.bulk_create(fresh)
    check_ins = [r for r in refusals if r.table == "check_ins"]
    if check_ins:
        alert_open(
            patient=patient,
            rule=REFUSED_CHECK_IN_RULE,
            source_table="check_ins",
            source_id=check_ins[0].id,
            detail="; ".join(
                f"check-in {r.id}: " + ", ".join(sorted({e["code"] for e in r.errors}))
                for r in check_ins
            )[:2000],
        )
    return [*again, *fresh]


def rejected_answer(refusals: list[Refusal]) -> list[dict]:
    """The push answer's ``rejected``: which records were refused, and why."""
    return [{"table": r.table, "id": r.id, "errors": r.errors} for r in refusals]


_REFUSED_COLUMNS = ("table_name", "record_id", "errors", "rejected_at")


@cache
def _refused_sql(*, since: bool, patient: str) -> str:
    """The open refusals of one patient (stamped after ``last_pulled_at`` when ``since``),
    oldest first, as ``_refused_rows`` reads them; ``patient`` is the SQL for the patient's id
    (one parameter). Parameters: ``(patient, "open"[, last_pulled_at])``."""
    quote = connection.ops.quote_name
    meta = RejectedRecord._meta
    columns = ", ".join(f"r.{quote(meta.get_field(name).column)}" for name in _REFUSED_COLUMNS)
    where = [
        f"r.{quote(meta.get_field('patient').column)} = {patient}",
        f"r.{quote(meta.get_field('status').column)} = %s",
    ]
    if since:
        where.append(f"r.{quote(meta.get_field('sync_version').column)} > %s")
    # Identifiers come from the model and are quoted; values are parameters.
    return (
        f"SELECT {columns} FROM {quote(meta.db_table)} r WHERE {' AND '.join(where)} "  # noqa: S608
        f"ORDER BY r.{quote(meta.get_field('rejected_at').column)}, r.{quote(meta.pk.column)}"
    )


def rejected_pull_statement(
    *, patient: str = "%s", key: int, last_pulled_at: int | None
) -> tuple[str, list]:
    """The refused-records query of a pull and its parameters (``key``: the parameter of the
    ``patient`` SQL, the patient's id by default), to send with the pull's other statements;
    its fetched rows go through ``rejected_pull_rows`` to ``pull_add_rejected(...,
    refused=...)``."""
    params: list = [key, RejectedStatus.OPEN.value]
    if last_pulled_at is not None:
        params.append(last_pulled_at)
    return _refused_sql(since=last_pulled_at is not None, patient=patient), params


def rejected_pull_rows(fetched) -> list[tuple]:
    """The rows of ``rejected_pull_statement`` as the ORM reads them: ``errors`` arrives as JSON
    text (Django has psycopg 3 read ``jsonb`` as text, its ``JSONField`` parses it)."""
    return [
        (table_name, record_id, None if errors is None else json.loads(errors), rejected_at)
        for table_name, record_id, errors, rejected_at in fetched
    ]


def _refused_rows(*, patient_id: int, last_pulled_at: int | None) -> list[tuple]:
    rows = RejectedRecord.objects.filter(patient_id=patient_id, status=RejectedStatus.OPEN)
    if last_pulled_at is not None:
        rows = rows.filter(sync_version__gt=last_pulled_at)
    return list(rows.order_by("rejected_at", "id").values_list(*_REFUSED_COLUMNS))


def rejected_for_pull(
    *,
    patient_id: int,
    last_pulled_at: int | None,
    schema_version: int,
    refused: list[tuple] | None = None,
) -> tuple[dict[str, tuple[list[dict], list[str]]], list[dict]]:
    """What a pull adds for the records refused since ``last_pulled_at``: by table, the
    server's truth for each refused id (the live row of this patient in wire form, or the id
    as deleted when the server has none: another patient's id, a record never created), and
    the refusals themselves for the app (``rejected``). One query when nothing was refused
    (none when the caller passes the ``refused`` rows it read with ``rejected_pull_statement``),
    plus one per table with refusals. A first pull sends every live row anyway: it gets the
    open refusals and no extra rows."""
    if refused is None:
        refused = _refused_rows(patient_id=patient_id, last_pulled_at=last_pulled_at)
    rejected = [
        {
            "table": table_name,
            "id": record_id,
            "errors": errors,
            "rejected_at": int(rejected_at.timestamp() * 1000),
        }
        for table_name, record_id, errors, rejected_at in refused
    ]
    truth: dict[str, tuple[list[dict], list[str]]] = {}
    if last_pulled_at is None or not refused:
        return truth, rejected
    names = {t.name for t in tables_for(schema_version)}
    by_table: dict[str, set[str]] = {}
    for table_name, record_id, _, _ in refused:
        if table_name in names:
            by_table.setdefault(table_name, set()).add(record_id)
    for name, ids in by_table.items():
        table = SYNC_TABLES[name]
        columns = table.columns_for(schema_version)
        found = {
            values[0]: values
            for values in table.model._base_manager.filter(
                pk__in=ids, patient_id=patient_id, deleted_at__isnull=True
            ).values_list("id", *(c.db_name for c in columns))
        }
        live = [
            {
                "id": values[0],
                **{c.name: c.codec.to_wire(v) for c, v in zip(columns, values[1:], strict=True)},
            }
            for values in found.values()
        ]
        truth[name] = (live, sorted(ids - set(found)))
    return truth, rejected


def pull_add_rejected(
    body: dict,
    *,
    patient_id: int,
    last_pulled_at,
    schema_version,
    refused: list[tuple] | None = None,
) -> dict:
    """Adds to a pull's ``body`` the server's truth for refused ids and the ``rejected`` key
    (call inside the pull's transaction, after reading the rows; ``refused``: the rows of
    ``rejected_pull_statement`` when the caller read them with the pull's other statements)."""
    truth, rejected = rejected_for_pull(
        patient_id=patient_id,
        last_pulled_at=last_pulled_at,
        schema_version=schema_version,
        refused=refused,
    )
    for name, (live, gone) in truth.items():
        change = body["changes"][name]
        present = {r["id"] for r in change["updated"]}
        change["updated"] += [r for r in live if r["id"] not in present]
        known = set(change["deleted"])
        change["deleted"] += [i for i in gone if i not in known]
    body["rejected"] = rejected
    return body


def rejected_records_purge(*, now=None) -> int:
    """Deletes refused records older than ``SYNC_REJECTED_RETENTION_DAYS``. Returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SYNC_REJECTED_RETENTION_DAYS)
    deleted, _ = RejectedRecord.objects.filter(rejected_at__lt=cutoff).delete()
    return deleted
