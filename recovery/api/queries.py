"""The list query: the caller's scope (``records_for``) narrowed by the filters, one keyset page."""

from dataclasses import dataclass

from django.db.models import Q

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
    tuples = list(qs.order_by(f"-{sort}", "-id").values_list(*shape.values)[: page_size + 1])
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
