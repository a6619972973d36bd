"""Pull: what changed for one patient since the device last pulled (design.md section 5).

Two ways to read the rows, with the same result:
- on PostgreSQL, one hand-built SELECT per table whose columns are already in wire form
  (epoch milliseconds, ``YYYY-MM-DD``, JSON text: see each codec's ``pg_sql``). A first pull
  is thousands of rows; converting them in the database and skipping the ORM per request keeps
  the endpoint close to the cost of fetching and serialising the rows at all
  (bench/sync_pull.py, docs/benchmarks.md);
- elsewhere (SQLite in development), ``values_list()`` and each codec's ``to_wire``.

Two shapes of pull:
- ``sync_pull``: everything since ``last_pulled_at`` in one answer (the incremental pull a phone
  makes most; on PostgreSQL one round trip for the clock and every table);
- ``sync_pull_page``: the same rows in pages of at most ``page_size`` records, for a first sync
  over a weak connection (docs/sync.md, "Paged pull"). The clock is read once, on the first
  page: the pages together send the patient's record as of that ``snapshot``; what changes
  meanwhile is stamped later and comes with the next pull from the last page's ``timestamp``.
"""

from __future__ import annotations

import hashlib
import weakref
from functools import cache, lru_cache

from django.db import DatabaseError, connection, transaction
from django.db.models import Q

from accounts.models import PatientClock, PatientProfile
from accounts.services import patient_clock_read
from config.errors import Invalid

from .protocol import Migration, PullPosition
from .rejections import pull_add_rejected, rejected_pull_rows, rejected_pull_statement
from .tables import SYNC_TABLES, Codec, SyncTable, tables_for

FIRST, SINCE, WHOLE = "first", "since", "whole"  # which rows of a table a pull wants


def _modes(schema_version: int, last_pulled_at: int | None, whole: frozenset[str]):
    return [
        (table, FIRST if last_pulled_at is None else WHOLE if table.name in whole else SINCE)
        for table in tables_for(schema_version)
    ]


