import base64
import binascii
import json
from collections.abc import Callable
from datetime import date, datetime

from rest_framework import pagination, serializers
from rest_framework.exceptions import NotFound
from rest_framework.utils.urls import replace_query_param

from config.errors import Invalid

INVALID_CURSOR = "This cursor is not valid; start again without it."


def _invalid_cursor() -> Invalid:
    return Invalid(INVALID_CURSOR, code="invalid_cursor", attr="cursor")


class CursorPagination(pagination.CursorPagination):
    """Cursor pagination over a unique, immutable ordering.

    Rows inserted while a client pages are neither skipped nor repeated: the cursor encodes a
    position in ``(ordering, id)``, not an offset. Views set ``ordering`` to a tuple that ends in
    a unique column.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-created_at", "-id")

    def decode_cursor(self, request):
        """A damaged cursor is a 400 ``invalid_cursor`` as in every list (DRF says 404)."""
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise _invalid_cursor() from exc

    def get_paginated_response_schema(self, schema):
        page = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):  # DRF's examples are not URIs (a stray quote)
            page["properties"][link].pop("example", None)
            page["properties"][link]["description"] = f"The {link} page, or null."
        return page


class KeysetCursor:
    """An opaque cursor for keyset pagination over ``(sort value, id)``, newest first.

    The position of the last row served, not an offset: rows inserted or deleted while a client
    pages shift nothing, so no row is skipped or served twice. ``sort_type`` is ``date`` or
    ``datetime`` (how the sort value is written and read back).
    """

    def __init__(self, value, row_id: str):
        self.value = value
        self.row_id = row_id

    def encode(self) -> str:
        raw = json.dumps([self.value.isoformat(), self.row_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, sort_type: str) -> "KeysetCursor":
        try:
            padded = token + "=" * (-len(token) % 4)
            value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if not isinstance(value, str) or not isinstance(row_id, str) or len(row_id) > 36:
                raise ValueError(token)
            if sort_type == "date":
                parsed = date.fromisoformat(value)
            else:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError(token)
        except (ValueError, TypeError, UnicodeError, binascii.Error, json.JSONDecodeError) as exc:
            raise _invalid_cursor() from exc
        return cls(parsed, row_id)


def position_encode(values: list) -> str:
    """An opaque cursor holding a row's position in a list's ordering (JSON values)."""
    raw = json.dumps(values, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def position_decode(token: str, *, parse: Callable[[list], tuple]) -> tuple:
    """The position ``position_encode`` wrote; ``parse`` checks and converts its values
    (raising ``ValueError``/``TypeError``). A damaged cursor is a 400 ``invalid_cursor``."""
    try:
        padded = token + "=" * (-len(token) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if not isinstance(values, list):
            raise TypeError(token)
        return parse(values)
    except (ValueError, TypeError, UnicodeError, binascii.Error, json.JSONDecodeError) as exc:
        raise _invalid_cursor() from exc


class PageQuery(serializers.Serializer):
    """``cursor`` and ``page_size`` of a list (mixed into its strict query serializer)."""

    cursor = serializers.CharField(
        required=False, max_length=200, help_text="From the previous page's `next`."
    )
    page_size = serializers.IntegerField(
        min_value=1, max_value=500, required=False, help_text="Rows per page, default 50."
    )


def next_page_url(request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "cursor", cursor)


def page_serializer(
    output: type[serializers.Serializer], name: str
) -> type[serializers.Serializer]:
    """The page shape of every list: ``{"next": url | null, "results": [...]}``."""
    return type(
        f"{name}Page",
        (serializers.Serializer,),
        {
            "next": serializers.URLField(
                allow_null=True, help_text="The next page (null on the last one)."
            ),
            "results": output(many=True),
            "__doc__": f"One page of {name} rows.",
        },
    )
