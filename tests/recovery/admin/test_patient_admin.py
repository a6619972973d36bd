"""The patient page: reminder settings change through the service and tell the hooks."""

import pytest

from accounts.models import PatientProfile

pytestmark = pytest.mark.django_db

CALLS = []


def record_hook(*, profile, changed):
    CALLS.append((profile.pk, set(changed)))


def form_data(patient, **changes):
    data = {
        "date_of_birth": patient.date_of_birth.isoformat(),
        "mrn": patient.mrn,
        "surgeon": patient.surgeon_id or "",
        "time_zone": patient.time_zone,
        "smoking_status": patient.smoking_status,
        "has_diabetes": "unknown",
        "bmi": "",
        "checkin_time": "19:00",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        "push_enabled": "on",
        "email_enabled": "on",
        "inbox_enabled": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_time_zone_change_goes_through_the_service_and_hooks(client, surgeon, patient, settings):
    settings.PATIENT_SETTINGS_CHANGED_HOOKS = [f"{__name__}.record_hook"]
    CALLS.clear()
    client.force_login(surgeon)
    response = client.post(
        f"/admin/accounts/patientprofile/{patient.pk}/change/",
        form_data(patient, time_zone="Europe/Berlin", mrn="NEW-1"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    patient = PatientProfile.objects.get(pk=patient.pk)
    assert (patient.time_zone, patient.mrn) == ("Europe/Berlin", "NEW-1")
    assert CALLS == [(patient.pk, {"time_zone"})]


def test_clinical_fields_alone_do_not_call_the_hooks(client, surgeon, patient, settings):
    settings.PATIENT_SETTINGS_CHANGED_HOOKS = [f"{__name__}.record_hook"]
    CALLS.clear()
    client.force_login(surgeon)
    response = client.post(
        f"/admin/accounts/patientprofile/{patient.pk}/change/", form_data(patient, bmi="31.5")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert str(PatientProfile.objects.get(pk=patient.pk).bmi) == "31.5"
    assert CALLS == []
