"""Test data built through the real services, so tests see what production writes."""

from datetime import date

import factory

from accounts import services
from accounts.models import Clinic

PASSWORD = "correct-horse-battery"


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    time_zone = "America/New_York"


class StaffFactory(factory.Factory):
    class Meta:
        model = dict

    clinic = factory.SubFactory(ClinicFactory)
    email = factory.Sequence(lambda n: f"staff{n}@example.test")
    role = "surgeon"
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, **kwargs):
        return services.staff_create(**kwargs)

    _build = _create


class PatientFactory(factory.Factory):
    class Meta:
        model = dict

    clinic = factory.SubFactory(ClinicFactory)
    email = factory.Sequence(lambda n: f"patient{n}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    date_of_birth = date(1970, 5, 17)
    time_zone = "America/New_York"
    mrn = factory.Sequence(lambda n: f"MRN{n:05d}")
    surgeon = None
    care_team = ()
    password = PASSWORD

    @classmethod
    def _create(cls, model_class, **kwargs):
        return services.patient_create(**kwargs)

    _build = _create