def _refuse_future(last_pulled_at: int | None, timestamp: int) -> None:
    if last_pulled_at is not None and last_pulled_at > timestamp:
        raise Invalid(
            "last_pulled_at is later than any timestamp this server handed out.",
            code="in_future",
            attr="last_pulled_at",
        )


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

    The clock is read under its row lock before the rows, in the same transaction, so every
    write stamped up to ``timestamp`` has committed and is seen here, and every later write gets
    a larger stamp: nothing falls between two pulls however transactions interleave.
    ``last_pulled_at=None`` (first pull) sends all live rows and no tombstones; tables named by a
    ``migration`` are sent whole (live rows, plus tombstones since ``last_pulled_at``).
    One query per table, whatever the patient's history.
    """
    if connection.vendor == "postgresql":
        pull = PreparedPull(
            key=patient_id,
            last_pulled_at=last_pulled_at,
            schema_version=schema_version,
            migration=migration,
        )
        pull.run()
        return pull.body(patient_id=patient_id)
    whole = migration.tables if (migration and last_pulled_at is not None) else frozenset()
    wanted = _modes(schema_version, last_pulled_at, whole)
    with transaction.atomic():
        timestamp = patient_clock_read(patient_id=patient_id)
        results = list(_read_orm(wanted, schema_version, patient_id, last_pulled_at))
    _refuse_future(last_pulled_at, timestamp)
    changes = {
        table.name: {"created": [], "updated": updated, "deleted": deleted}
        for (table, _), (updated, deleted) in zip(wanted, results, strict=True)
    }
    body = {"changes": changes, "timestamp": timestamp}
    # Refused records (docs/sync.md, "Refused records"): the server's truth and the refusals.
    return pull_add_rejected(
        body, patient_id=patient_id, last_pulled_at=last_pulled_at, schema_version=schema_version
    )


def sync_pull_page(*, patient_id: int, position: PullPosition) -> tuple[dict, PullPosition | None]:
    """One page of a paged pull: at most ``position.page_size`` records, and where the next page
    starts (``None`` after the last one).

    The pages send, in the order of ``(sync_version, table, id)``, the rows a one-shot pull at
    the ``snapshot`` (the clock, read once on the first page) would send. Rows stamped after the
    snapshot are left to the next pull, which starts from the last page's ``timestamp`` (the
    snapshot); a row that changes while the pages are read leaves them (its stamp is now later)
    and comes with that pull instead, in its new state.

    Every page's ``timestamp`` is also safe to pull from on its own: a page before the last
    answers one less than the stamp of the first row it did not send, so a device that loses the
    cursor and pulls from there misses nothing. Memory is bounded by the page size: at most
    ``page_size + 1`` keys per table, then the page's rows by id.
    """
    since, snapshot = position.since, position.snapshot
    if snapshot is None:
        snapshot = _read_snapshot(patient_id)
        _refuse_future(since, snapshot)
    wanted = _modes(position.schema_version, since, position.whole)
    names = sorted(table.name for table, _ in wanted)
    if position.after is not None and position.after[1] not in names:
        raise Invalid("The cursor names an unknown table.", code="invalid_cursor", attr="cursor")
    postgresql = connection.vendor == "postgresql"
    query = _PageQuery(
        wanted=wanted,
        rank={name: index for index, name in enumerate(names)},
        patient_id=patient_id,
        since=since,
        snapshot=snapshot,
        position=position,
    )
    keys = query.keys_postgresql() if postgresql else query.keys_orm()
    page, rest = keys[: position.page_size], keys[position.page_size :]
    ids: dict[str, list[str]] = {}
    for _, table_rank, record_id in page:
        ids.setdefault(names[table_rank], []).append(record_id)
    rows = query.rows_postgresql(ids) if postgresql else query.rows_orm(ids)
    changes = {
        table.name: {"created": [], "updated": updated, "deleted": deleted}
        for (table, _), (updated, deleted) in zip(wanted, rows, strict=True)
    }
    if not rest:
        body = {"changes": changes, "timestamp": snapshot}
        pull_add_rejected(
            body,
            patient_id=patient_id,
            last_pulled_at=since,
            schema_version=position.schema_version,
        )
        return body, None
    last_version, last_rank, last_id = page[-1]
    following = position.following(
        snapshot=snapshot, after=(last_version, names[last_rank], last_id)
    )
    # WatermelonDB needs a timestamp > 0; stamps from the clock are epoch milliseconds, so only
    # rows never stamped (bulk-loaded, sync_version 0) could sort below 2.
    return {"changes": changes, "timestamp": max(rest[0][0] - 1, 1)}, following


def _read_snapshot(patient_id: int) -> int:
    """The clock under its lock, in a transaction of its own. That transaction writes nothing
    but the row lock, so on PostgreSQL it commits without waiting for a WAL flush (unless a
    caller's transaction surrounds it, which may write)."""
    outer = connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        return patient_clock_read(patient_id=patient_id)


class _PageQuery:
    """The two reads of a page: the keys ``(sync_version, table rank, id)`` of the next
    ``page_size + 1`` rows after the cursor, then the rows of the first ``page_size`` by id.
    Tables are ranked by name, so a cursor means the same whatever order the registry has."""

    def __init__(self, *, wanted, rank, patient_id, since, snapshot, position):
        self.wanted, self.rank = wanted, rank
        self.patient_id, self.since, self.snapshot = patient_id, since, snapshot
        self.position = position
        self.limit = position.page_size + 1

    def _after(self, table_name: str):
        """How this table's rows compare with the cursor's key: None (no cursor), or
        ("gt" | "ge" | "key", version, id)."""
        after = self.position.after
        if after is None:
            return None
        version, name, record_id = after
        mine, theirs = self.rank[table_name], self.rank[name]
        return ("gt" if mine < theirs else "ge" if mine > theirs else "key", version, record_id)

    # PostgreSQL: one statement for the keys (one branch per table), one round trip for the rows.

    def keys_postgresql(self) -> list[tuple[int, int, str]]:
        quote = connection.ops.quote_name
        branches, params = [], []
        for table, mode in self.wanted:
            where = ["t.patient_id = %s", "t.sync_version <= %s", _MODE_SQL[mode]]
            params.extend((self.patient_id, self.snapshot))
            if mode != FIRST:
                params.append(self.since)
            after = self._after(table.name)
            if after is not None:
                how, version, record_id = after
                if how == "key":
                    where.append('(t.sync_version, t.id COLLATE "C") > (%s, %s)')
                    params.extend((version, record_id))
                else:
                    where.append("t.sync_version > %s" if how == "gt" else "t.sync_version >= %s")
                    params.append(version)
            params.append(self.limit)
            # Identifiers come from the registry and are quoted; values are parameters.
            branches.append(
                f'(SELECT t.sync_version AS sv, {self.rank[table.name]} AS r, t.id COLLATE "C" AS id '  # noqa: S608
                f"FROM {quote(table.model._meta.db_table)} t WHERE {' AND '.join(where)} "
                'ORDER BY t.sync_version, t.id COLLATE "C" LIMIT %s)'
            )
        sql = (
            f"SELECT sv, r, id FROM ({' UNION ALL '.join(branches)}) k ORDER BY sv, r, id LIMIT %s"  # noqa: S608
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, self.limit])
            return [tuple(row) for row in cursor.fetchall()]

    def rows_postgresql(self, ids: dict[str, list[str]]):
        statements, params, names, present = [], [], [], []
        version = self.position.schema_version
        for table, mode in self.wanted:
            if table.name not in ids:
                continue
            sql, table_names = _postgresql_select(table.name, version, mode)
            statements.append(f"{sql} AND t.sync_version <= %s AND t.id = ANY(%s)")
            params.extend((self.patient_id,) if mode == FIRST else (self.patient_id, self.since))
            params.extend((self.snapshot, ids[table.name]))
            names.append((table_names, _python_wire(table.name, version)))
            present.append(table.name)
        found = {}
        if statements:
            with connection.cursor() as cursor:
                cursor.execute(";\n".join(statements), params)
                found = dict(zip(present, _results(cursor, names, first=True), strict=True))
        return [found.get(table.name, ([], [])) for table, _ in self.wanted]

    # Any database: the ORM, one query per table for the keys and one per table for the rows.

    def keys_orm(self) -> list[tuple[int, int, str]]:
        keys = []
        for table, mode in self.wanted:
            rows = _orm_rows(table, mode, self.patient_id, self.since).filter(
                sync_version__lte=self.snapshot
            )
            after = self._after(table.name)
            if after is not None:
                how, version, record_id = after
                rows = rows.filter(
                    Q(sync_version__gt=version)
                    if how == "gt"
                    else Q(sync_version__gte=version)
                    if how == "ge"
                    else Q(sync_version__gt=version) | Q(sync_version=version, id__gt=record_id)
                )
            rank = self.rank[table.name]
            keys.extend(
                (v, rank, i)
                for v, i in rows.order_by("sync_version", "id").values_list("sync_version", "id")[
                    : self.limit
                ]
            )
        return sorted(keys)[: self.limit]

    def rows_orm(self, ids: dict[str, list[str]]):
        version = self.position.schema_version
        return [
            _encode_orm(
                table,
                version,
                _orm_rows(table, mode, self.patient_id, self.since).filter(
                    sync_version__lte=self.snapshot, id__in=ids[table.name]
                ),
            )
            if table.name in ids
            else ([], [])
            for table, mode in self.wanted
        ]


