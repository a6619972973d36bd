"""An orjson renderer: the fast path for large lists (see docs/benchmarks.md).

orjson writes ``datetime`` as ISO 8601 with its offset, ``date`` as ``YYYY-MM-DD`` and
``Decimal`` (through ``default``) as a string, the same wire format as DRF's JSON renderer
with ``COERCE_DECIMAL_TO_STRING``. Lazy translation strings and other objects with a ``str``
form go through ``default`` too.
"""

from decimal import Decimal

import orjson
from rest_framework.renderers import BaseRenderer


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
