"""Request edges under /api/ that Django itself gets wrong, before any view runs.

``QueryStringLimitMiddleware``: long query strings answer JSON in the one error shape.
Gunicorn refuses a request line over its ``limit_request_line`` with an HTML 400/414 page before
Django sees it (config/gunicorn.conf.py sets it to gunicorn's maximum); below that, a query string
over ``API_MAX_QUERY_STRING_BYTES`` is answered here with a JSON 414, before any view parses it.

``ChunkedBodyMiddleware``: a body sent ``Transfer-Encoding: chunked`` has no ``Content-Length``
(the WSGI server decodes the chunks), and Django and DRF read such a request as *empty*: a
chunked pain log would be a 400 "field required" and a chunked sync push nothing at all. This
reads the decoded body from the server's stream, at most one byte past
``API_CHUNKED_BODY_MAX_BYTES`` (the largest body any endpoint takes), and hands it on as if it
had been sent with its length: every endpoint then applies its own limit to the declared length
(a 413 in the one error shape) and reads it as any other body. One reader, one set of limits.
"""

import io

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import JsonResponse

from .errors import error_body


class QueryStringLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/"):
            limit = settings.API_MAX_QUERY_STRING_BYTES
            if len(request.META.get("QUERY_STRING", "")) > limit:
                body = error_body(
                    type_="client_error",
                    code="uri_too_long",
                    detail=f"The query string may be at most {limit} bytes.",
                    attr=None,
                )
                body["max_bytes"] = limit
                return JsonResponse(body, status=414)
        return self.get_response(request)


def is_chunked_without_length(meta) -> bool:
    return not meta.get("CONTENT_LENGTH") and "chunked" in (
        meta.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


class ChunkedBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/") and is_chunked_without_length(request.META):
            body = read_at_most(request.META["wsgi.input"], settings.API_CHUNKED_BODY_MAX_BYTES + 1)
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))
        return self.get_response(request)


def read_at_most(stream, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``stream``, in pieces (a server's stream may return less than
    asked for before its end)."""
    parts, size = [], 0
    while size < limit:
        part = stream.read(min(64 * 1024, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)