# --- PostgreSQL: columns converted in SQL -------------------------------------------------------

_MODE_SQL = {
    FIRST: "t.deleted_at IS NULL",
    SINCE: "t.sync_version > %s",
    WHOLE: "(t.deleted_at IS NULL OR t.sync_version > %s)",
}


@cache
def _postgresql_select(
    table_name: str, schema_version: int, mode: str, patient: str = "%s"
) -> tuple[str, tuple[str, ...]]:
    table = SYNC_TABLES[table_name]
    quote = connection.ops.quote_name
    columns = table.columns_for(schema_version)
    select = ", ".join(
        ["t.id", *(c.codec.pg_sql.format(c=f"t.{quote(c.db_name)}") for c in columns)]
    )
    where = _MODE_SQL[mode]
    # The tombstone flag comes last: zip() with the names stops before it, no slicing per row.
    # Identifiers come from the registry and are quoted; values are parameters.
    sql = (
        f"SELECT {select}, t.deleted_at IS NOT NULL FROM {quote(table.model._meta.db_table)} t "  # noqa: S608
        f"WHERE t.patient_id = {patient} AND {where}"
    )
    return sql, ("id", *(c.name for c in columns))


@cache
def _python_wire(table_name: str, schema_version: int) -> tuple:
    """The columns whose wire form is made in Python on the fast path too (signed URLs)."""
    columns = SYNC_TABLES[table_name].columns_for(schema_version)
    return tuple((c.name, c.codec.to_wire) for c in columns if c.codec.python_wire)


