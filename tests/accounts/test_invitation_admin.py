"""Onboarding in the admin: "Invite a patient", the invitation list with its status, resend and
revoke, for every role; and "Forgot password?" on the admin login page."""

from datetime import date, timedelta

import pytest
from django.core import mail
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, PHIAccess, User
from tests.accounts.helpers import link_in
from tests.factories import PASSWORD, ClinicFactory, StaffFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/accounts/invitation/"
ADD = "/admin/accounts/invitation/add/"


@pytest.fixture
def clinic_admin(clinic):
    return StaffFactory(clinic=clinic, role="clinic_admin")


@pytest.fixture
def foreign_admin(db):
    return StaffFactory(clinic=ClinicFactory(), role="clinic_admin")


@pytest.fixture
def foreign_surgeon(foreign_admin):
    return StaffFactory(clinic=foreign_admin.clinic, role="surgeon")


def _invite(clinic, by, email="ann.lee@example.test", **extra):
    return services.patient_invite(
        clinic=clinic,
        invited_by=by,
        email=email,
        first_name="Ann",
        last_name="Lee",
        date_of_birth=date(1961, 3, 4),
        **extra,
    )


@pytest.fixture
def invitation(clinic, clinic_admin, surgeon, nurse):
    return _invite(clinic, clinic_admin, surgeon=surgeon, care_team=(nurse,))[0]


def form(**extra):
    return {
        "email": "new.one@example.test",
        "first_name": "New",
        "last_name": "One",
        "date_of_birth": "1975-06-07",
        "time_zone": "Europe/Berlin",
        "phone": "+49 30 1234567",
        "mrn": "MRN-N1",
        **extra,
    }


# --- the invite form ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [("clinic_admin", 200), ("surgeon", 200), ("nurse", 403), ("pt", 403), ("patient", 302)],
)
def test_who_gets_the_invite_form(
    client, clinic, clinic_admin, surgeon, nurse, patient, role, status
):
    user = {
        "clinic_admin": clinic_admin,
        "surgeon": surgeon,
        "nurse": nurse,
        "pt": StaffFactory(clinic=clinic, role="physical_therapist"),
        "patient": patient.user,
    }[role]
    client.force_login(user)
    assert client.get(ADD).status_code == status
    listing = client.get(LIST)
    if status == 200:
        assert 'id="invite-patient"' in listing.content.decode()
        assert (
            'id="invite-patient"' in client.get("/admin/accounts/patientprofile/").content.decode()
        )
    elif status == 403:
        assert 'id="invite-patient"' not in listing.content.decode()
        response = client.post(ADD, form())
        assert response.status_code == 403
        assert not Invitation.objects.exists()


def test_pickers_list_only_the_clinics_own_clinicians(
    client, clinic_admin, surgeon, nurse, foreign_surgeon, patient
):
    client.force_login(clinic_admin)
    html = client.get(ADD).content.decode()
    assert f'value="{surgeon.pk}"' in html and f'value="{nurse.pk}"' in html
    assert f'value="{foreign_surgeon.pk}"' not in html
    assert foreign_surgeon.email not in html and str(foreign_surgeon) not in html
    # The add page names no patient (names are random and may be a clinician's: e-mail, MRN).
    assert patient.user.email not in html and patient.mrn not in html
    assert f'<option value="{clinic_admin.clinic.time_zone}" selected>' in html


def test_a_surgeon_invites_from_the_admin(
    client, surgeon, nurse, django_capture_on_commit_callbacks
):
    client.force_login(surgeon)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ADD, form(surgeon=surgeon.pk, care_team=[nurse.pk]))
    assert response.status_code == 302 and response["Location"] == LIST
    invitation = Invitation.objects.get()
    profile = invitation.patient
    assert (profile.time_zone, profile.phone, profile.mrn, profile.surgeon) == (
        "Europe/Berlin",
        "+49 30 1234567",
        "MRN-N1",
        surgeon,
    )
    assert set(profile.care_team.all()) == {surgeon, nurse}
    assert invitation.created_by == surgeon
    assert link_in(mail.outbox[-1].body, "activate")["token"]
    listing = client.get(LIST)
    assert "Invitation sent to new.one@example.test" in listing.content.decode()


def test_another_clinics_surgeon_or_clinician_is_refused_by_the_form(
    client, clinic_admin, foreign_surgeon
):
    client.force_login(clinic_admin)
    page = client.post(ADD, form(surgeon=foreign_surgeon.pk))
    assert page.status_code == 200
    assert "Select a valid choice" in page.content.decode()
    page = client.post(ADD, form(care_team=[foreign_surgeon.pk]))
    assert "Select a valid choice" in page.content.decode()
    assert not Invitation.objects.exists()
    assert not User.objects.filter(email="new.one@example.test").exists()


