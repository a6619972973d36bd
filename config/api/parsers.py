"""The REST API's JSON parser: bounded in size and depth, strict about what JSON is.

DRF's own ``JSONParser`` hands the body to the ``json`` module, which recurses once per level of
nesting (``{"a":`` five thousand times was a ``RecursionError``, a 500), and reads the body
through ``request.body`` (a body over Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` was
``RequestDataTooBig``, another 500). This one reads at most ``API_MAX_BODY_BYTES`` (+1 to know
there was more) and answers a 413 beyond that, parses with orjson as the sync push does (no
recursion; lone surrogates, ``NaN`` and ``Infinity`` refused, none of which PostgreSQL could
store), and refuses bodies nested deeper than ``API_MAX_JSON_DEPTH`` with a 400. Every refusal
is a DRF ``ParseError`` or the domain's ``PayloadTooLarge``; both answer in the one error shape
(``config.api.errors``).
"""

import codecs

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from config.errors import PayloadTooLarge


def body_too_large():
    limit = settings.API_MAX_BODY_BYTES
    return PayloadTooLarge(
        f"A request body may be at most {limit} bytes.", extra={"max_bytes": limit}
    )


def json_depth(value) -> int:
    """How deep ``value`` nests (a scalar is 0, ``[]`` and ``{}`` are 1), without recursing."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


class BoundedJSONParser(BaseParser):
    """Not a subclass of DRF's ``JSONParser`` on purpose: DRF reads the body of those through
    ``request.body`` before they see it; this one gets the stream and reads it bounded."""

    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        if request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise body_too_large()
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise body_too_large()
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            if codecs.lookup(encoding).name != "utf-8":
                body = body.decode(encoding).encode("utf-8")
            data = orjson.loads(body)
        except (LookupError, UnicodeError) as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}.") from exc
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        max_depth = settings.API_MAX_JSON_DEPTH
        if json_depth(data) > max_depth:
            raise ParseError(f"JSON parse error - the body nests deeper than {max_depth} levels.")
        return data
