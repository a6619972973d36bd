"""The API's JSON renderers, and its one time format on the wire.

Every time an answer carries is ISO 8601 in UTC with the offset written ``+00:00``
(``2026-05-01T06:30:00+00:00``, microseconds when there are any: ``datetime.isoformat()``),
docs/api.md. DRF's own ``iso-8601`` output and its JSON encoder write ``Z`` instead, so
``REST_FRAMEWORK["DATETIME_FORMAT"]`` is ``None`` (serializer fields hand the ``datetime``
on) and ``JSONRenderer`` (the default renderer) writes it in UTC. ``OrjsonRenderer``, the fast
path for large lists (see docs/benchmarks.md), gets rows straight from PostgreSQL, whose
times Django reads in UTC; orjson writes them the same way. ``tests/config/test_time_format.py``
holds every endpoint to it.

orjson writes ``date`` as ``YYYY-MM-DD`` and ``Decimal`` (through ``default``) as a string,
the same wire format as DRF's JSON renderer with ``COERCE_DECIMAL_TO_STRING``. Lazy
translation strings and other objects with a ``str`` form go through ``default`` too.
"""

from datetime import UTC, datetime
from decimal import Decimal

import orjson
from rest_framework import renderers
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder as DRFJSONEncoder


def wire_datetime(value: datetime) -> str:
    """The one form of a time on the wire: UTC, ``+00:00``."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime on the wire: {value!r}")
    return value.astimezone(UTC).isoformat()


class JSONEncoder(DRFJSONEncoder):
    def default(self, obj):
        if isinstance(obj, datetime):
            return wire_datetime(obj)
        return super().default(obj)


class JSONRenderer(renderers.JSONRenderer):
    encoder_class = JSONEncoder


def _default(value):
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