def test_service_refusals_show_on_the_form(client, clinic_admin, patient):
    client.force_login(clinic_admin)
    page = client.post(ADD, form(email=patient.user.email))
    assert page.status_code == 200 and "A user with this e-mail exists." in page.content.decode()
    page = client.post(
        ADD, form(date_of_birth=(timezone.localdate() + timedelta(days=3)).isoformat())
    )
    assert "The date of birth is in the future." in page.content.decode()
    page = client.post(ADD, form(phone="not a phone"))
    assert "Enter a phone number" in page.content.decode()
    assert not Invitation.objects.exists()


# --- the list, the page, scope ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "sees"),
    [
        ("clinic_admin", True),
        ("surgeon", True),
        ("nurse", True),  # on the team: reads it
        ("outsider_surgeon", False),
        ("foreign_admin", False),
    ],
)
def test_list_and_page_by_role(
    client, invitation, clinic_admin, surgeon, nurse, other_patient, foreign_admin, role, sees
):
    user = {
        "clinic_admin": clinic_admin,
        "surgeon": surgeon,
        "nurse": nurse,
        "outsider_surgeon": other_patient.surgeon,
        "foreign_admin": foreign_admin,
    }[role]
    client.force_login(user)
    listing = client.get(LIST).content.decode()
    page = client.get(f"{LIST}{invitation.pk}/change/")
    assert (invitation.email in listing) is sees
    assert page.status_code == (200 if sees else 404)
    for action in ("resend", "revoke"):
        response = client.post(f"{LIST}{invitation.pk}/{action}/")
        if not sees:
            assert response.status_code == 404
        elif role == "nurse":
            assert response.status_code == 403
    if sees:
        html = page.content.decode()
        manages = role != "nurse"
        assert ('name="_resend"' in html) is manages and ('name="_revoke"' in html) is manages
        assert "code_hash" not in html and 'name="_save"' not in html
    invitation.refresh_from_db()
    if role in ("nurse", "outsider_surgeon", "foreign_admin"):
        assert invitation.send_count == 1 and invitation.revoked_at is None


def test_status_column_and_filter(client, clinic, clinic_admin, surgeon, time_machine):
    pending = _invite(clinic, clinic_admin, email="pending@example.test")[0]
    revoked = _invite(clinic, clinic_admin, email="revoked@example.test")[0]
    services.invitation_revoke(invitation=revoked, actor=clinic_admin)
    accepted, token = _invite(clinic, clinic_admin, email="accepted@example.test")
    services.invitation_activate(token=token, password="a-fine-password-42")
    time_machine.move_to(timezone.now() + timedelta(days=3))
    expired = _invite(clinic, clinic_admin, email="expired@example.test")[0]
    expired.expires_at = timezone.now() - timedelta(minutes=1)
    expired.save(update_fields=["expires_at"])
    client.force_login(clinic_admin)
    for status, inv in (
        ("pending", pending),
        ("revoked", revoked),
        ("accepted", accepted),
        ("expired", expired),
    ):
        html = client.get(f"{LIST}?status={status}").content.decode()
        emails = {i.email for i in (pending, revoked, accepted, expired) if i.email in html}
        assert emails == {inv.email}, status
        assert f'<td class="field-status_label">{status.capitalize()}</td>' in html


def test_changelist_queries_do_not_grow_and_the_page_is_logged(
    client, clinic, clinic_admin, surgeon
):
    _invite(clinic, clinic_admin, email="first@example.test", surgeon=surgeon)
    client.force_login(clinic_admin)
    client.get(LIST)
    from django.db import connection

    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    for i in range(15):
        _invite(clinic, clinic_admin, email=f"more{i}@example.test", surgeon=surgeon)
    with CaptureQueriesContext(connection) as many:
        html = client.get(LIST).content.decode()
    assert "more14@example.test" in html
    assert len(many.captured_queries) == len(few.captured_queries)
    listed = PHIAccess.objects.filter(
        user=clinic_admin, action="admin_list", resource="invitations"
    )
    assert listed.values("patient").distinct().count() == 16


# --- resend and revoke --------------------------------------------------------------------------


def test_resend_and_revoke_buttons(client, invitation, surgeon, django_capture_on_commit_callbacks):
    client.force_login(surgeon)
    page = f"{LIST}{invitation.pk}/change/"
    old_hash = invitation.code_hash
    assert client.get(f"{LIST}{invitation.pk}/resend/").status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{LIST}{invitation.pk}/resend/")
    assert response.status_code == 302 and response["Location"] == page
    invitation.refresh_from_db()
    assert invitation.code_hash != old_hash and invitation.send_count == 2
    token = link_in(mail.outbox[-1].body, "activate")["token"]
    assert client.post(f"{LIST}{invitation.pk}/revoke/").status_code == 302
    invitation.refresh_from_db()
    assert invitation.status() == "revoked" and invitation.revoked_by == surgeon
    html = client.get(page).content.decode()
    assert "Revoked" in html and 'name="_revoke"' not in html and 'name="_resend"' in html
    from config.errors import Invalid

    with pytest.raises(Invalid) as refused:
        services.invitation_activate(token=token, password="a-fine-password-42")
    assert refused.value.code == "invitation_revoked"


