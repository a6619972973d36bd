"""Shared set-up of the reminder benchmarks: a PostgreSQL database of their own, migrated."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_reminders"


def setup_django(url: str | None = None) -> str:
    url = url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REALIGN_VAR_DIR", tempfile.mkdtemp(prefix="realign-bench-var-"))
    sys.path.insert(0, str(ROOT))
    _create_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def _create_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def bench_patient():
    from datetime import date

    from accounts import services
    from accounts.models import Clinic, PatientProfile

    profile = PatientProfile.objects.filter(user__email="bench-patient@example.test").first()
    if profile:
        return profile
    clinic = Clinic.objects.filter(name="Bench clinic").first() or services.clinic_create(
        name="Bench clinic"
    )
    return services.patient_create(
        clinic=clinic,
        email="bench-patient@example.test",
        first_name="Bench",
        last_name="Patient",
        date_of_birth=date(1970, 1, 1),
        time_zone="Europe/Berlin",
    )
