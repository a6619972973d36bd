"""Emergency access: a clinician outside the care team opens one record, with a reason, for a
fixed time; logged, told to the clinic's admins, and gone when it expires."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.break_glass import break_glass_open
from accounts.models import BreakGlassAccess, PHIAccess
from config.errors import Forbidden, Invalid, NotFound
from tests import factories as f
from tests.factories import ClinicFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

REASON = "Patient in our emergency department with new leg weakness, surgeon unreachable."


@pytest.fixture
def outsider(clinic):
    """A surgeon of the patient's clinic, not on the patient's care team."""
    return StaffFactory(clinic=clinic, role="surgeon")


@pytest.fixture
def clinic_admin(clinic):
    return StaffFactory(clinic=clinic, role="clinic_admin")


def test_outside_the_care_team_the_record_is_a_404_until_the_glass_is_broken(
    api, patient, outsider, clinic_admin, django_capture_on_commit_callbacks
):
    # A name no clinician of the test has (the factories draw names at random: the outsider
    # may share the patient's, and the e-mail names the outsider).
    patient.user.last_name = "Zzyzx-Patient"
    patient.user.save(update_fields=["last_name"])
    f.pain_log(patient)
    client = api(outsider)
    url = f"/api/v1/pain-logs/?patient={patient.pk}"
    assert client.get(url).status_code == 400  # "no such patient in your care"
    assert client.get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        access = break_glass_open(user=outsider, mrn=patient.mrn, reason=REASON)

    assert access.expires_at - access.started_at == timedelta(minutes=60)
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1
    assert PHIAccess.objects.filter(
        user=outsider, patient=patient, action="break_glass", object_id=str(access.pk)
    ).exists()
    assert PHIAccess.objects.filter(user=outsider, patient=patient, action="list").exists()
    [message] = mail.outbox
    assert message.to == [clinic_admin.email]
    assert patient.mrn in message.body and REASON in message.body
    assert patient.user.last_name not in message.body  # no name, no clinical content by e-mail

    with time_machine.travel(access.expires_at + timedelta(seconds=1)):
        assert api(outsider).get(url).status_code == 400
        assert api(outsider).get(f"/api/v1/patients/{patient.pk}/fhir/").status_code == 404


def test_a_double_submit_opens_one_access(patient, outsider):
    first = break_glass_open(user=outsider, mrn=patient.mrn, reason=REASON)
    second = break_glass_open(user=outsider, mrn=f" {patient.mrn} ", reason=REASON)
    assert first.pk == second.pk
    assert BreakGlassAccess.objects.count() == 1


@pytest.mark.parametrize("reason", ["", "   ", "it is urgent"])
def test_no_reason_no_access(patient, outsider, reason):
    with pytest.raises(Invalid) as refused:
        break_glass_open(user=outsider, mrn=patient.mrn, reason=reason)
    assert refused.value.code == "reason_required"
    assert not BreakGlassAccess.objects.exists()


def test_never_across_clinics(patient):
    elsewhere = StaffFactory(clinic=ClinicFactory(), role="surgeon")
    with pytest.raises(NotFound):
        break_glass_open(user=elsewhere, mrn=patient.mrn, reason=REASON)
    assert not BreakGlassAccess.objects.exists()


def test_an_unknown_mrn_is_a_404(outsider):
    with pytest.raises(NotFound) as refused:
        break_glass_open(user=outsider, mrn="NO-SUCH", reason=REASON)
    assert refused.value.attr == "mrn"


def test_only_clinicians_break_glass(patient, other_patient, clinic_admin):
    for user in (other_patient.user, clinic_admin):
        with pytest.raises(Forbidden):
            break_glass_open(user=user, mrn=patient.mrn, reason=REASON)


def test_the_care_team_needs_no_glass(patient, nurse):
    with pytest.raises(Invalid) as refused:
        break_glass_open(user=nurse, mrn=patient.mrn, reason=REASON)
    assert refused.value.code == "already_care_team"


def test_the_database_refuses_an_access_without_a_reason_or_end(patient, outsider):
    now = timezone.now()
    for values in (
        {"reason": "short", "expires_at": now + timedelta(hours=1)},
        {"reason": REASON, "expires_at": now},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            BreakGlassAccess.objects.create(
                user=outsider, patient=patient, clinic=patient.clinic, started_at=now, **values
            )


# --- the admin -------------------------------------------------------------------------------


def test_the_admin_page_opens_the_timeline_and_the_lists_are_scoped(
    client, patient, outsider, clinic_admin
):
    client.force_login(outsider)
    timeline = f"/admin/accounts/patientprofile/{patient.pk}/timeline/"
    assert client.get(timeline).status_code == 404
    page = client.get("/admin/accounts/breakglassaccess/open/")
    assert page.status_code == 200

    refused = client.post(
        "/admin/accounts/breakglassaccess/open/", {"mrn": patient.mrn, "reason": "urgent"}
    )
    assert refused.status_code == 200 and not BreakGlassAccess.objects.exists()

    opened = client.post(
        "/admin/accounts/breakglassaccess/open/", {"mrn": patient.mrn, "reason": REASON}
    )
    assert opened.status_code == 302 and opened["Location"] == timeline
    assert client.get(timeline).status_code == 200
    access = BreakGlassAccess.objects.get()

    # The clinic admin sees the clinic's accesses; another clinic's admin sees none.
    client.force_login(clinic_admin)
    listing = client.get("/admin/accounts/breakglassaccess/")
    assert listing.status_code == 200 and REASON[:30] in listing.content.decode()
    other_admin = StaffFactory(clinic=ClinicFactory(), role="clinic_admin")
    client.force_login(other_admin)
    assert REASON[:30] not in client.get("/admin/accounts/breakglassaccess/").content.decode()
    assert client.get(f"/admin/accounts/breakglassaccess/{access.pk}/change/").status_code == 404
    # Nobody edits or deletes the record of an access.
    client.force_login(clinic_admin)
    assert client.post(f"/admin/accounts/breakglassaccess/{access.pk}/delete/").status_code in (
        403,
        404,
    )
    assert BreakGlassAccess.objects.count() == 1


def test_a_clinic_admin_has_no_glass_to_break(client, clinic_admin):
    client.force_login(clinic_admin)
    assert client.get("/admin/accounts/breakglassaccess/open/").status_code == 404


def test_another_patient_stays_closed(api, patient, outsider):
    other = PatientFactory(clinic=patient.clinic, surgeon=StaffFactory(clinic=patient.clinic))
    break_glass_open(user=outsider, mrn=patient.mrn, reason=REASON)
    assert api(outsider).get(f"/api/v1/patients/{other.pk}/fhir/").status_code == 404
