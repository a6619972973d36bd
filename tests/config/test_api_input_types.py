"""Input serializers take the JSON types the OpenAPI schema names: no string for an integer or a
boolean, no number for a string. A wrong type is a 400 naming the field (code ``invalid``) and
writes nothing. Query parameters (strings by nature) are not affected. Long query strings under
/api/ are a JSON 414 from Django, below gunicorn's request-line limit."""

import http.client
import os
import subprocess
import sys

import pytest
from django.utils import timezone

from recovery.record.models import PainLog
from reminders.models import Device
from tests.conftest import client_for
from tests.reminders.procs import ROOT, free_port, stop, wait_for

pytestmark = pytest.mark.django_db

PAIN_LOGS = "/api/v1/pain-logs/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pain_log(**overrides):
    values = {"recorded_at": timezone.now().isoformat(), "intensity": 3, "location": "back"}
    values.update(overrides)
    return values


def errors_of(response) -> dict:
    assert response.status_code == 400, response.content
    assert response.json()["type"] == "validation_error"
    return {e["attr"]: e["code"] for e in response.json()["errors"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("intensity", "3"),
        ("intensity", 3.5),
        ("intensity", 3.0),
        ("intensity", True),
        ("medication_taken", "true"),
        ("medication_taken", 1),
        ("notes", 12345),
        ("notes", False),
        ("location", 1),
        ("recorded_at", 1767225600),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused(field, value, patient):
    response = client_for(patient.user).post(PAIN_LOGS, pain_log(**{field: value}), format="json")
    assert errors_of(response) == {field: "invalid"}
    assert not PainLog.objects.exists()


def test_every_wrong_type_is_named_with_the_other_errors(patient):
    response = client_for(patient.user).post(
        PAIN_LOGS,
        pain_log(intensity="3", medication_taken="yes", location="nowhere"),
        format="json",
    )
    assert errors_of(response) == {
        "intensity": "invalid",
        "medication_taken": "invalid",
        "location": "invalid_choice",
    }


def test_values_of_the_right_type_are_stored(patient):
    response = client_for(patient.user).post(
        PAIN_LOGS, pain_log(intensity=7, medication_taken=True, notes="after a walk"), format="json"
    )
    assert response.status_code == 201, response.content
    assert PainLog.objects.get().intensity == 7


def test_patch_is_strict_too(patient):
    client = client_for(patient.user)
    created = client.post(PAIN_LOGS, pain_log(), format="json").json()
    response = client.patch(f"{PAIN_LOGS}{created['id']}/", {"intensity": "9"}, format="json")
    assert errors_of(response) == {"intensity": "invalid"}
    assert PainLog.objects.get().intensity == 3


def test_nested_values_are_checked_where_they_are(patient):
    client = client_for(patient.user)
    session = {
        "performed_at": timezone.now().isoformat(),
        "status": "completed",
        "exercises": [
            {"name": "bridges", "sets": 3},
            {"name": "walk", "sets": "3", "minutes": "10"},
        ],
    }
    assert errors_of(client.post("/api/v1/pt-sessions/", session, format="json")) == {
        "exercises.1.sets": "invalid",
        "exercises.1.minutes": "invalid",
    }
    relief = pain_log(relief=["ice", 2])
    assert errors_of(client.post(PAIN_LOGS, relief, format="json")) == {"relief.1": "invalid"}


def test_dict_values_are_checked(patient):
    score = {
        "instrument": "nrs_leg",
        "timepoint": "3m",
        "completed_at": timezone.now().isoformat(),
        "answers": {"nrs": "4"},
    }
    response = client_for(patient.user).post("/api/v1/outcome-scores/", score, format="json")
    assert errors_of(response) == {"answers.nrs": "invalid"}


def test_a_numeric_device_token_is_refused(patient):
    client = client_for(patient.user)
    response = client.post(
        "/api/v1/devices/", {"token": 1234567890, "platform": "ios"}, format="json"
    )
    assert errors_of(response) == {"token": "invalid"}
    assert not Device.objects.exists()
    ok = client.post("/api/v1/devices/", {"token": "1234567890", "platform": "ios"}, format="json")
    assert ok.status_code in (200, 201), ok.content


def test_me_patch_refuses_a_string_for_a_boolean(patient):
    client = client_for(patient.user)
    assert errors_of(client.patch("/api/v1/me/", {"push_enabled": "false"}, format="json")) == {
        "push_enabled": "invalid"
    }
    patient.refresh_from_db()
    assert patient.push_enabled is True
    assert client.patch("/api/v1/me/", {"push_enabled": False}, format="json").status_code == 200


@pytest.mark.parametrize("temperature", ["38.6", 38.6, 38])
def test_a_decimal_takes_a_string_or_a_number(temperature, patient):
    response = client_for(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": timezone.now().isoformat(), "temperature_c": temperature},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_decimal_refuses_a_boolean(patient):
    response = client_for(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": timezone.now().isoformat(), "temperature_c": True},
        format="json",
    )
    assert errors_of(response) == {"temperature_c": "invalid"}


def test_query_parameters_are_still_read_from_strings(patient):
    response = client_for(patient.user).get(PAIN_LOGS, {"page_size": "5"})
    assert response.status_code == 200, response.content


def test_null_is_left_to_the_field(patient):
    response = client_for(patient.user).post(PAIN_LOGS, pain_log(intensity=None), format="json")
    assert errors_of(response) == {"intensity": "null"}


# --- Long URLs ---------------------------------------------------------------------------------


def test_the_query_string_limit_is_a_setting_and_only_for_the_api(client, settings, patient):
    settings.API_MAX_QUERY_STRING_BYTES = 100
    api = client_for(patient.user)
    assert (
        api.get(PAIN_LOGS + "?page_size=5&x=" + "a" * 60).status_code == 400
    )  # x: unknown parameter
    response = api.get(PAIN_LOGS + "?page_size=5&x=" + "a" * 100)
    assert response.status_code == 414
    assert response.json()["errors"][0] == {
        "code": "uri_too_long",
        "detail": "The query string may be at most 100 bytes.",
        "attr": None,
    }
    assert client.get("/healthz?x=" + "a" * 200).status_code == 200


def test_gunicorn_takes_request_lines_up_to_its_maximum():
    namespace: dict = {}
    exec((ROOT / "config" / "gunicorn.conf.py").read_text(), namespace)  # noqa: S102 - our own config
    assert namespace["limit_request_line"] == 8190


@pytest.mark.integration
def test_a_long_query_string_through_gunicorn_is_django_json_not_gunicorn_html(tmp_path):
    """The real server: a 7 KB query string used to be gunicorn's HTML error (its default limit
    is 4094 bytes); now it reaches Django, which answers JSON. Only beyond 8190 is it gunicorn's."""
    port = free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "PYTHONPATH": str(ROOT),
    }
    with (tmp_path / "gunicorn.log").open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.conf.py",
                "config.wsgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )

    def get(path):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        finally:
            conn.close()

    def up():
        try:
            return get("/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=60, what="gunicorn")
        status, content_type, body = get(PAIN_LOGS + "?x=" + "a" * 7000)
        assert (status, content_type) == (414, "application/json"), body[:200]
        assert b'"uri_too_long"' in body
        status, content_type, _ = get(PAIN_LOGS + "?x=" + "a" * 9000)
        assert status in (400, 414) and "json" not in content_type  # gunicorn's own page
    finally:
        stop(proc)


def test_request_data_too_big_from_anywhere_is_a_json_413(settings):
    """Whatever reads ``request.body`` past Django's own limit answers like the parser does."""
    from django.core.exceptions import RequestDataTooBig

    from config.api.errors import exception_handler

    response = exception_handler(RequestDataTooBig("too big"), {})
    assert response.status_code == 413
    assert response.data == {
        "type": "client_error",
        "errors": [
            {
                "code": "payload_too_large",
                "detail": f"A request body may be at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
                "attr": None,
            }
        ],
        "max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    }
