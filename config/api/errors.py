"""One error shape for the whole API (design.md section 4).

drf-standardized-errors renders every error as
``{"type": "validation_error" | "client_error" | "server_error", "errors": [{code, detail, attr}]}``.
Services raise the domain's refusals (``config.errors``: ``Invalid``, ``Forbidden``, ``NotFound``,
``Conflict``...) or Django's ``ValidationError``; this module alone maps them to HTTP, so neither
services nor views translate errors by hand.
"""

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings

from config.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
)

# The domain's refusals (``config.errors``) mapped to HTTP: the only place that does it.
DOMAIN_STATUS = {
    Invalid: status.HTTP_400_BAD_REQUEST,
    Unauthenticated: status.HTTP_401_UNAUTHORIZED,
    Forbidden: status.HTTP_403_FORBIDDEN,
    NotFound: status.HTTP_404_NOT_FOUND,
    Conflict: status.HTTP_409_CONFLICT,
    Gone: status.HTTP_410_GONE,
    PayloadTooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    UnsupportedMediaType: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    TooManyRequests: status.HTTP_429_TOO_MANY_REQUESTS,
}


def domain_status(exc: DomainError) -> int:
    for kind in type(exc).__mro__:
        if kind in DOMAIN_STATUS:
            return DOMAIN_STATUS[kind]
    return status.HTTP_400_BAD_REQUEST


class DomainErrorResponse(exceptions.APIException):
    """A domain refusal on its way out of the API, with the status of its kind."""

    def __init__(self, exc: DomainError):
        super().__init__(detail=exc.detail, code=exc.code)
        self.status_code = domain_status(exc)
        self.attr = exc.attr
        self.extra = exc.extra


class RealignExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc):
        if isinstance(exc, DomainError):
            return DomainErrorResponse(exc)
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(_non_field_errors_named(as_serializer_error(exc)))
        if isinstance(exc, RequestDataTooBig):  # whatever read ``request.body`` past Django's limit
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return DomainErrorResponse(
                PayloadTooLarge(
                    f"A request body may be at most {limit} bytes.", extra={"max_bytes": limit}
                )
            )
        return super().convert_known_exceptions(exc)

    def format_exception(self, exc):
        if isinstance(exc, DomainErrorResponse):
            data = {
                "type": "validation_error"
                if exc.status_code == status.HTTP_400_BAD_REQUEST
                else "client_error",
                "errors": [{"code": exc.detail.code, "detail": str(exc.detail), "attr": exc.attr}],
            }
            data.update(exc.extra)
            return data
        return super().format_exception(exc)


def _non_field_errors_named(detail):
    """A model's own rules (``full_clean()``: its constraints' ``violation_error_message``,
    ``clean()``) come under Django's ``__all__``; the API names them ``non_field_errors``
    (DRF's ``NON_FIELD_ERRORS_KEY``), as docs/api.md says."""
    if isinstance(detail, dict) and NON_FIELD_ERRORS in detail:
        detail = dict(detail)
        detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
    return detail


def exception_handler(exc, context):
    return RealignExceptionHandler(exc, context).run()


def error_body(*, type_, code, detail, attr=None):
    return {"type": type_, "errors": [{"code": code, "detail": detail, "attr": attr}]}


@csrf_exempt  # a 404 changes nothing; without this an unsafe method got CSRF's HTML 403
def api_not_found(request, *args, **kwargs):
    """Unknown URLs under /api/ answer JSON in the one error shape, not an HTML page."""
    return JsonResponse(
        error_body(type_="client_error", code="not_found", detail="No such endpoint."),
        status=404,
    )
