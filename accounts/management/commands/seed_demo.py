from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.module_loading import import_string

from accounts import services
from accounts.models import Clinic, PatientProfile, Role, User

DEMO_PASSWORD = "realign-demo"  # noqa: S105 - documented demo password, refused in production


class Command(BaseCommand):
    help = "Creates the demo clinic, staff and patients (idempotent). Refused in production mode."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run in production mode.")
        with transaction.atomic():
            accounts = seed_accounts()
            for path in getattr(settings, "SEED_DEMO_STEPS", ()):
                import_string(path)(**accounts)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        for email in (
            "admin@demo.test",
            "surgeon@demo.test",
            "surgeon2@demo.test",
            "nurse@demo.test",
            "patient@demo.test",
            "patient2@demo.test",
        ):
            self.stdout.write(f"  {email} / {DEMO_PASSWORD}")


def _staff(clinic, email, role, first, last, title=""):
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = services.staff_create(
            clinic=clinic,
            email=email,
            role=role,
            first_name=first,
            last_name=last,
            password=DEMO_PASSWORD,
            title=title,
        )
    return user


def _patient(clinic, email, first, last, dob, tz, mrn, surgeon, team=()):
    profile = PatientProfile.objects.filter(user__email__iexact=email).first()
    if profile is None:
        profile = services.patient_create(
            clinic=clinic,
            email=email,
            first_name=first,
            last_name=last,
            date_of_birth=dob,
            time_zone=tz,
            mrn=mrn,
            surgeon=surgeon,
            care_team=team,
            password=DEMO_PASSWORD,
            smoking_status="former",
            has_diabetes=True,
            bmi="29.4",
        )
    return profile


def seed_accounts() -> dict:
    clinic = Clinic.objects.filter(name="Demo Spine Center").first() or services.clinic_create(
        name="Demo Spine Center", time_zone="America/New_York"
    )
    _staff(clinic, "admin@demo.test", Role.CLINIC_ADMIN, "Alex", "Admin")
    surgeon = _staff(clinic, "surgeon@demo.test", Role.SURGEON, "Maria", "Okafor", "MD")
    surgeon2 = _staff(clinic, "surgeon2@demo.test", Role.SURGEON, "David", "Lindqvist", "MD")
    nurse = _staff(clinic, "nurse@demo.test", Role.NURSE, "Sam", "Reyes", "RN")
    patient = _patient(
        clinic,
        "patient@demo.test",
        "Jordan",
        "Miller",
        date(1968, 4, 12),
        "America/New_York",
        "MRN-1001",
        surgeon,
        (nurse,),
    )
    patient2 = _patient(
        clinic,
        "patient2@demo.test",
        "Robin",
        "Schultz",
        date(1975, 9, 3),
        "Europe/Berlin",
        "MRN-1002",
        surgeon2,
    )
    return {
        "clinic": clinic,
        "surgeon": surgeon,
        "surgeon2": surgeon2,
        "nurse": nurse,
        "patient": patient,
        "patient2": patient2,
    }
