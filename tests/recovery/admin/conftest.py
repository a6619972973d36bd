"""Fixtures for the admin tests: one user per role and a patient with a little of everything."""

import pytest

from tests.factories import ClinicFactory, PatientFactory, StaffFactory, build_record


@pytest.fixture
def clinic_admin(clinic):
    return StaffFactory(clinic=clinic, role="clinic_admin")


@pytest.fixture
def foreign_clinic_admin(db):
    return StaffFactory(clinic=ClinicFactory(), role="clinic_admin")


@pytest.fixture
def outsider_surgeon(other_patient):
    """A surgeon of the same clinic, on another patient's team only."""
    return other_patient.surgeon


@pytest.fixture
def foreign_patient(foreign_clinic_admin):
    """A patient of the other clinic, with their own surgeon."""
    other = foreign_clinic_admin.clinic
    return PatientFactory(clinic=other, surgeon=StaffFactory(clinic=other, role="surgeon"))


@pytest.fixture
def record(patient, surgeon):
    return build_record(patient, surgeon)


@pytest.fixture
def other_record(other_patient):
    return build_record(other_patient, other_patient.surgeon, days=5)


__all__ = ["build_record"]
