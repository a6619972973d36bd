"""Fixtures for the clinical-record API: the cast of the permission matrix and records of
every kind, built through the real services."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recovery.outcomes.services import outcome_score_create
from recovery.preparation.services import (
    complication_create,
    imaging_study_create,
    prep_item_create,
)
from recovery.record.services import (
    appointment_create,
    hospital_stay_create,
    milestone_create,
    pain_log_create,
    pt_session_create,
    restriction_create,
    surgery_create,
)
from tests.factories import StaffFactory


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Users are made for nearly every test here; Argon2 is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def outsider(clinic):
    """A surgeon of the same clinic, not on the patient's team."""
    return StaffFactory(clinic=clinic, role="surgeon")


@pytest.fixture
def foreign_admin(db):
    """A clinic admin of another clinic."""
    return StaffFactory(role="clinic_admin")


@pytest.fixture
def clinic_admin(clinic):
    return StaffFactory(clinic=clinic, role="clinic_admin")


def _now():
    return timezone.now().replace(microsecond=0)


def valid_values(prefix: str, patient) -> dict:
    """Create values (wire form) of each kind that the services accept."""
    now = _now()
    today = timezone.localdate()
    return {
        "surgeries": {
            "performed_on": str(today - timedelta(days=10)), "region": "lumbar", "levels": "L4-L5",
            "procedure": "fusion", "is_revision": True, "revision_reasons": ["pseudarthrosis"],
        },
        "hospital-stays": {"admitted_at": (now - timedelta(days=9)).isoformat()},
        "pain-logs": {"recorded_at": now.isoformat(), "intensity": 4, "location": "back", "relief": ["ice"]},
        "pt-sessions": {
            "performed_at": now.isoformat(), "status": "completed", "pain_before": 5, "pain_after": 3,
            "exercises": [{"name": "bridges", "sets": 3, "reps": 10}],
        },
        "restrictions": {
            "activity": "lifting", "limit_value": "10.00", "limit_unit": "lb",
            "starts_on": str(today - timedelta(days=2)), "ends_on": str(today + timedelta(days=40)),
        },
        "appointments": {
            "starts_at": (now + timedelta(days=7)).isoformat(),
            "ends_at": (now + timedelta(days=7, minutes=30)).isoformat(), "purpose": "wound_check",
        },
        "milestones": {"title": "Walk 1 km", "kind": "walk_unaided", "target_on": str(today + timedelta(days=20))},
        "outcome-scores": {
            "instrument": "odi", "version": "2.1a", "timepoint": "6w", "completed_at": now.isoformat(),
            "answers": {f"s{i}": 2 for i in range(1, 11)},
        },
        "prep-items": {"kind": "consent", "owner": "care_team", "due_on": str(today + timedelta(days=5))},
        "imaging-studies": {
            "modality": "ct", "performed_on": str(today - timedelta(days=3)), "region": "lumbar",
            "levels": "L4-L5", "purpose": "fusion_assessment", "fusion_status": "partial",
        },
        "complications": {"kind": "dural_tear", "noticed_on": str(today - timedelta(days=1)), "severity": "moderate"},
    }[prefix]


def make_record(prefix: str, patient, actor, **overrides):
    """One record of ``prefix`` for ``patient``, written by ``actor`` through the services."""
    now = _now()
    today = timezone.localdate()
    if prefix == "surgeries":
        values = {"performed_on": today - timedelta(days=10), "region": "lumbar", "levels": "L4-L5", "procedure": "fusion"}
        create = surgery_create
    elif prefix == "hospital-stays":
        surgery = make_record("surgeries", patient, actor)
        values = {"surgery": surgery, "admitted_at": now - timedelta(days=9)}
        create = hospital_stay_create
    elif prefix == "pain-logs":
        values = {"recorded_at": now - timedelta(hours=1), "intensity": 6, "location": "leg"}
        create = pain_log_create
    elif prefix == "pt-sessions":
        values = {"scheduled_for": now + timedelta(days=1), "status": "planned"}
        create = pt_session_create
    elif prefix == "restrictions":
        values = {"activity": "bending", "starts_on": today - timedelta(days=1)}
        create = restriction_create
    elif prefix == "appointments":
        values = {"starts_at": now + timedelta(days=3), "ends_at": now + timedelta(days=3, minutes=20), "purpose": "follow_up"}
        create = appointment_create
    elif prefix == "milestones":
        values = {"title": "First shower", "kind": "first_shower", "target_on": today + timedelta(days=5)}
        create = milestone_create
    elif prefix == "outcome-scores":
        values = {
            "instrument": "nrs_leg", "timepoint": "3m", "completed_at": now - timedelta(hours=2),
            "answers": {"nrs": 4},
        }
        create = outcome_score_create
    elif prefix == "prep-items":
        surgery = make_record("surgeries", patient, actor, performed_on=today + timedelta(days=30)) if "surgery" not in overrides else None
        values = {"surgery": surgery, "kind": "home", "owner": "care_team", "due_on": today + timedelta(days=20)}
        create = prep_item_create
    elif prefix == "imaging-studies":
        values = {"modality": "xray", "performed_on": today - timedelta(days=2), "region": "lumbar", "purpose": "post_op_check"}
        create = imaging_study_create
    elif prefix == "complications":
        values = {"kind": "delayed_wound_healing", "noticed_on": today - timedelta(days=2), "severity": "mild"}
        create = complication_create
    else:
        raise KeyError(prefix)
    values.update(overrides)
    record, _ = create(actor=actor, patient=patient, **values)
    return record
