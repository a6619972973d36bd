import pytest

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_admin_login_page_renders_for_anonymous(client):
    assert client.get("/admin/login/").status_code == 200
    assert client.get("/admin/").status_code == 302


def test_surgeon_signs_into_the_admin(client, surgeon):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": surgeon.email, "password": PASSWORD}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_patient_cannot_sign_into_the_admin(client, patient):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": patient.user.email, "password": PASSWORD}
    )
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/admin/").status_code == 302


def test_clinician_sees_only_care_team_patients(client, surgeon, patient, other_patient):
    client.force_login(surgeon)
    listing = client.get("/admin/accounts/patientprofile/")
    assert listing.status_code == 200
    assert patient.mrn in listing.content.decode()
    assert other_patient.mrn not in listing.content.decode()
    assert client.get(f"/admin/accounts/patientprofile/{patient.pk}/change/").status_code == 200
    assert (
        client.get(f"/admin/accounts/patientprofile/{other_patient.pk}/change/").status_code == 404
    )


def test_an_admin_session_does_not_authenticate_the_api(client, surgeon):
    client.force_login(surgeon)
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 401
