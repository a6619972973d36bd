"""Fixtures for the admin tests: one user per role and a patient with a little of everything."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from recovery import services
from tests.factories import ClinicFactory, PatientFactory, StaffFactory


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


def build_record(patient, actor, *, days: int = 30, now=None) -> dict:
    """A recovery of ``days`` days (surgery ``days`` ago) through the real services.

    Returns the rows created, by kind. Pain logs: two a day, from the patient."""
    now = now or timezone.now()
    today = timezone.localdate(now, timezone=patient.tz)
    surgery_day = today - timedelta(days=days)
    rows: dict = {}
    prior, _ = services.surgery_create(
        actor=actor, patient=patient, performed_on=surgery_day - timedelta(days=800),
        region="lumbar", levels="L4-L5", procedure="fusion",
    )
    surgery, _ = services.surgery_create(
        actor=actor, patient=patient, performed_on=surgery_day, region="lumbar",
        levels="L4-L5-S1", procedure="hardware_revision", is_revision=True,
        revision_reasons=["pseudarthrosis", "hardware_complication"], prior_surgery=prior,
        surgeon=patient.surgeon,
    )
    admitted = now - timedelta(days=days)
    stay, _ = services.hospital_stay_create(
        actor=actor, patient=patient, surgery=surgery, admitted_at=admitted,
        discharged_at=admitted + timedelta(days=3, hours=2), facility="General",
        discharge_disposition="home",
    )
    pain = []
    for d in range(days):
        for hours, location, intensity in ((9, "back", 3 + d % 5), (20, "leg", 2 + d % 3)):
            log, _ = services.pain_log_create(
                actor=patient.user, patient=patient,
                recorded_at=now - timedelta(days=d, hours=hours % 7),
                intensity=intensity, location=location,
            )
            pain.append(log)
    pt = [
        services.pt_session_create(
            actor=actor, patient=patient, scheduled_for=now - timedelta(days=d),
            performed_at=now - timedelta(days=d), status="completed", setting="clinic",
            duration_minutes=45, pain_before=5, pain_after=3,
        )[0]
        for d in range(1, days, 7)
    ]
    overdue_pt, _ = services.pt_session_create(
        actor=actor, patient=patient, scheduled_for=now - timedelta(hours=30), status="planned",
    )
    appointments = [
        services.appointment_create(
            actor=actor, patient=patient, starts_at=now + timedelta(days=offset),
            purpose="follow_up", clinician=patient.surgeon, location="Clinic B",
        )[0]
        for offset in (-days + 10, 14)
    ]
    restrictions = [
        services.restriction_create(
            actor=actor, patient=patient, activity="lifting", limit_value=10, limit_unit="lb",
            starts_on=surgery_day, ends_on=today + timedelta(days=12),
        )[0],
        services.restriction_create(
            actor=actor, patient=patient, activity="driving", starts_on=surgery_day,
        )[0],
    ]
    milestones = [
        services.milestone_create(
            actor=actor, patient=patient, title="Walk unaided", kind="walk_unaided",
            target_on=surgery_day + timedelta(days=3), achieved_on=surgery_day + timedelta(days=2),
        )[0],
        services.milestone_create(
            actor=actor, patient=patient, title="Off opioids", kind="off_opioids",
            target_on=today - timedelta(days=2),
        )[0],
    ]
    rows.update(
        surgery=surgery, prior=prior, stay=stay, pain=pain, pt=pt, overdue_pt=overdue_pt,
        appointments=appointments, restrictions=restrictions, milestones=milestones,
    )
    return rows


@pytest.fixture
def record(patient, surgeon):
    return build_record(patient, surgeon)


@pytest.fixture
def other_record(other_patient):
    return build_record(other_patient, other_patient.surgeon, days=5)


__all__ = ["build_record", "date"]
