"""What a caregiver entered on the patient's behalf says so on the admin timeline, and the REST
output carries who entered it (``created_by``)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recovery.admin.timeline import timeline_for_patient
from tests.accounts.helpers import caregiver_of
from tests.factories import pain_log, pt_session

pytestmark = pytest.mark.django_db


def test_caregiver_entries_are_named_on_the_timeline(client, surgeon, patient, api):
    caregiver, _ = caregiver_of(patient, "read", "log")
    when = timezone.now() - timedelta(hours=3)
    pain_log(patient, recorded_at=when)
    by_carer = pain_log(patient, caregiver, recorded_at=when + timedelta(minutes=1))
    pt_session(
        patient,
        caregiver,
        scheduled_for=None,
        performed_at=when,
        status="completed",
    )
    pt_session(patient, surgeon)
    events = timeline_for_patient(patient=patient, newest_first=False).events
    pain = [e for e in events if e.type == "pain"]
    assert len(pain) == 1 and "1 entered by a caregiver" in pain[0].detail
    sessions = {e.detail for e in events if e.type == "pt_session"}
    assert any("entered by caregiver Casey Carer" in d for d in sessions)
    assert sum("caregiver" in d for d in sessions) == 1
    client.force_login(surgeon)
    html = client.get(f"/admin/accounts/patientprofile/{patient.pk}/timeline/").content.decode()
    assert "entered by caregiver Casey Carer" in html
    # REST: who entered it.
    row = api(patient.user).get(f"/api/v1/pain-logs/{by_carer.pk}/").json()
    assert row["created_by"] == caregiver.pk
