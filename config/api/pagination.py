from rest_framework import pagination


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
