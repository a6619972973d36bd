"""Admin pages and timeline for alerts, outcomes, checklist, imaging and complications, on the
demo data (``demo``: ``seed_demo`` once per module, ``tests/recovery/conftest.py``)."""

import pytest
from django.urls import reverse

from accounts.models import PatientProfile, User
from recovery.models import Alert, Protocol

pytestmark = pytest.mark.django_db


def _login(client, email):
    client.force_login(User.objects.get(email=email))
    return client


def test_timeline_shows_care_items_and_outcomes(client, demo, api):
    api(demo.user).post(
        "/api/v1/check-ins/",
        {"answered_at": "2026-01-01T10:00:00Z", "wound_opening": True},
        format="json",
    )
    _login(client, "surgeon@demo.test")
    url = reverse("admin:recovery_patient_timeline", args=[demo.pk])
    html = client.get(url, {"period": "all"}).content.decode()
    assert 'id="care"' in html and "Wound opening" in html
    care = client.get(
        url, {"period": "all", "types": ["imaging", "complication", "prep", "outcome", "alert"]}
    )
    html = care.content.decode()
    assert "Complication resolved: Surgical-site infection (superficial)" in html
    assert "CT L4-L5 (pre op planning)" in html and "fusion: not fused, hardware: loosened" in html
    assert "Checklist done" in html
    assert "Oswestry Disability Index (Pre-operative baseline): 54%, severe" in html


@pytest.mark.parametrize(
    "name",
    ["alert", "outcomescore", "prepitem", "imagingstudy", "complication", "checkin"],
)
def test_care_changelists_are_scoped(client, demo, api, name):
    other = PatientProfile.objects.get(user__email="patient2@demo.test")
    for patient in (demo, other):
        api(patient.user).post(
            "/api/v1/check-ins/",
            {"answered_at": "2026-01-01T10:00:00Z", "fell": True},
            format="json",
        )
    _login(client, "surgeon2@demo.test")
    response = client.get(reverse(f"admin:recovery_{name}_changelist"))
    assert response.status_code == 200
    shown = {row.patient_id for row in response.context["cl"].result_list}
    assert demo.pk not in shown
    model = response.context["cl"].model
    mine = model.objects.filter(patient=demo).first()
    if mine is not None:
        assert (
            client.get(reverse(f"admin:recovery_{name}_change", args=[mine.pk])).status_code == 404
        )


def test_alert_actions_in_the_admin(client, demo, api):
    api(demo.user).post(
        "/api/v1/check-ins/", {"answered_at": "2026-01-01T10:00:00Z", "fell": True}, format="json"
    )
    alert = Alert.objects.get(patient=demo)
    url = reverse("admin:recovery_alert_changelist")
    # Another surgeon's team cannot act on it (outside the scope: the row is not even listed).
    _login(client, "surgeon2@demo.test")
    client.post(url, {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == "open"
    _login(client, "nurse@demo.test")
    client.post(url, {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by.email == "nurse@demo.test"
    # Resolving needs a note per alert: from the alert's page, not as a bulk action.
    actions = dict(client.get(url).context["action_form"].fields["action"].choices)
    assert "acknowledge" in actions and "resolve" not in actions


def test_defaults_are_read_only_for_clinic_staff(client, demo):
    protocol = Protocol.objects.get(clinic=None)
    _login(client, "admin@demo.test")
    page = client.get(reverse("admin:recovery_protocol_change", args=[protocol.pk]))
    assert page.status_code == 200
    client.post(
        reverse("admin:recovery_protocol_changelist"),
        {"action": "copy_to_my_clinic", "_selected_action": [protocol.pk]},
    )
    assert Protocol.objects.filter(clinic=demo.clinic).count() == 1


def test_patient_list_shows_open_alerts_and_outcome_change(
    client, demo, api, django_assert_max_num_queries
):
    api(demo.user).post(
        "/api/v1/check-ins/", {"answered_at": "2026-01-01T10:00:00Z", "fell": True}, format="json"
    )
    _login(client, "surgeon@demo.test")
    with django_assert_max_num_queries(25):
        html = client.get(reverse("admin:accounts_patientprofile_changelist")).content.decode()
    # The fall is a within-24-hours alert: the list shows its tier, not a bare count.
    assert '<span class="tier-label tier-within_24h" data-tier="within_24h"' in html
    # Every follow-up, not only 3 and 12 months: the demo's 6-week ODI is 36% from a 54%
    # baseline (+18.0, above the 11.79 MCID); its pain ratings fell 4 points each.
    assert "ODI 6w +18.0 (MCID met)" in html
    assert "NRS_BACK 6w +4.0 (MCID met)" in html
