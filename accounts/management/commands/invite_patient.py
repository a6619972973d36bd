"""``manage.py invite_patient``: invite a patient without the admin (a clinic's first patients,
scripts). The same service as the admin and the API (``accounts.services.patient_invite``); the
e-mail goes through the configured backend after commit."""

from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import services
from accounts.emails import app_link
from accounts.models import CLINICIAN_ROLES, Clinic, Role, User
from config.errors import DomainError


class Command(BaseCommand):
    help = (
        "Invites a patient: creates the inactive account and e-mails the activation link. "
        "Example: invite_patient --clinic 'Spine Center' --email ann@example.org "
        "--first-name Ann --last-name Lee --date-of-birth 1961-03-04 --surgeon dr@example.org"
    )

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="the clinic's name or id")
        parser.add_argument("--email", required=True)
        parser.add_argument("--first-name", required=True)
        parser.add_argument("--last-name", required=True)
        parser.add_argument("--date-of-birth", required=True, help="YYYY-MM-DD")
        parser.add_argument("--time-zone", default="", help="IANA zone; default: the clinic's")
        parser.add_argument("--mrn", default="")
        parser.add_argument("--phone", default="")
        parser.add_argument("--surgeon", default="", help="e-mail of a surgeon of the clinic")
        parser.add_argument(
            "--care-team",
            action="append",
            default=[],
            metavar="EMAIL",
            help="e-mail of a clinician of the clinic (repeat for several)",
        )
        parser.add_argument(
            "--show-link",
            action="store_true",
            help="also print the activation link (it is a password-equivalent secret)",
        )

    def handle(self, *args, **options):
        clinic = self._clinic(options["clinic"])
        try:
            born = date.fromisoformat(options["date_of_birth"])
        except ValueError as exc:
            raise CommandError("--date-of-birth must be YYYY-MM-DD.") from exc
        surgeon = (
            self._staff(clinic, options["surgeon"], (Role.SURGEON,)) if options["surgeon"] else None
        )
        team = tuple(self._staff(clinic, e, CLINICIAN_ROLES) for e in options["care_team"])
        try:
            with transaction.atomic():
                invitation, token = services.patient_invite(
                    clinic=clinic,
                    invited_by=None,
                    email=options["email"],
                    first_name=options["first_name"],
                    last_name=options["last_name"],
                    date_of_birth=born,
                    time_zone=options["time_zone"],
                    mrn=options["mrn"],
                    phone=options["phone"],
                    surgeon=surgeon,
                    care_team=team,
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Invitation {invitation.pk} e-mailed to {invitation.email}; "
                f"it expires {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        )
        if options["show_link"]:
            self.stdout.write(app_link("activate", token=token))

    def _clinic(self, value: str) -> Clinic:
        clinic = Clinic.objects.filter(name=value).first()
        if clinic is None and value.isdigit():
            clinic = Clinic.objects.filter(pk=int(value)).first()
        if clinic is None:
            raise CommandError(f"No clinic named {value!r}.")
        return clinic

    def _staff(self, clinic: Clinic, email: str, roles) -> User:
        user = User.objects.filter(email__iexact=email, clinic=clinic, role__in=roles).first()
        if user is None:
            raise CommandError(f"{email} is not a {'/'.join(roles)} of {clinic.name}.")
        return user
