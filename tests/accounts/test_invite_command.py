"""``manage.py invite_patient``: onboarding a clinic's patient without the admin."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from accounts.models import Invitation
from tests.accounts.helpers import link_in

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("invite_patient", *args, stdout=out)
    return out.getvalue()


def base(clinic, email="cmd@example.test"):
    return [
        "--clinic",
        clinic.name,
        "--email",
        email,
        "--first-name",
        "Cee",
        "--last-name",
        "Md",
        "--date-of-birth",
        "1970-01-02",
    ]


def test_invites_with_surgeon_team_and_mails_the_link(
    clinic, surgeon, nurse, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        out = run(
            *base(clinic),
            "--surgeon",
            surgeon.email.upper(),
            "--care-team",
            nurse.email,
            "--phone",
            "+1 555 0100",
        )
    invitation = Invitation.objects.get()
    assert f"Invitation {invitation.pk} e-mailed to cmd@example.test" in out
    assert "activate?token=" not in out  # the secret is printed only when asked
    profile = invitation.patient
    assert profile.surgeon == surgeon and set(profile.care_team.all()) == {surgeon, nurse}
    assert profile.time_zone == clinic.time_zone and profile.phone == "+1 555 0100"
    assert invitation.created_by is None
    assert link_in(mail.outbox[-1].body, "activate")["token"]


def test_show_link_prints_the_activation_link(clinic):
    out = run(*base(clinic), "--show-link")
    assert "realign://activate?token=" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--date-of-birth", "02/01/1970"], "YYYY-MM-DD"),
        (["--surgeon", "nobody@example.test"], "is not a surgeon"),
        (["--time-zone", "Mars/Olympus"], "not an IANA time zone"),
    ],
)
def test_bad_arguments_fail_cleanly_and_write_nothing(clinic, extra, message):
    with pytest.raises(CommandError, match=message):
        run(*base(clinic), *extra)
    assert not Invitation.objects.exists()


def test_another_clinics_surgeon_is_refused(clinic):
    from tests.factories import ClinicFactory, StaffFactory

    far = StaffFactory(clinic=ClinicFactory(), role="surgeon")
    with pytest.raises(CommandError, match="is not a surgeon"):
        run(*base(clinic), "--surgeon", far.email)
    with pytest.raises(CommandError, match="No clinic named"):
        run(*base(clinic)[:0], "--clinic", "Nowhere", *base(clinic)[2:])
