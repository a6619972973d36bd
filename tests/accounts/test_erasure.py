"""Deleting the account: the patient asks, the clinic admin confirms; personal data goes at
once, the clinical record stays until the retention ends, nothing half-done on failure."""

from datetime import date

import pytest
from axes.models import AccessAttempt
from django.test import override_settings
from django.utils import timezone

from accounts.erasure import erasure_confirm, erasure_deidentify_due, erasure_request
from accounts.models import ErasureRequest, PatientProfile
from config.errors import Conflict, NotFound
from reminders.models import Device, Reminder, ReminderStatus
from reminders.services import device_register
from tests import factories as f
from tests.factories import PASSWORD, ClinicFactory, StaffFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/erasure-request/"


@pytest.fixture
def clinic_admin(clinic):
    return StaffFactory(clinic=clinic, role="clinic_admin")


def tokens(client, email):
    return client.post("/api/v1/auth/token/", {"email": email, "password": PASSWORD}, format="json")


def test_ask_again_withdraw_and_read(api, patient):
    client = api(patient.user)
    assert client.get(URL).status_code == 404
    first = client.post(URL)
    assert first.status_code == 201 and first.json()["status"] == "requested"
    again = client.post(URL)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    withdrawn = client.delete(URL)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "cancelled"
    assert client.delete(URL).status_code == 404
    assert client.get(URL).json()["status"] == "cancelled"
    assert client.post(URL).status_code == 201  # a new request after a withdrawn one


def test_staff_have_no_account_to_delete_here(api, surgeon):
    assert api(surgeon).post(URL).status_code == 403
    assert api(None).post(URL).status_code == 401


def test_confirming_erases_the_account_and_keeps_the_record(api, patient, surgeon, clinic_admin):
    log = f.pain_log(patient, notes="worse after the drive")
    device_register(patient=patient, token="fcm-token-1", platform="android")
    refresh = tokens(api(None), patient.user.email).json()["refresh"]
    AccessAttempt.objects.create(
        username=patient.user.email,
        ip_address="10.0.0.1",
        failures_since_start=1,
        user_agent="app",
        path_info="/api/v1/auth/token/",
    )
    email = patient.user.email
    request, _ = erasure_request(user=patient.user)

    done = erasure_confirm(actor=clinic_admin, request_id=request.pk)

    assert done.status == "erased"
    assert done.retain_until.year == timezone.localdate().year + 10
    profile = PatientProfile.objects.select_related("user").get(pk=patient.pk)
    user = profile.user
    assert not user.is_active and not user.has_usable_password()
    assert user.email == f"erased-{user.pk}@erased.invalid"
    assert profile.phone == "" and not profile.push_enabled and profile.checkin_time is None
    assert not Device.objects.filter(patient=patient).exists()
    assert not Reminder.objects.filter(
        patient=patient, status__in=[ReminderStatus.PENDING, ReminderStatus.CLAIMED]
    ).exists()
    assert not AccessAttempt.objects.filter(username=email).exists()
    # Signed out everywhere: the refresh token is dead, the old address signs in no one.
    assert (
        api(None)
        .post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")
        .status_code
        == 401
    )
    assert tokens(api(None), email).status_code == 401
    # The clinical record stays, identifiable to the clinic, until the retention ends.
    assert profile.mrn == patient.mrn and user.last_name == patient.user.last_name
    assert api(surgeon).get(f"/api/v1/pain-logs/{log.pk}/").status_code == 200


def test_the_record_is_deidentified_when_the_retention_ends(patient, clinic_admin):
    request, _ = erasure_request(user=patient.user)
    done = erasure_confirm(actor=clinic_admin, request_id=request.pk)
    assert erasure_deidentify_due() == 0
    assert erasure_deidentify_due(today=done.retain_until) == 1
    profile = PatientProfile.objects.select_related("user").get(pk=patient.pk)
    assert (profile.user.first_name, profile.user.last_name, profile.mrn) == (
        "Erased",
        "patient",
        "",
    )
    assert profile.date_of_birth == date(patient.date_of_birth.year, 1, 1)
    assert ErasureRequest.objects.get().status == "deidentified"
    assert erasure_deidentify_due(today=done.retain_until) == 0


@override_settings(CLINICAL_RECORD_RETENTION_YEARS=0)
def test_no_retention_deidentifies_at_once(patient, clinic_admin):
    request, _ = erasure_request(user=patient.user)
    assert erasure_confirm(actor=clinic_admin, request_id=request.pk).status == "deidentified"


def test_only_the_patients_clinic_admin_confirms(patient, surgeon, clinic_admin):
    request, _ = erasure_request(user=patient.user)
    elsewhere = StaffFactory(clinic=ClinicFactory(), role="clinic_admin")
    for actor in (surgeon, elsewhere, patient.user):
        with pytest.raises(NotFound):
            erasure_confirm(actor=actor, request_id=request.pk)
    erasure_confirm(actor=clinic_admin, request_id=request.pk)
    with pytest.raises(Conflict):
        erasure_confirm(actor=clinic_admin, request_id=request.pk)


def boom(*, profile):
    raise RuntimeError("the reminders service is down")


@override_settings(
    PATIENT_ERASED_HOOKS=[
        "reminders.services.patient_reminders_erase",
        "tests.accounts.test_erasure.boom",
    ]
)
def test_a_failure_midway_leaves_everything_as_it_was(patient, clinic_admin):
    device_register(patient=patient, token="fcm-token-2", platform="ios")
    request, _ = erasure_request(user=patient.user)
    with pytest.raises(RuntimeError):
        erasure_confirm(actor=clinic_admin, request_id=request.pk)
    patient.user.refresh_from_db()
    assert patient.user.is_active and patient.user.email.endswith("@example.test")
    assert Device.objects.filter(patient=patient).exists()
    assert ErasureRequest.objects.get().status == "requested"


def test_the_admin_confirms_and_is_scoped(client, patient, other_patient, clinic_admin, surgeon):
    request, _ = erasure_request(user=patient.user)
    other_clinic_patient = f.PatientFactory(clinic=ClinicFactory())
    foreign, _ = erasure_request(user=other_clinic_patient.user)
    client.force_login(clinic_admin)
    listing = client.get("/admin/accounts/erasurerequest/")
    assert listing.status_code == 200
    assert f"/admin/accounts/erasurerequest/{foreign.pk}/change/" not in listing.content.decode()
    assert client.get(f"/admin/accounts/erasurerequest/{foreign.pk}/change/").status_code == 404
    response = client.post(
        "/admin/accounts/erasurerequest/",
        {"action": "confirm", "_selected_action": [request.pk, foreign.pk]},
    )
    assert response.status_code == 302
    assert ErasureRequest.objects.get(pk=request.pk).status == "erased"
    assert ErasureRequest.objects.get(pk=foreign.pk).status == "requested"
    # The care team sees the request; only a clinic admin confirms one.
    other, _ = erasure_request(user=other_patient.user)
    client.force_login(other_patient.surgeon)
    assert client.get("/admin/accounts/erasurerequest/").status_code == 200
    response = client.post(
        "/admin/accounts/erasurerequest/", {"action": "confirm", "_selected_action": [other.pk]}
    )
    assert ErasureRequest.objects.get(pk=other.pk).status == "requested"
