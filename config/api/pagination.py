import base64
import binascii
import json
from datetime import date, datetime

from rest_framework import pagination

from config.errors import Invalid


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
            raise Invalid(
                "This cursor is not valid; start again without it.",
                code="invalid_cursor",
                attr="cursor",
            ) from exc
        return cls(parsed, row_id)
