"""One error shape for the whole API (design.md section 4).

drf-standardized-errors renders every error as
``{"type": "validation_error" | "client_error" | "server_error", "errors": [{code, detail, attr}]}``.
Services raise ``ApplicationError`` (or Django's ``ValidationError``); both are mapped here so
views never translate errors by hand.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_standardized_errors.handler import ExceptionHandler
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error


class ApplicationError(exceptions.APIException):
    """A rule of the domain said no. Carries its own status, code and optional field."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, detail, *, code=None, status_code=None, attr=None, extra=None):
        super().__init__(detail=detail, code=code or self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.attr = attr
        self.extra = extra or {}


class Conflict(ApplicationError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class PayloadTooLarge(ApplicationError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"


class RealignExceptionHandler(ExceptionHandler):
    def convert_known_exceptions(self, exc):
        if isinstance(exc, DjangoValidationError):
            return exceptions.ValidationError(as_serializer_error(exc))
        if isinstance(exc, RequestDataTooBig):  # whatever read ``request.body`` past Django's limit
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return PayloadTooLarge(
                f"A request body may be at most {limit} bytes.", extra={"max_bytes": limit}
            )
        return super().convert_known_exceptions(exc)

    def format_exception(self, exc):
        if isinstance(exc, ApplicationError):
            data = {
                "type": "validation_error"
                if exc.status_code == status.HTTP_400_BAD_REQUEST
                else "client_error",
                "errors": [{"code": exc.detail.code, "detail": str(exc.detail), "attr": exc.attr}],
            }
            data.update(exc.extra)
            return data
        return super().format_exception(exc)


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