def _table_statements(wanted, schema_version: int, patient_id: int, since, patient: str = "%s"):
    """One SELECT per table; ``patient`` is the SQL for the patient's id (one parameter, the
    ``patient_id`` given: the id itself, or ``_BY_USER``'s subquery and a user id)."""
    statements, params, names = [], [], []
    for table, mode in wanted:
        sql, table_names = _postgresql_select(table.name, schema_version, mode, patient)
        statements.append(sql)
        params.extend((patient_id,) if mode == FIRST else (patient_id, since))
        names.append((table_names, _python_wire(table.name, schema_version)))
    return statements, params, names


def _results(cursor, names, *, first: bool):
    """One (updated, deleted) per result set, from the current one on (``first``) or the next."""
    for index, (table_names, converted) in enumerate(names):
        if index or not first:
            cursor.nextset()
        updated, deleted = [], []
        for row in cursor.fetchall():
            if row[-1]:
                deleted.append(row[0])
            else:
                record = dict(zip(table_names, row, strict=False))
                for name, to_wire in converted:
                    record[name] = to_wire(record[name])
                updated.append(record)
        yield updated, deleted


def _read_postgresql(wanted, schema_version: int, patient_id: int, since):
    """All tables in one round trip: one SELECT per table, sent together (psycopg's client-side
    binding cursor, which Django uses, runs them in order and returns one result set each)."""
    statements, params, names = _table_statements(wanted, schema_version, patient_id, since)
    with connection.cursor() as cursor:
        cursor.execute(";\n".join(statements), params)
        yield from _results(cursor, names, first=True)


@cache
def _clock_sql(patient: str = "%s") -> str:
    """``patient_clock_read``'s query (the clock row ``FOR UPDATE``) and the row's patient id;
    ``patient`` is the SQL for the patient's id (one parameter)."""
    quote = connection.ops.quote_name
    # Identifiers come from the models and are quoted; values are parameters.
    return (
        f"SELECT c.{quote('value')}, c.{quote('patient_id')} "  # noqa: S608
        f"FROM {quote(PatientClock._meta.db_table)} c WHERE c.{quote('patient_id')} = {patient} "
        "FOR UPDATE"
    )


@cache
def _by_user() -> str:
    """The SQL for a patient's id from their user's id (one parameter): the pull sent with the
    authentication's user lookup (``PreparedPull``) knows only the token's user id."""
    quote = connection.ops.quote_name
    profile = PatientProfile._meta
    return (
        f"(SELECT p.{quote(profile.pk.column)} FROM {quote(profile.db_table)} p "  # noqa: S608
        f"WHERE p.{quote(profile.get_field('user').column)} = %s)"
    )


def _split_params(wanted, params: list) -> list[list]:
    """``_table_statements``' flat parameters, per statement (one or two each, by mode)."""
    out, at = [], 0
    for _, mode in wanted:
        count = 1 if mode == FIRST else 2
        out.append(list(params[at : at + count]))
        at += count
    return out


# The pull's statements are prepared on each connection (``PREPARE``, once) and then run by name
# (``EXECUTE``): parsing and planning its nine statements on every pull cost PostgreSQL more
# than running them (docs/benchmarks.md, "Sync"). What a connection has prepared is kept here,
# per psycopg connection, only once a batch that prepared them has come back without an error.
# A batch sent and never confirmed (an error anywhere in it: PREPARE is not transactional, so
# which of its statements exist is then unknown) turns preparing off for that connection: its
# pulls send the plain statements from then on, as before.
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
PREPARED_MAX = 200  # per connection: shapes differ in schema version and modes, a bounded number


class _Prepared:
    def __init__(self):
        self.names: set[str] = set()
        self.pending: list[str] | None = None  # sent, not yet confirmed
        self.off = False


