from collections.abc import Mapping
from decimal import Decimal

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import empty
from rest_framework.utils import html

# What JSON type each kind of field takes, most specific first (the order of the isinstance
# checks): a field the OpenAPI schema calls an integer takes a JSON integer, a string field a
# JSON string, a boolean field true or false. DRF on its own coerces ("3" becomes 3, "true"
# becomes True, 3 becomes "3"); a client whose types are wrong should hear so, not have its
# value reinterpreted. Decimal fields, which the schema writes as strings of digits, take a
# string or a number. Dates and times are strings.
STRING, INTEGER, NUMBER, BOOLEAN, DECIMAL = "string", "integer", "number", "boolean", "decimal"
FIELD_TYPES = (
    (serializers.BooleanField, BOOLEAN),
    (serializers.IntegerField, INTEGER),
    (serializers.FloatField, NUMBER),
    (serializers.DecimalField, DECIMAL),
    (serializers.CharField, STRING),  # with RegexField, EmailField, URLField, SlugField...
    (serializers.DateTimeField, STRING),
    (serializers.DateField, STRING),
    (serializers.TimeField, STRING),
    (serializers.DurationField, STRING),
)
MESSAGES = {
    STRING: "Not a valid string.",
    INTEGER: "A valid integer is required.",
    NUMBER: "A valid number is required.",
    BOOLEAN: "Must be a valid boolean.",
    DECIMAL: "A valid number is required.",
}


def _json_type_ok(kind: str, value) -> bool:
    if isinstance(value, bool):
        return kind == BOOLEAN
    if kind == STRING:
        return isinstance(value, str)
    if kind == INTEGER:
        return isinstance(value, int)
    if kind == NUMBER:
        return isinstance(value, (int, float))
    if kind == DECIMAL:
        return isinstance(value, (str, int, float, Decimal))
    return False  # BOOLEAN, and value is not a bool


def _expected(field) -> str | None:
    if isinstance(field, serializers.MultipleChoiceField):
        return None  # takes a list; DRF checks its items against the choices
    if isinstance(field, serializers.ChoiceField):
        keys = list(field.choices)
        return STRING if keys and all(isinstance(key, str) for key in keys) else None
    for cls, kind in FIELD_TYPES:
        if isinstance(field, cls):
            return kind
    return None


def type_errors(field, value):
    """The error detail for ``value`` given to ``field`` when its JSON type is wrong, else None.

    Looks into the children of list and dict fields; nested serializers check their own fields
    (when they are strict serializers). ``None`` and missing values are left to the field
    (``allow_null``, ``required``).
    """
    if value is None or value is empty:
        return None
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        items = {i: type_errors(field.child, item) for i, item in enumerate(value)}
        return {i: detail for i, detail in items.items() if detail} or None
    if isinstance(field, serializers.DictField) and isinstance(value, dict):
        items = {key: type_errors(field.child, item) for key, item in value.items()}
        return {key: detail for key, detail in items.items() if detail} or None
    kind = _expected(field)
    if kind is None or _json_type_ok(kind, value):
        return None
    return [ErrorDetail(MESSAGES[kind], code="invalid")]


class StrictFieldsMixin:
    """Reject fields the serializer does not know, instead of silently dropping them.

    A misspelt or forbidden field (a patient sending ``surgeon``) is a clear 400, never a write
    that quietly ignored part of the request.
    """

    # (drf-spectacular shows the docstring above as the description of input serializers
    # without one of their own: it is part of the published schema.)
    # Values of the wrong JSON type (``"intensity": "3"``, a numeric device token) are refused
    # too, all of them in one answer with the field's other errors. Query parameters (a
    # ``QueryDict``, every value a string) are only checked for unknown names.

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field is not accepted here."] for name in unknown}
                )
        if not isinstance(data, Mapping) or html.is_html_input(data):
            return super().to_internal_value(data)
        wrong = {}
        for field in self._writable_fields:
            detail = type_errors(field, field.get_value(data))
            if detail:
                wrong[field.field_name] = detail
        try:
            values = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not wrong or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **wrong}) from None
        if wrong:
            raise serializers.ValidationError(wrong)
        return values


class StrictSerializer(StrictFieldsMixin, serializers.Serializer):
    pass
