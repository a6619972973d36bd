"""The PHI access log in the admin: clinic admins read their clinic's rows; nobody edits."""

import pytest
from django.utils.html import escape

from accounts.models import PHIAccess, User

pytestmark = pytest.mark.django_db

LIST = "/admin/accounts/phiaccess/"


@pytest.fixture
def visits(client, surgeon, patient, other_patient, foreign_patient):
    """The surgeon opens their patient's timeline; another clinic has a row of its own."""
    client.force_login(surgeon)
    assert client.get(f"/admin/accounts/patientprofile/{patient.pk}/timeline/").status_code == 200
    client.logout()
    PHIAccess.objects.create(
        user=foreign_patient.surgeon,
        patient=foreign_patient,
        clinic=foreign_patient.clinic,
        action="timeline",
        resource="timeline",
    )
    return PHIAccess.objects.get(patient=patient), PHIAccess.objects.get(patient=foreign_patient)


def test_clinic_admin_reads_their_clinics_log(client, clinic_admin, visits, surgeon):
    mine, theirs = visits
    client.force_login(clinic_admin)
    listing = client.get(LIST)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert f"{LIST}{mine.pk}/change/" in html
    assert f"{LIST}{theirs.pk}/change/" not in html
    assert escape(surgeon.full_name) in html  # who read the record: the user column
    page = client.get(f"{LIST}{mine.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(f"{LIST}{theirs.pk}/change/").status_code == 404


def test_another_clinics_admin_sees_none_of_it(client, foreign_clinic_admin, visits):
    mine, theirs = visits
    client.force_login(foreign_clinic_admin)
    html = client.get(LIST).content.decode()
    assert f"{LIST}{theirs.pk}/change/" in html
    assert f"{LIST}{mine.pk}/change/" not in html
    assert client.get(f"{LIST}{mine.pk}/change/").status_code == 404


@pytest.mark.parametrize("role", ["surgeon", "nurse"])
def test_clinicians_cannot_read_the_log(client, visits, role, request):
    client.force_login(request.getfixturevalue(role))
    assert client.get(LIST).status_code == 403
    assert "phiaccess" not in client.get("/admin/").content.decode()


def test_patients_cannot_read_the_log(client, visits, patient):
    client.force_login(patient.user)
    assert client.get(LIST).status_code == 302


def test_nobody_adds_changes_or_deletes(client, clinic_admin, visits, db):
    mine, _ = visits
    root = User.objects.create_superuser(email="root@example.test", password="x-Very-long-pass-9")
    for user in (clinic_admin, root):
        client.force_login(user)
        assert client.get(f"{LIST}add/").status_code == 403
        assert client.post(f"{LIST}{mine.pk}/change/", {"action": "x"}).status_code == 403
        assert client.post(f"{LIST}{mine.pk}/delete/", {"post": "yes"}).status_code == 403
        bulk = client.post(LIST, {"action": "delete_selected", "_selected_action": [mine.pk]})
        assert bulk.status_code in (200, 302)
    assert PHIAccess.objects.filter(pk=mine.pk).exists()
