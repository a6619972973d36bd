"""The care team's page of refused pushed records: scoped like every patient page, replay and
dismiss through the services, on the patient's timeline."""

import pytest
from django.urls import reverse
from django.utils import timezone

from recovery.models import PainLog
from recovery.sync.models import RejectedRecord, RejectedStatus

pytestmark = pytest.mark.django_db


def _kept(patient, record_id="bad1", **values):
    return RejectedRecord.objects.create(
        patient=patient,
        user=patient.user,
        table_name="pain_logs",
        record_id=record_id,
        section="created",
        raw={
            "id": record_id,
            "recorded_at": int(timezone.now().timestamp() * 1000) - 3_600_000,
            "intensity": 4,
            "location": "back",
            "medication_taken": False,
            "relief": "[]",
            "notes": "",
            **values,
        },
        errors=[{"code": "max_value", "detail": "Too high.", "attr": f"pain_logs.{record_id}"}],
        last_pulled_at=0,
        sync_version=0,
    )


def test_the_page_is_scoped_to_the_callers_patients(
    client, patient, surgeon, foreign_patient, foreign_clinic_admin, outsider_surgeon
):
    mine = _kept(patient)
    theirs = _kept(foreign_patient, "bad2")
    change = reverse("admin:recovery_rejectedrecord_change", args=[mine.pk])

    client.force_login(surgeon)
    listing = client.get(reverse("admin:recovery_rejectedrecord_changelist"))
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "bad1" in html and "bad2" not in html
    page = client.get(change)
    assert page.status_code == 200 and "Too high." in page.content.decode()
    other = reverse("admin:recovery_rejectedrecord_change", args=[theirs.pk])
    assert client.get(other).status_code == 404
    assert RejectedRecord.objects.count() == 2

    client.force_login(foreign_clinic_admin)
    assert (
        "bad1"
        not in client.get(reverse("admin:recovery_rejectedrecord_changelist")).content.decode()
    )
    client.force_login(outsider_surgeon)
    assert (
        "bad1"
        not in client.get(reverse("admin:recovery_rejectedrecord_changelist")).content.decode()
    )


def test_replay_and_dismiss_actions(client, patient, surgeon):
    fixable = _kept(patient, "fix1")
    unwanted = _kept(patient, "junk1")
    client.force_login(surgeon)
    url = reverse("admin:recovery_rejectedrecord_changelist")
    response = client.post(url, {"action": "replay", "_selected_action": [fixable.pk]}, follow=True)
    assert response.status_code == 200
    fixable.refresh_from_db()
    assert fixable.status == RejectedStatus.REPLAYED
    assert PainLog.objects.get(pk="fix1").created_by == patient.user  # as the patient sent it
    client.post(url, {"action": "dismiss", "_selected_action": [unwanted.pk]}, follow=True)
    unwanted.refresh_from_db()
    assert (unwanted.status, unwanted.handled_by) == (RejectedStatus.DISMISSED, surgeon)


def test_replay_refused_again_says_why_and_stays_open(client, patient, surgeon):
    kept = _kept(patient, "bad1", intensity=11)
    client.force_login(surgeon)
    response = client.post(
        reverse("admin:recovery_rejectedrecord_changelist"),
        {"action": "replay", "_selected_action": [kept.pk]},
        follow=True,
    )
    assert "Not replayed" in response.content.decode()
    kept.refresh_from_db()
    assert kept.status == RejectedStatus.OPEN


def test_refused_records_are_on_the_timeline(client, patient, surgeon):
    _kept(patient, "bad1")
    client.force_login(surgeon)
    url = reverse("admin:recovery_patient_timeline", args=[patient.pk])
    html = client.get(url, {"period": "all", "types": ["rejected"]}).content.decode()
    assert "Refused from the app: pain logs bad1" in html
