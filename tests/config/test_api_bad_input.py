"""Every operation of the OpenAPI schema that takes a body answers bad bodies with a JSON 4xx in
the one error shape, never a 500 or an HTML page: a body nested 5000 deep (the json module
recursed: RecursionError), one of 3 MB (Django's RequestDataTooBig), and one that is not JSON.
Every GET operation answers a too-long query string with a JSON 414. The operations come from
drf-spectacular's own generator, so a new endpoint is walked without anyone adding it here.
"""

import io
import json
import re

import pytest
from django.conf import settings
from django.test import override_settings
from drf_spectacular.generators import SchemaGenerator

from recovery.api.views import API_KINDS
from tests.conftest import client_for
from tests.factories import make_record

pytestmark = pytest.mark.django_db

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)


def query_names(op) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The operation's query parameters, and those of them it requires."""
    params = [p for p in op.get("parameters", []) if p["in"] == "query"]
    return tuple(p["name"] for p in params), tuple(p["name"] for p in params if p.get("required"))


OPERATIONS = sorted(
    (method.upper(), path, op.get("security") is None, *query_names(op))
    for path, ops in SCHEMA["paths"].items()
    for method, op in ops.items()
    if method in ("post", "put", "patch", "delete") and "requestBody" in op
)
# Values for query parameters, so that an operation goes on to read its body (a sync push
# checks last_pulled_at first).
QUERY = {"last_pulled_at": "1", "schema_version": str(settings.SYNC_SCHEMA_VERSION_MAX)}
GETS = sorted(
    path for path, ops in SCHEMA["paths"].items() if "get" in ops and path.startswith("/api/v1/")
)

DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000
DEEP_LIST = b"[" * 5000 + b"]" * 5000
HUGE = b'{"notes": "' + b"x" * 3_000_000 + b'"}'
NOT_JSON = b'{"notes": "unterminated'
SYNC_PUSH = "/api/v1/sync/push/"
# Take multipart/form-data only (a file upload): a JSON body, bad or not, is a 415 unread.
MULTIPART_ONLY = {"/api/v1/wound-photos/"}  # its bad bodies: tests/recovery/photos/test_upload.py
BAD_BODIES = {
    "deep": (DEEP, 400, "parse_error"),
    "deep_list": (DEEP_LIST, 400, "parse_error"),
    "huge": (HUGE, 413, "payload_too_large"),
    "not_json": (NOT_JSON, 400, "parse_error"),
}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fill(path: str, patient, surgeon) -> str:
    """The path with the id of something the cast may touch, made for it."""
    if "{" not in path:
        return path
    prefix = path.removeprefix("/api/v1/").split("/", 1)[0]
    if prefix in API_KINDS:
        row_id = make_record(prefix, patient, surgeon).pk
    elif prefix == "wound-photos":
        from tests.factories import wound_photo

        row_id = wound_photo(patient).pk
    elif prefix == "alerts":
        from recovery.care.models import Alert

        client_for(patient.user).post(
            "/api/v1/check-ins/",
            {"answered_at": "2026-01-01T10:00:00Z", "wound_opening": True},
            format="json",
        )
        row_id = Alert.objects.get(patient=patient).pk
    else:
        row_id = 1  # (a 404 from every member of the cast fails the test: add the prefix here)
    return re.sub(r"\{[a-z_]+\}", str(row_id), path)


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["type"] in ("validation_error", "client_error")
    assert body["errors"] and set(body["errors"][0]) == {"code", "detail", "attr"}
    if code:
        assert body["errors"][0]["code"] == code, body


def send(client, method, url, body, content_type="application/json"):
    return client.generic(method, url, data=body, content_type=content_type)


def test_the_walk_covers_the_api():
    paths = {path for _, path, *_ in OPERATIONS}
    assert (
        "/api/v1/me/" in paths and "/api/v1/pain-logs/" in paths and "/api/v1/sync/push/" in paths
    )
    assert len(OPERATIONS) >= 40


@pytest.mark.parametrize(
    ("method", "path", "public", "query", "required"),
    OPERATIONS,
    ids=[f"{m} {p}" for m, p, *_ in OPERATIONS],
)
def test_bad_bodies_are_json_4xx(method, path, public, query, required, patient, surgeon):
    assert set(required) <= set(QUERY), f"add a value for {set(required) - set(QUERY)} to QUERY"
    values = "&".join(f"{name}={QUERY[name]}" for name in query if name in QUERY)
    url = fill(path, patient, surgeon) + (f"?{values}" if values else "")
    cast = [None] if public else [patient.user, surgeon]
    for name, (body, status, code) in BAD_BODIES.items():
        for user in cast:
            response = send(client_for(user), method, url, body)
            if response.status_code not in (403, 404):  # someone the operation is for
                break
        if path in MULTIPART_ONLY:
            assert_error_shape(response, 415, "unsupported_media_type"), name
            continue
        # The body was read: the answer is about the body, whoever may call the operation.
        assert_error_shape(response, status, code), name
    for user in cast:
        response = send(client_for(user), method, url, b'{"a": 1}', content_type="text/plain")
        if response.status_code not in (403, 404):
            break
    if path == SYNC_PUSH:  # reads its body itself, whatever the content type says
        assert_error_shape(response, 400)
    else:
        assert_error_shape(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("path", GETS)
def test_a_too_long_query_string_is_json_414(path, patient):
    limit = settings.API_MAX_QUERY_STRING_BYTES
    url = path.replace("{", "").replace("}", "")
    response = client_for(patient.user).get(url + "?since=" + "9" * (limit - len("since=") + 1))
    assert_error_shape(response, 414, "uri_too_long")
    assert response.json()["max_bytes"] == limit


def test_a_chunked_rest_body_is_read_whole(api, patient):
    """No Content-Length, the body in the server's decoded stream: read, not taken for empty."""
    body = json.dumps(
        {"recorded_at": "2026-01-05T08:00:00+00:00", "intensity": 4, "location": "back"}
    ).encode()
    response = api(patient.user).post(
        "/api/v1/pain-logs/",
        data=b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body)},
    )
    assert response.status_code == 201, response.content
    assert response.json()["intensity"] == 4


@override_settings(API_MAX_BODY_BYTES=100, API_CHUNKED_BODY_MAX_BYTES=200)
def test_a_chunked_rest_body_over_the_limit_is_a_413(api, patient):
    stream = io.BytesIO(json.dumps({"notes": "x" * 500}).encode())
    response = api(patient.user).post(
        "/api/v1/pain-logs/",
        data=b"",
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": stream},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == "payload_too_large"
    assert stream.tell() == 201  # one byte past the largest body, not the whole body
