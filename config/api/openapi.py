"""The OpenAPI schema's error answers, security and clean-up (the mobile team generates its
client from ``/api/schema/``, so the schema must say every status an operation can answer).

``AutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to every operation the errors
the API's own plumbing can answer, in the one error shape (``config.api.errors``):

| status | when the operation gets it |
|---|---|
| 400 | it takes a body or query parameters (malformed input; ``parse_error``) |
| 401 | it needs a token |
| 403 | a permission class beyond "signed in" (a role rule) |
| 404 | it has path parameters (no such row in the caller's scope) |
| 406 | always (an ``Accept`` header that excludes what the operation answers) |
| 413, 415 | it takes a body (over ``API_MAX_BODY_BYTES``; not ``application/json``) |
| 414 | always (a query string over ``API_MAX_QUERY_STRING_BYTES``, ``config.api.middleware``) |
| 429 | it is rate limited |

What only the view knows (a 403 a view raises for a role, a 409, a 400 of a body-less
action) the view declares with ``extend_schema(responses=...)`` (``errors(...)`` below);
what it declares wins. drf-standardized-errors' own generated error bodies list, per field,
the codes a serializer can raise; the services' ``full_clean()`` adds more (``in_future``,
``date_order``...), so this general shape is the honest one.

Operations that need no token get ``security: []`` (they are public, not undocumented).
``postprocess_schema`` fixes what OpenAPI 3.0 cannot say the way drf-spectacular writes it.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated


class ErrorItemSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable, machine-readable (`invalid_choice`).")
    detail = serializers.CharField(help_text="A sentence for the person using the app.")
    attr = serializers.CharField(
        allow_null=True,
        help_text="The field (dotted for nested ones), `non_field_errors`, or null.",
    )


class ErrorResponseSerializer(serializers.Serializer):
    """Every error has this shape; some add keys (``max_bytes``, ``conflicts``...)."""

    type = serializers.ChoiceField(choices=["validation_error", "client_error"])
    errors = ErrorItemSerializer(many=True)

    class Meta:
        ref_name = "ErrorResponse"


WHY = {
    400: "Bad input: `attr` names the field, parameter or `non_field_errors`.",
    401: "No token, or an expired or revoked one.",
    403: "Your role may not do this.",
    404: "No such record in your scope.",
    406: "The Accept header excludes the media type this operation answers.",
    409: "Conflicts with what is stored.",
    410: "It existed and has expired.",
    413: "The body is too large (`max_bytes`).",
    414: "The query string is too long (`max_bytes`).",
    415: "The body is not application/json.",
    429: "Too many requests; see Retry-After.",
}


def errors(*statuses: int, **why: str) -> dict:
    """``extend_schema(responses={200: Out, **errors(403, 409, s409="...")})``: error answers in
    the one shape, described by ``WHY`` or by ``s<status>=`` for this operation."""
    return {
        status: OpenApiResponse(
            ErrorResponseSerializer, description=why.get(f"s{status}", WHY[status])
        )
        for status in statuses
    }


class TimeOfDayExtension(OpenApiSerializerFieldExtension):
    """A ``TimeField`` is a wall-clock time in the patient's zone (``checkin_time``, quiet
    hours): ``19:00:00``, no offset. OpenAPI's ``format: time`` is RFC 3339's ``full-time``,
    which requires one, so validators refused every answer; say what the wire carries."""

    target_class = serializers.TimeField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "string",
            "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$",
            "example": "19:00:00",
            "description": "Local time of day, HH:MM[:SS], without an offset.",
        }


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is not None and "security" not in operation:
            operation["security"] = []  # public: explicitly no requirement
        return operation

    def _get_request_body(self, direction="request"):
        """drf-spectacular gives only POST, PUT and PATCH a body; a DELETE that declares one
        (``DELETE /devices/`` ``{"token"}``) takes it, so the schema says so."""
        if self.method == "DELETE" and self._declares_request():
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def _declares_request(self) -> bool:
        """Whether ``extend_schema(request=...)`` named a body: without one, the default would
        guess a serializer from the view, which these views do not have."""
        self._get_serializer = lambda: None  # the guess, for this question only
        try:
            return self.get_request_serializer() is not None
        finally:
            del self._get_serializer

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        if direction != "response":
            return responses
        for status in self._plumbing_errors():
            code = str(status)
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorResponseSerializer, description=WHY[status]), code
                )
        return dict(sorted(responses.items()))

    def _plumbing_errors(self) -> list[int]:
        has_body = self.method in ("PUT", "PATCH", "POST", "DELETE") and bool(
            self._get_request_body()
        )
        parameters = self._get_parameters()
        statuses = [406, 414]
        if has_body or any(p["in"] == "query" for p in parameters):
            statuses.append(400)
        if has_body:
            statuses += [413, 415]
        if any(requirement for requirement in self.get_auth()):
            statuses.append(401)
        if any(type(p) not in (AllowAny, IsAuthenticated) for p in self.view.get_permissions()):
            statuses.append(403)
        if any(p["in"] == "path" for p in parameters):
            statuses.append(404)
        if self.view.get_throttles():
            statuses.append(429)
        return statuses


def _nullable_refs_typed(node) -> None:
    """``nullable`` needs a ``type`` beside it in OpenAPI 3.0: drf-spectacular writes a nullable
    nested serializer as ``{allOf: [$ref], nullable: true}`` and a nullable choice as
    ``{oneOf: [$ref Enum, $ref NullEnum], nullable: true}``; give them the type of what they
    refer to, so generators and validators read ``null`` as allowed."""
    if isinstance(node, dict):
        if node.get("nullable") and "type" not in node:
            if "allOf" in node:
                node["type"] = "object"
            elif "oneOf" in node:
                # A nullable choice: TierEnum | NullEnum, both strings (NullEnum is [null]).
                node["type"] = "string"
        for value in node.values():
            _nullable_refs_typed(value)
    elif isinstance(node, list):
        for value in node:
            _nullable_refs_typed(value)


def _fhir_operation_paths(result) -> None:
    """FHIR operations are named ``$export``; drf-spectacular reads a route's ``$`` as a regex
    anchor and drops it (``/api/v1/fhir/export``): put it back."""
    paths = result.get("paths", {})
    for path in list(paths):
        if path.startswith("/api/v1/fhir/") and path.endswith("/export"):
            paths[path.removesuffix("export") + "$export"] = paths.pop(path)


def postprocess_schema(result, generator, request, public):
    """``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``, after the enum hook."""
    _nullable_refs_typed(result)
    _fhir_operation_paths(result)
    return result
