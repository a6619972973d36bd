"""One time format on the wire (docs/api.md): ISO 8601 in UTC written with ``+00:00``, on every
endpoint that answers times, whatever offset the client sent. DRF's own output wrote ``Z``
(alerts, check-ins, notifications, devices) while the collections wrote ``+00:00``."""

import json
import re

import pytest

from recovery.api.views import API_KINDS
from reminders import services as reminder_services
from tests.factories import make_record

pytestmark = pytest.mark.django_db

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
ONE_FORM = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$")


def _times(node, path="$"):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _times(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _times(value, f"{path}[{index}]")
    elif isinstance(node, str) and DATETIME.match(node):
        yield path, node


def _assert_one_form(response) -> int:
    assert response.status_code in (200, 201), response.content
    body = b"".join(response.streaming_content) if response.streaming else response.content
    times = list(_times(json.loads(body)))
    wrong = [(path, value) for path, value in times if not ONE_FORM.match(value)]
    assert not wrong, wrong
    return len(times)


@pytest.fixture
def record(patient, surgeon, api):
    for prefix in API_KINDS:
        make_record(prefix, patient, surgeon)
    answered = api(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": "2026-05-01T08:30:00.250000+02:00", "wound_opening": True},
        format="json",
    )
    assert answered.status_code == 201
    reminder_services.notification_create(patient_id=patient.pk, kind="milestone", title="Walk")
    reminder_services.device_register(patient=patient, token="t" * 40, platform="android")
    return answered


def test_a_time_sent_with_another_offset_comes_back_in_utc_with_plus_zero(record):
    assert record.json()["check_in"]["answered_at"] == "2026-05-01T06:30:00.250000+00:00"
    _assert_one_form(record)


PATIENT_READS = [
    "/api/v1/check-ins/",
    "/api/v1/notifications/",
    "/api/v1/devices/",
    "/api/v1/me/",
    "/api/v1/me/plan/",
    "/api/v1/me/fhir/",
    *(f"/api/v1/{prefix}/" for prefix in API_KINDS),
]


@pytest.mark.parametrize("url", PATIENT_READS)
def test_patient_reads(record, api, patient, url):
    _assert_one_form(api(patient.user).get(url))


def test_the_patients_answers_carry_times(record, api, patient):
    """The check above is not vacuous: the reads answer times."""
    counted = sum(_assert_one_form(api(patient.user).get(url)) for url in PATIENT_READS)
    assert counted > 20


def test_care_team_reads_and_alert_steps(record, api, patient, surgeon):
    listed = api(surgeon).get("/api/v1/alerts/")
    assert _assert_one_form(listed) >= 1
    alert_id = listed.json()["results"][0]["id"]
    assert _assert_one_form(api(surgeon).post(f"/api/v1/alerts/{alert_id}/acknowledge/")) >= 2
    _assert_one_form(api(surgeon).get(f"/api/v1/patients/{patient.pk}/plan/"))
    _assert_one_form(api(surgeon).get(f"/api/v1/pain-logs/?patient={patient.pk}"))
    device = api(surgeon).post(
        "/api/v1/staff-devices/", {"token": "s" * 40, "platform": "ios"}, format="json"
    )
    _assert_one_form(device)
