"""The alert's own admin page: acknowledge and resolve (with a note) from it, in the patient's
time zone, scoped like every page and written to the PHI access log."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import PHIAccess
from recovery.models import Alert
from tests.factories import PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

WHEN = datetime(2026, 1, 15, 15, 30, tzinfo=ZoneInfo("UTC"))  # 10:30 EST in New York


def _alert(api, patient, **answers):
    api(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": "2026-01-15T15:00:00Z", **answers},
        format="json",
    )
    alert = Alert.objects.filter(patient=patient).order_by("-pk").first()
    Alert.objects.filter(pk=alert.pk).update(
        opened_at=WHEN, acknowledge_by=WHEN + timedelta(hours=4)
    )
    alert.refresh_from_db()
    return alert


@pytest.fixture
def alert(api, patient):
    return _alert(api, patient, temperature_c="38.6", wound_redness=True, fell=True)


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _page(client, alert):
    return client.get(reverse("admin:recovery_alert_change", args=[alert.pk]))


def _token(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def _post(client, alert, step, data=None):
    html = _page(client, alert).content.decode()
    return client.post(
        reverse(f"admin:recovery_alert_{step}", args=[alert.pk]),
        {"csrfmiddlewaretoken": _token(html), **(data or {})},
    )


def test_the_page_shows_every_cause_and_local_times(alert, nurse):
    client = _csrf_client(nurse)
    response = _page(client, alert)
    assert response.status_code == 200
    html = response.content.decode()
    for title in ("Fever over 38.0 C / 100.4 F", "Wound redness", "A fall"):
        assert title in html
    assert "temperature_c = 38.6" in html
    assert "2026-01-15 10:30 EST" in html  # the patient's zone (America/New_York), as the timeline
    assert "15:30" not in html  # not UTC
    assert 'id="alert-acknowledge"' in html and 'id="alert-resolve"' in html


def test_acknowledge_then_resolve_with_a_note_from_the_page(alert, nurse, surgeon):
    nurse_client = _csrf_client(nurse)
    response = _post(nurse_client, alert, "acknowledge")
    change_url = reverse("admin:recovery_alert_change", args=[alert.pk])
    assert response.status_code == 302 and response["Location"] == change_url
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", nurse)
    html = nurse_client.get(change_url).content.decode()
    assert "Acknowledged." in html
    assert 'id="alert-acknowledge"' not in html and 'id="alert-resolve"' in html

    surgeon_client = _csrf_client(surgeon)
    response = _post(surgeon_client, alert, "resolve", {"note": ""})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == "acknowledged"  # a resolution needs a note
    assert "A resolution needs a note" in surgeon_client.get(change_url).content.decode()

    response = _post(surgeon_client, alert, "resolve", {"note": "Wound swab taken; seen today."})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by, alert.resolution_note) == (
        "resolved",
        surgeon,
        "Wound swab taken; seen today.",
    )
    html = surgeon_client.get(change_url).content.decode()
    assert 'id="alert-resolve"' not in html and "Wound swab taken; seen today." in html


def test_resolving_an_open_alert_acknowledges_it_too(alert, surgeon):
    client = _csrf_client(surgeon)
    _post(client, alert, "resolve", {"note": "False alarm: thermometer in hot tea."})
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.resolved_by) == (
        "resolved",
        surgeon,
        surgeon,
    )


def test_a_post_without_the_csrf_token_is_refused(alert, nurse):
    client = _csrf_client(nurse)
    url = reverse("admin:recovery_alert_acknowledge", args=[alert.pk])
    assert client.post(url).status_code == 403
    alert.refresh_from_db()
    assert alert.status == "open"


def test_the_steps_are_post_only(alert, nurse):
    client = _csrf_client(nurse)
    assert (
        client.get(reverse("admin:recovery_alert_acknowledge", args=[alert.pk])).status_code == 405
    )
    assert client.get(reverse("admin:recovery_alert_resolve", args=[alert.pk])).status_code == 405


def test_a_second_acknowledge_is_a_message_not_an_error_page(alert, nurse, surgeon):
    _post(_csrf_client(nurse), alert, "acknowledge")
    client = _csrf_client(surgeon)
    html = _page(client, alert).content.decode()
    response = client.post(
        reverse("admin:recovery_alert_acknowledge", args=[alert.pk]),
        {"csrfmiddlewaretoken": _token(html)},
    )
    assert response.status_code == 302
    shown = client.get(response["Location"]).content.decode()
    assert "Not acknowledged: This alert is already acknowledged." in shown
    alert.refresh_from_db()
    assert alert.acknowledged_by == nurse


def test_outside_the_scope_the_page_and_the_steps_are_404(alert, api, clinic, other_patient):
    other_clinic_patient = PatientFactory()
    foreign = StaffFactory(clinic=other_clinic_patient.clinic, role="clinic_admin")
    outsider = other_patient.surgeon  # same clinic, another patient's team
    for user in (foreign, outsider):
        client = Client()
        client.force_login(user)
        assert _page(client, alert).status_code == 404
        for step in ("acknowledge", "resolve"):
            url = reverse(f"admin:recovery_alert_{step}", args=[alert.pk])
            assert client.post(url, {"note": "x"}).status_code == 404
    alert.refresh_from_db()
    assert alert.status == "open"
    assert not PHIAccess.objects.filter(user__in=[foreign, outsider]).exists()


def test_the_clinic_admin_may_act_as_the_service_allows(alert, clinic):
    admin = StaffFactory(clinic=clinic, role="clinic_admin")
    _post(_csrf_client(admin), alert, "acknowledge")
    alert.refresh_from_db()
    assert alert.acknowledged_by == admin


def test_the_page_and_each_step_are_in_the_phi_access_log(alert, nurse):
    client = _csrf_client(nurse)
    _post(client, alert, "acknowledge")
    _post(client, alert, "resolve", {"note": "Seen."})
    actions = list(
        PHIAccess.objects.filter(user=nurse, resource="alerts", object_id=str(alert.pk))
        .order_by("pk")
        .values_list("action", "patient_id")
    )
    patient_id = alert.patient_id
    assert actions == [
        ("admin_change", patient_id),
        ("admin_acknowledge", patient_id),
        ("admin_change", patient_id),
        ("admin_resolve", patient_id),
    ]


def test_the_list_shows_local_times_and_causes(alert, nurse):
    client = _csrf_client(nurse)
    html = client.get(reverse("admin:recovery_alert_changelist")).content.decode()
    assert "2026-01-15 10:30 EST" in html
    assert "3 red flags" in html
