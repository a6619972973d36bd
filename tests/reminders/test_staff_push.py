"""Urgent red-flag alerts reach the care team's phones (push) as well as their e-mail."""

import pytest
from django.core import mail

from recovery.care.tasks import alert_notify
from recovery.models import Alert
from reminders.models import StaffDevice

pytestmark = pytest.mark.django_db


def test_clinicians_register_phones_and_patients_cannot(api, surgeon, patient):
    first = api(surgeon).post(
        "/api/v1/staff-devices/", {"token": "surgeon-phone", "platform": "ios"}, format="json"
    )
    again = api(surgeon).post(
        "/api/v1/staff-devices/", {"token": "surgeon-phone", "platform": "ios"}, format="json"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert StaffDevice.objects.get().user == surgeon
    assert (
        api(patient.user)
        .post("/api/v1/staff-devices/", {"token": "x", "platform": "ios"}, format="json")
        .status_code
        == 403
    )
    assert (
        api(surgeon).delete("/api/v1/staff-devices/", {"token": "nope"}, format="json").status_code
        == 404
    )
    assert (
        api(surgeon)
        .delete("/api/v1/staff-devices/", {"token": "surgeon-phone"}, format="json")
        .status_code
        == 204
    )


def _alert(api, patient):
    response = api(patient.user).post(
        "/api/v1/check-ins/",
        {"answered_at": "2026-01-01T10:00:00Z", "chest_pain_or_breathless": True},
        format="json",
    )
    assert response.json()["triage"]["call_emergency_services"] is True
    return Alert.objects.get(patient=patient)


def test_alert_is_pushed_to_surgeon_and_nurse_with_a_collapse_key(
    api, patient, surgeon, nurse, fcm
):
    for user, token in ((surgeon, "s-phone"), (nurse, "n-phone")):
        api(user).post(
            "/api/v1/staff-devices/", {"token": token, "platform": "android"}, format="json"
        )
    alert = _alert(api, patient)
    alert_notify(alert.pk)
    sent = [r["json"]["message"] for r in fcm.requests]
    assert {m["token"] for m in sent} == {"s-phone", "n-phone"}
    assert sent[0]["android"]["priority"] == "high" and sent[0]["android"]["collapse_key"]
    assert "chest" not in str(sent).lower()  # no clinical detail on a lock screen
    assert len(mail.outbox) == 2  # and the e-mail still goes out, one to each
    alert_notify(alert.pk)  # a retry, or the same task twice: nobody is told again
    assert (len(fcm.requests), len(mail.outbox)) == (2, 2)


def test_escalation_pushes_only_the_surgeon_and_dead_tokens_are_deactivated(
    api, patient, surgeon, nurse, fcm
):
    api(surgeon).post(
        "/api/v1/staff-devices/", {"token": "s-phone", "platform": "android"}, format="json"
    )
    api(nurse).post(
        "/api/v1/staff-devices/", {"token": "n-phone", "platform": "android"}, format="json"
    )
    alert = _alert(api, patient)
    fcm.unregistered()
    alert_notify(alert.pk, escalation=True)
    assert [r["json"]["message"]["token"] for r in fcm.requests] == ["s-phone"]
    assert not StaffDevice.objects.get(token="s-phone").active
