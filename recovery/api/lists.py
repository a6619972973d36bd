"""The list query: the caller's scope (``records_for``) narrowed by the filters, one keyset page.

A patient's page (the app's most frequent read) runs through ``compiled_sql.fetch_shape``: SQL
compiled once per shape (kind, which filters, page size). Everyone else's pages go through
``compiled_sql.fetch_tuples``. Both return exactly what ``list(queryset)`` would.
"""

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.selectors import own_patient_id
from config.api.pagination import KeysetCursor
from recovery.record.selectors import records_for

from .compiled_sql import fetch_shape, fetch_tuples
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
        after = Q(**{f"{sort}__lt": cursor.value}) | Q(
            **{sort: cursor.value, "id__lt": cursor.row_id}
        )
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