def _prepared_batch(statements: list[tuple[str, list]]) -> tuple[str, list, list[str], object]:
    """``statements`` as one batch for the connection open now: each as ``EXECUTE name(...)``
    of a statement this connection has prepared, preceded by the ``PREPARE``s it still needs (they
    answer no rows; the caller skips their results). Returns the statements' SQL, their
    parameters, the ``PREPARE``s, and what ``_prepared_confirm`` records once the batch succeeded."""
    raw = connection.connection
    state = None if raw is None else _PREPARED.get(raw)
    if raw is not None and state is None:
        state = _PREPARED[raw] = _Prepared()
    if state is not None and state.pending is not None:
        state.off = True  # the last batch never came back clean: what exists is unknown
    if state is None or state.off or connection.vendor != "postgresql":
        return (
            ";\n".join(sql for sql, _ in statements),
            [p for _, params in statements for p in params],
            [],
            None,
        )
    parts, params, prepares, new = [], [], [], []
    for sql, args in statements:
        named = _statement_name(sql, len(args))
        if named is None:
            parts.append(sql)  # not a plain placeholder per parameter: sent as it is
            params.extend(args)
            continue
        name, prepare = named
        if name not in state.names and name not in new:
            if len(state.names) + len(new) >= PREPARED_MAX:
                parts.append(sql)
                params.extend(args)
                continue
            prepares.append(prepare)
            new.append(name)
        parts.append(
            f"EXECUTE {name}({', '.join(['%s'] * len(args))})" if args else f"EXECUTE {name}"
        )
        params.extend(args)
    state.pending = new
    return ";\n".join(parts), params, prepares, (state, new)


@lru_cache(maxsize=PREPARED_MAX)
def _statement_name(sql: str, arg_count: int) -> tuple[str, str] | None:
    """A statement's prepared name and its ``PREPARE`` (placeholders numbered), worked out once
    per statement text; None when its placeholders are not one plain ``%s`` per parameter."""
    if sql.count("%") != sql.count("%s") or sql.count("%s") != arg_count:
        return None
    name = "realign_pull_" + hashlib.sha256(sql.encode()).hexdigest()[:24]
    numbered = sql
    for n in range(1, arg_count + 1):
        numbered = numbered.replace("%s", f"${n}", 1)
    return name, f"PREPARE {name} AS {numbered}"


def _prepared_confirm(sent) -> None:
    """The batch ``_prepared_batch`` built came back without an error: its ``PREPARE``s exist."""
    if sent is not None:
        state, new = sent
        state.names.update(new)
        state.pending = None


def _lock_only_transaction() -> list[str]:
    """Statements that open a pull's own transaction, when it has one.

    Outside any ``atomic()`` block the statements of one ``execute`` run as one implicit
    transaction. Its only write is the clock's row lock; committing that durably would wait for
    a WAL flush (milliseconds on a busy disk) and protect nothing, so the pull commits
    asynchronously. Inside a caller's transaction (which may write) nothing is changed."""
    if connection.in_atomic_block or not connection.get_autocommit():
        return []
    return ["SET LOCAL synchronous_commit = off"]


