"""Input fields shared by the clinical-record serializers."""

from datetime import date, datetime

from django.utils import timezone
from rest_framework import serializers

from recovery.record.models import RECORD_ID_PATTERN

# Dates outside this window are typing errors, and far enough from the calendar's ends that
# date arithmetic in the services (reschedule keeps the duration) never overflows.
MIN_YEAR, MAX_YEAR = 1900, 2200
RANGE_MESSAGE = f"Give a date between {MIN_YEAR} and {MAX_YEAR}."


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset (``2026-05-01T08:30:00+02:00`` or ``...Z``); a time without
    one is ambiguous on a phone that travels, so it is refused rather than read as UTC."""

    default_error_messages = {
        "naive": "Give the time with its UTC offset, e.g. 2026-05-01T08:30:00+02:00.",
        "out_of_range": RANGE_MESSAGE,
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("naive")
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            self.fail("out_of_range")
        return super().enforce_timezone(value)


class BoundedDateField(serializers.DateField):
    default_error_messages = {"out_of_range": RANGE_MESSAGE}

    def to_internal_value(self, value) -> date:
        parsed = super().to_internal_value(value)
        if not MIN_YEAR <= parsed.year <= MAX_YEAR:
            self.fail("out_of_range")
        return parsed


class RecordIdField(serializers.RegexField):
    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "1-36 characters of letters, digits, '_' and '-'.")
        super().__init__(RECORD_ID_PATTERN, max_length=36, **kwargs)


class ChoiceListField(serializers.ListField):
    """A list of distinct choice values (``relief``, ``revision_reasons``)."""

    def __init__(self, choices, **kwargs):
        kwargs.setdefault("max_length", len(choices))
        super().__init__(child=serializers.ChoiceField(choices=choices), **kwargs)


def text(max_length: int, **kwargs) -> serializers.CharField:
    """Free text that may be empty (``notes``, ``facility``...)."""
    kwargs.setdefault("required", False)
    return serializers.CharField(
        max_length=max_length, allow_blank=True, trim_whitespace=False, **kwargs
    )


def score(**kwargs) -> serializers.IntegerField:
    """A 0-10 rating."""
    return serializers.IntegerField(min_value=0, max_value=10, **kwargs)


PK_MAX = 2**63 - 1


def staff_ref(**kwargs) -> serializers.IntegerField:
    """The id of a clinician of the patient's clinic."""
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_null", True)
    return serializers.IntegerField(min_value=1, max_value=PK_MAX, **kwargs)
