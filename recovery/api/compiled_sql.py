"""SQL the ORM compiled once, run again with new values: the one place the API is clever for speed.

Why: on PostgreSQL, building and compiling a queryset for a patient's list page costs about as
much as everything else the view does together (docs/benchmarks.md, "pain-log list"), and that
page is the request the app makes most after sync. The SQL of a page depends only on its *shape*
(kind, which filters are present, page size), never on the values: the values are parameters.

How, and the rule that keeps it correct: ``fetch_shape(key, queryset, values)`` compiles
``queryset()`` the first time a shape is seen and keeps the SQL only if the compiled parameters
are exactly ``values``, in order; later calls with the same key run that SQL with their own
values, without building a queryset. A shape whose parameters do not map onto the values is run
and never kept. At most ``COMPILED_SHAPES_MAX`` shapes are kept per process. SQLite (and any other
database) always runs the queryset itself.

Rows are read with psycopg's C loaders (``_run``): the same values Django would give, faster.

It uses the ORM's internals (``query.get_compiler().as_sql()``, ``values_select``,
``annotation_select``): after a Django upgrade, the oracle test
(``tests/recovery/api/test_compiled_sql.py``) holds every kind, filter and cursor of a compiled
page to the plain ORM's rows, across patients. If it fails, this module is what to fix (or
delete: ``fetch_tuples(queryset())`` everywhere is correct, only slower).
"""

from dataclasses import dataclass

import orjson
import psycopg
from django.db import connections
from django.db.models import QuerySet
from psycopg.pq import Format
from psycopg.types.json import JsonbLoader, set_json_loads


@dataclass(frozen=True)
class Compiled:
    using: str  # the database alias
    sql: str
    order: list[int] | None  # where values_list() asks for another column order than the SQL's


COMPILED_SHAPES_MAX = 1000  # shapes differ in kind, filters and page size: a bounded number
_compiled: dict[tuple, Compiled] = {}


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
            "timestamptz",
            psycopg.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, Format.TEXT),
        )
        adapters.register_loader("jsonb", JsonbLoader)
        set_json_loads(orjson.loads, cursor.cursor)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if order is not None:
        rows = [tuple(row[i] for i in order) for row in rows]
    return rows