def test_bulk_actions_touch_only_rows_in_scope(
    client, clinic, clinic_admin, invitation, foreign_admin, django_capture_on_commit_callbacks
):
    foreign = _invite(foreign_admin.clinic, foreign_admin, email="far@example.test")[0]
    accepted, token = _invite(clinic, clinic_admin, email="joined@example.test")
    services.invitation_activate(token=token, password="a-fine-password-42")
    client.force_login(clinic_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            LIST,
            {
                "action": "resend_selected",
                "_selected_action": [invitation.pk, foreign.pk, accepted.pk],
            },
            follow=True,
        )
    html = response.content.decode()
    assert "Resent: 1." in html
    assert "Not resent: joined@example.test" in html
    assert [m.to for m in mail.outbox] == [[invitation.email]]
    foreign.refresh_from_db()
    assert foreign.send_count == 1
    client.post(
        LIST, {"action": "revoke_selected", "_selected_action": [invitation.pk, foreign.pk]}
    )
    invitation.refresh_from_db()
    foreign.refresh_from_db()
    assert invitation.revoked_at is not None and foreign.revoked_at is None


def test_nurses_get_no_actions(client, invitation, nurse):
    client.force_login(nurse)
    html = client.get(LIST).content.decode()
    assert invitation.email in html and "resend_selected" not in html
    response = client.post(LIST, {"action": "revoke_selected", "_selected_action": [invitation.pk]})
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    assert response.status_code in (200, 302)


# --- "Forgot password?" on the admin login --------------------------------------------------------


def test_login_page_links_to_password_reset(client):
    html = client.get("/admin/login/").content.decode()
    assert 'href="/admin/password-reset/"' in html and "Forgot password?" in html
    page = client.get("/admin/password-reset/")
    assert page.status_code == 200 and 'name="email"' in page.content.decode()


def test_staff_reset_through_the_emailed_link(
    client, nurse, api, django_capture_on_commit_callbacks
):
    tokens = (
        api(None)
        .post("/api/v1/auth/token/", {"email": nurse.email, "password": PASSWORD}, format="json")
        .json()
    )
    response = client.post("/admin/password-reset/", {"email": nurse.email.upper()})
    assert response.status_code == 302 and response["Location"] == "/admin/password-reset/done/"
    assert client.get(response["Location"]).status_code == 200
    (message,) = mail.outbox
    assert message.to == [nurse.email] and "Realign" in message.subject
    link = next(w for w in message.body.split() if "/admin/password-reset/" in w)
    path = link.split("testserver", 1)[1]
    step = client.get(path)
    assert step.status_code == 302  # Django moves the token out of the URL into the session
    form = client.get(step["Location"])
    assert form.status_code == 200 and 'name="new_password1"' in form.content.decode()
    weak = client.post(step["Location"], {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    done = client.post(
        step["Location"],
        {"new_password1": "a-new-staff-secret-9", "new_password2": "a-new-staff-secret-9"},
    )
    assert done.status_code == 302 and done["Location"] == "/admin/password-reset/complete/"
    assert client.get(done["Location"]).status_code == 200
    nurse.refresh_from_db()
    assert nurse.check_password("a-new-staff-secret-9")
    # Every API token of the account is revoked, and the link is single use.
    refresh = api(None).post(
        "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert refresh.status_code == 401
    again = client.get(path)
    assert "new_password1" not in client.get(again.get("Location", path)).content.decode()


@pytest.mark.parametrize("who", ["patient", "unknown", "inactive"])
def test_no_mail_and_the_same_answer_for_non_staff(client, patient, surgeon, who):
    if who == "inactive":
        surgeon.is_active = False
        surgeon.save(update_fields=["is_active"])
    email = {
        "patient": patient.user.email,
        "unknown": "ghost@example.test",
        "inactive": surgeon.email,
    }[who]
    response = client.post("/admin/password-reset/", {"email": email})
    assert response.status_code == 302 and response["Location"] == "/admin/password-reset/done/"
    assert mail.outbox == []


def test_admin_password_reset_is_rate_limited(client, monkeypatch):
    from accounts.admin_password_reset import AdminPasswordResetThrottle

    monkeypatch.setattr(
        AdminPasswordResetThrottle,
        "THROTTLE_RATES",
        {**AdminPasswordResetThrottle.THROTTLE_RATES, "password_reset": "2/min"},
    )
    for _ in range(2):
        assert client.post("/admin/password-reset/", {"email": "x@example.test"}).status_code == 302
    limited = client.post("/admin/password-reset/", {"email": "x@example.test"})
    assert (
        limited.status_code == 429
        and "Too many password reset requests" in limited.content.decode()
    )
