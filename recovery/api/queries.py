"""The list query: the caller's scope (``records_for``) narrowed by the filters, one keyset page.

On PostgreSQL a patient's page (the app's most frequent read) runs SQL the ORM compiled once per
*shape* (kind, which filters, page size): building and compiling the queryset costs about as
much as everything else the view does. The SQL of a shape does not depend on the values, only
the parameters do; a compiled query is kept only if its parameters are exactly the values given,
in order, so the same SQL runs later with new values. Everyone else's pages (and every page on
SQLite) are built and compiled each time. ``tests/recovery/api/test_list_query.py`` holds the
two paths to the same rows.
"""

from dataclasses import dataclass

import orjson
import psycopg
from django.db import connections
from django.db.models import Q, QuerySet
from psycopg.pq import Format
from psycopg.types.json import JsonbLoader, set_json_loads

from accounts.models import User
from accounts.selectors import own_patient_id
from config.api.pagination import KeysetCursor

from ..selectors import records_for
from .kinds import SORT, ApiKind, Wire


@dataclass
class Page:
    rows: list[dict]
    patient_ids: set[int]
    next_cursor: str | None


@dataclass(frozen=True)
class Compiled:
    using: str  # the database alias
    sql: str
    order: list[int] | None  # where values_list() asks for another column order than the SQL's


COMPILED_SHAPES_MAX = 1000  # shapes differ in kind, filters and page size: a bounded number
_compiled: dict[tuple, Compiled] = {}


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
    sort = kind.sort_field()
    conditions = []  # (name, condition, its parameter values in SQL order)
    if patient_id is not None:
        conditions.append(("patient", Q(patient_id=patient_id), [patient_id]))
    if since is not None:
        conditions.append(("since", Q(**{f"{sort}__gte": since}), [since]))
    if until is not None:
        conditions.append(("until", Q(**{f"{sort}__lt": until}), [until]))
    if updated_since is not None:
        conditions.append(("updated_since", Q(updated_at__gte=updated_since), [updated_since]))
    if cursor is not None:
        after = Q(**{f"{sort}__lt": cursor.value}) | Q(**{sort: cursor.value, "id__lt": cursor.row_id})
        conditions.append(("cursor", after, [cursor.value, cursor.value, cursor.row_id]))
    shape = Wire(kind, with_sort=True)

    def queryset() -> QuerySet:
        qs = records_for(user, kind.record)
        if sort == SORT:
            qs = qs.annotate(**{SORT: kind.sort})
        qs = qs.filter(*(condition for _, condition, _ in conditions))
        return qs.order_by(f"-{sort}", "-id").values_list(*shape.values)[: page_size + 1]

    own = own_patient_id(user)
    if own is None:
        tuples = fetch_tuples(queryset())
    else:
        key = (kind.prefix, tuple(name for name, _, _ in conditions), page_size)
        values = [own, *(value for _, _, values in conditions for value in values)]
        tuples = fetch_shape(key, queryset, values)

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


def fetch_shape(key: tuple, queryset, values: list) -> list[tuple]:
    """The rows of ``queryset()``, whose compiled parameters are ``values``: on PostgreSQL with
    the SQL compiled for ``key`` before, if any; else compiled now (and kept if it qualifies)."""
    compiled = _compiled.get(key)
    if compiled is None:
        qs = queryset()
        connection = connections[qs.db]
        if connection.vendor != "postgresql":
            return list(qs)
        sql, params, order = _compile(qs)
        if list(params) != values:  # the values do not map onto the parameters: run, never keep
            return _run(connection, sql, params, order)
        compiled = Compiled(qs.db, sql, order)
        if len(_compiled) < COMPILED_SHAPES_MAX:
            _compiled[key] = compiled
    return _run(connections[compiled.using], compiled.sql, values, compiled.order)


def fetch_tuples(qs: QuerySet) -> list[tuple]:
    """The rows of a ``values_list()`` queryset, the same as ``list(qs)``."""
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return list(qs)
    return _run(connection, *_compile(qs))


def _compile(qs: QuerySet) -> tuple[str, tuple, list[int] | None]:
    query = qs.query
    sql, params = query.get_compiler(using=qs.db).as_sql()
    # The SQL selects model columns before annotations; values_list() may ask for another order.
    selected = [*query.extra_select, *query.values_select, *query.annotation_select]
    wanted = list(qs._fields) if qs._fields else selected
    order = None if wanted == selected else [selected.index(name) for name in wanted]
    return sql, params, order


def _run(connection, sql: str, params, order: list[int] | None) -> list[tuple]:
    """Run compiled SQL, reading rows with psycopg's own (C) loaders.

    Django's psycopg 3 backend registers a pure-Python ``timestamptz`` loader on every connection
    (to apply its time zone), which costs more than the rest of a 500-row page together, and
    loads ``jsonb`` as text for ``JSONField.from_db_value`` to parse again with ``json``; here
    orjson parses it. The connection's time zone is UTC (``USE_TZ``), so the C loader's aware
    datetimes are the same values.
    """
    with connection.cursor() as cursor:
        adapters = cursor.cursor.adapters
        adapters.register_loader(
            "timestamptz", psycopg.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, Format.TEXT)
        )
        adapters.register_loader("jsonb", JsonbLoader)
        set_json_loads(orjson.loads, cursor.cursor)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if order is not None:
        rows = [tuple(row[i] for i in order) for row in rows]
    return rows
