"""The list query: the caller's scope (``records_for``) narrowed by the filters, one keyset page."""

from dataclasses import dataclass

from django.db import connections
from django.db.models import Q, QuerySet

from accounts.models import User
from config.api.pagination import KeysetCursor

from ..selectors import records_for
from .kinds import SORT, ApiKind, Wire


@dataclass
class Page:
    rows: list[dict]
    patient_ids: set[int]
    next_cursor: str | None


def record_page(
    *,
    user: User,
    kind: ApiKind,
    patient_id: int | None = None,
    since=None,
    until=None,
    updated_since=None,
    cursor: KeysetCursor | None = None,
    page_size: int = 50,
) -> Page:
    """One page of ``kind`` rows the user may see, newest first by the kind's time field."""
    qs = records_for(user, kind.record)
    if patient_id is not None:
        qs = qs.filter(patient_id=patient_id)
    sort = kind.sort_field()
    if sort == SORT:
        qs = qs.annotate(**{SORT: kind.sort})
    if since is not None:
        qs = qs.filter(**{f"{sort}__gte": since})
    if until is not None:
        qs = qs.filter(**{f"{sort}__lt": until})
    if updated_since is not None:
        qs = qs.filter(updated_at__gte=updated_since)
    if cursor is not None:
        qs = qs.filter(Q(**{f"{sort}__lt": cursor.value}) | Q(**{sort: cursor.value, "id__lt": cursor.row_id}))
    shape = Wire(kind, with_sort=True)
    tuples = fetch_tuples(qs.order_by(f"-{sort}", "-id").values_list(*shape.values)[: page_size + 1])
    next_cursor = None
    if len(tuples) > page_size:
        tuples = tuples[:page_size]
        last = tuples[-1]
        next_cursor = KeysetCursor(last[shape.sort_index], last[shape.values.index("id")]).encode()
    patient_index = shape.values.index("patient_id")
    return Page(
        rows=shape.rows(tuples),
        patient_ids={row[patient_index] for row in tuples},
        next_cursor=next_cursor,
    )


def fetch_tuples(qs: QuerySet) -> list[tuple]:
    """The rows of a ``values_list()`` queryset, the same as ``list(qs)``.

    On PostgreSQL the rows are read with psycopg's own (C) loaders: Django's psycopg 3 backend
    registers a pure-Python ``timestamptz`` loader on every connection (to apply its time zone),
    which costs more than the rest of a 500-row page together, and loads ``jsonb`` as text for
    ``JSONField.from_db_value`` to parse again with ``json``; here orjson parses it. The connection's time zone is UTC (``USE_TZ``),
    so the C loader's aware datetimes are the same values. ``test_fast_rows_equal_values_list``
    holds the two paths to the same result.
    """
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return list(qs)
    import orjson
    import psycopg
    from psycopg.pq import Format
    from psycopg.types.json import JsonbLoader, set_json_loads

    query = qs.query
    compiler = query.get_compiler(using=qs.db)
    sql, params = compiler.as_sql()
    # The SQL selects model columns before annotations; values_list() may ask for another order.
    selected = [*query.extra_select, *query.values_select, *query.annotation_select]
    wanted = list(qs._fields) if qs._fields else selected
    with connection.cursor() as cursor:
        adapters = cursor.cursor.adapters
        adapters.register_loader(
            "timestamptz", psycopg.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, Format.TEXT)
        )
        adapters.register_loader("jsonb", JsonbLoader)
        set_json_loads(orjson.loads, cursor.cursor)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if wanted != selected:
        index = [selected.index(name) for name in wanted]
        rows = [tuple(row[i] for i in index) for row in rows]
    return rows
