"""Long query strings under /api/ answer JSON in the one error shape.

Gunicorn refuses a request line over its ``limit_request_line`` with an HTML 400/414 page before
Django sees it (config/gunicorn.conf.py sets it to gunicorn's maximum); below that, a query string
over ``API_MAX_QUERY_STRING_BYTES`` is answered here with a JSON 414, before any view parses it.
"""

from django.conf import settings
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