class PreparedPull:
    """A one-shot pull on PostgreSQL as one statement batch: the clock under its lock, then
    every table, then the open refusals (``rejections.rejected_pull_statement``); one round trip,
    one transaction. ``sql``/``params`` may be sent after other statements (the authentication's
    user lookup, ``recovery.sync.views.SyncPullView.batch_for_user``): ``read(cursor)`` takes the
    results from the cursor's current result set on, ``body()`` answers from them.

    ``by_user``: the batch names the patient by their user's id (a subquery), for a pull sent
    before the user is known; ``body(patient_id=...)`` then checks that the clock it locked
    is that patient's, and answers ``None`` when it is not (no patient, another patient)."""

    def __init__(
        self,
        *,
        key: int,
        last_pulled_at,
        schema_version: int,
        migration=None,
        by_user: bool = False,
    ):
        self.last_pulled_at, self.schema_version = last_pulled_at, schema_version
        self.migration = migration
        whole = migration.tables if (migration and last_pulled_at is not None) else frozenset()
        self.wanted = _modes(schema_version, last_pulled_at, whole)
        patient = _by_user() if by_user else "%s"
        self.prefix = _lock_only_transaction()
        statements, params, self.names = _table_statements(
            self.wanted, schema_version, key, last_pulled_at, patient
        )
        refused_sql, refused_params = rejected_pull_statement(
            patient=patient, key=key, last_pulled_at=last_pulled_at
        )
        # (sql, its parameters) per statement, in the order their results are read.
        self.statements = [(_clock_sql(patient), [key])]
        for sql, table_params in zip(statements, _split_params(self.wanted, params), strict=True):
            self.statements.append((sql, table_params))
        self.statements.append((refused_sql, refused_params))
        self.read_results = None
        self._built = None

    def _build(self) -> tuple[str, list, int, object]:
        """The batch as sent on the connection open now (``_prepared_batch``): built when it is
        sent, since which statements that connection has prepared decides its text."""
        if self._built is None:
            sql, params, prepares, sent = _prepared_batch(self.statements)
            self._built = (
                ";\n".join([*self.prefix, *prepares, sql]),
                params,
                len(self.prefix) + len(prepares),
                sent,
            )
        return self._built

    @property
    def sql(self) -> str:
        return self._build()[0]

    @property
    def params(self) -> list:
        return self._build()[1]

    def read(self, cursor) -> None:
        _, _, skip, sent = self._build()
        # The results are all in (psycopg has received every result set by the time ``execute``
        # returns): they are read from psycopg's own cursor, without Django's per-call wrapper.
        cursor = getattr(cursor, "cursor", cursor)
        for _ in range(skip):
            cursor.nextset()
        clock = cursor.fetchone()
        if clock is None:  # no such patient: nothing else is read
            self.read_results = (None, None, [], [])
        else:
            results = list(_results(cursor, self.names, first=False))
            cursor.nextset()
            self.read_results = (clock[0], clock[1], results, rejected_pull_rows(cursor.fetchall()))
        _prepared_confirm(sent)

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute(self.sql, self.params)
                self.read(cursor)
        except DatabaseError:
            if connection.in_atomic_block:
                raise
            self.failed()  # sent once more, as the connection's first pull
            with connection.cursor() as cursor:
                cursor.execute(self.sql, self.params)
                self.read(cursor)

    def failed(self) -> None:
        """The batch came back with an error, outside any transaction of the caller's. What
        this connection prepared is dropped (``DEALLOCATE ALL``) and the batch is built anew:
        its next sending prepares the statements again. A migration that changed a column a
        prepared statement returns makes PostgreSQL refuse to run it ("cached plan must not
        change result type") on every connection opened before; this is how a pull on such a
        connection still answers (docs/sync.md, "How the incremental pull stays cheap")."""
        raw = connection.connection
        if raw is not None and raw in _PREPARED:
            with connection.cursor() as cursor:
                cursor.execute("DEALLOCATE ALL")
            _PREPARED[raw] = _Prepared()
        self._built = None
        self.read_results = None

    def body(self, *, patient_id: int) -> dict | None:
        timestamp, clock_patient, results, refused = self.read_results
        if clock_patient is None or clock_patient != patient_id:
            return None
        _refuse_future(self.last_pulled_at, timestamp)
        changes = {
            table.name: {"created": [], "updated": updated, "deleted": deleted}
            for (table, _), (updated, deleted) in zip(self.wanted, results, strict=True)
        }
        # Refused records (docs/sync.md, "Refused records"): the server's truth and the refusals.
        return pull_add_rejected(
            {"changes": changes, "timestamp": timestamp},
            patient_id=patient_id,
            last_pulled_at=self.last_pulled_at,
            schema_version=self.schema_version,
            refused=refused,
        )


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


def _orm_rows(table: SyncTable, mode: str, patient_id: int, since):
    rows = table.model._base_manager.filter(patient_id=patient_id)
    if mode == FIRST:
        return rows.filter(deleted_at__isnull=True)
    if mode == WHOLE:
        return rows.filter(Q(deleted_at__isnull=True) | Q(sync_version__gt=since))
    return rows.filter(sync_version__gt=since)


def _encode_orm(table: SyncTable, schema_version: int, rows):
    db_names, encode = _encoder(table, schema_version)
    updated, deleted = [], []
    for row in rows.values_list("deleted_at", *db_names):
        if row[0] is not None:
            deleted.append(row[1])
        else:
            updated.append(encode(row[1:]))
    return updated, deleted


def _read_orm_table(table: SyncTable, schema_version: int, mode: str, patient_id: int, since):
    return _encode_orm(table, schema_version, _orm_rows(table, mode, patient_id, since))
