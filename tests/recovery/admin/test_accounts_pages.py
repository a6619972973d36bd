"""The accounts pages of the admin, for every role: staff users, clinics, invitations."""

from datetime import date

import pytest

from accounts import services
from accounts.models import Invitation

pytestmark = pytest.mark.django_db

ROLES = ["patient", "surgeon", "nurse", "outsider_surgeon", "clinic_admin", "foreign_clinic_admin"]


@pytest.fixture
def users(patient, surgeon, nurse, other_patient, clinic_admin, foreign_clinic_admin):
    return {
        "patient": patient.user,
        "surgeon": surgeon,
        "nurse": nurse,
        "outsider_surgeon": other_patient.surgeon,
        "clinic_admin": clinic_admin,
        "foreign_clinic_admin": foreign_clinic_admin,
    }


@pytest.fixture
def invitation(clinic, surgeon):
    invitation, _ = services.patient_invite(
        clinic=clinic,
        invited_by=surgeon,
        email="new.patient@example.test",
        first_name="New",
        last_name="Patient",
        date_of_birth=date(1960, 1, 2),
        time_zone="America/Chicago",
        surgeon=surgeon,
    )
    return invitation


@pytest.mark.parametrize("role", ROLES)
def test_staff_user_pages(client, users, role, nurse, foreign_clinic_admin):
    client.force_login(users[role])
    listing = client.get("/admin/accounts/user/")
    own = client.get(f"/admin/accounts/user/{nurse.pk}/change/")
    foreign = client.get(f"/admin/accounts/user/{foreign_clinic_admin.pk}/change/")
    patient_user = client.get(f"/admin/accounts/user/{users['patient'].pk}/change/")
    if role == "patient":
        assert {listing.status_code, own.status_code} == {302}
    elif role == "clinic_admin":
        assert listing.status_code == 200
        html = listing.content.decode()
        assert nurse.email in html and foreign_clinic_admin.email not in html
        assert users["patient"].email not in html  # patients are managed through profiles
        assert own.status_code == 200
        assert foreign.status_code == 404
        assert patient_user.status_code == 404
    elif role == "foreign_clinic_admin":
        assert listing.status_code == 200
        assert nurse.email not in listing.content.decode()
        assert own.status_code == 404
    else:
        assert listing.status_code == 403
        assert own.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_clinic_pages(client, users, role, clinic, foreign_clinic_admin):
    client.force_login(users[role])
    listing = client.get("/admin/accounts/clinic/")
    own = client.get(f"/admin/accounts/clinic/{clinic.pk}/change/")
    if role == "patient":
        assert listing.status_code == 302
    elif role == "clinic_admin":
        assert listing.status_code == 200
        assert foreign_clinic_admin.clinic.name not in listing.content.decode()
        assert own.status_code == 200
    elif role == "foreign_clinic_admin":
        assert clinic.name not in listing.content.decode()
        assert own.status_code == 404
    else:
        assert listing.status_code == 403 and own.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_invitation_pages(client, users, role, invitation):
    client.force_login(users[role])
    listing = client.get("/admin/accounts/invitation/")
    page = client.get(f"/admin/accounts/invitation/{invitation.pk}/change/")
    history = client.get(f"/admin/accounts/invitation/{invitation.pk}/history/")
    delete = client.get(f"/admin/accounts/invitation/{invitation.pk}/delete/")
    if role == "patient":
        assert {listing.status_code, page.status_code, delete.status_code} == {302}
        return
    in_scope = role in ("surgeon", "clinic_admin")  # the invited patient's surgeon of record
    assert listing.status_code == 200
    assert (invitation.email in listing.content.decode()) is in_scope
    if in_scope:
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert history.status_code == 200
        assert delete.status_code == 403  # revoke instead; deleting is for superusers
        assert "code_hash" not in page.content.decode()
    else:
        assert page.status_code == 404 and history.status_code == 404
        assert delete.status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()
