"""Fixtures for the clinical-record API: the cast of the permission matrix and valid request
bodies of every kind (records themselves come from ``tests.factories.make_record``)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import StaffFactory


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
            "performed_on": str(today - timedelta(days=10)),
            "region": "lumbar",
            "levels": "L4-L5",
            "procedure": "fusion",
            "is_revision": True,
            "revision_reasons": ["pseudarthrosis"],
        },
        "hospital-stays": {"admitted_at": (now - timedelta(days=9)).isoformat()},
        "medications": {
            "name": "Gabapentin",
            "dose": "300 mg at night",
            "started_on": str(today - timedelta(days=14)),
        },
        "pain-logs": {
            "recorded_at": now.isoformat(),
            "intensity": 4,
            "location": "back",
            "relief": ["ice"],
        },
        "pt-sessions": {
            "performed_at": now.isoformat(),
            "status": "completed",
            "pain_before": 5,
            "pain_after": 3,
            "exercises": [{"name": "bridges", "sets": 3, "reps": 10}],
        },
        "restrictions": {
            "activity": "lifting",
            "limit_value": "10.00",
            "limit_unit": "lb",
            "starts_on": str(today - timedelta(days=2)),
            "ends_on": str(today + timedelta(days=40)),
        },
        "appointments": {
            "starts_at": (now + timedelta(days=7)).isoformat(),
            "ends_at": (now + timedelta(days=7, minutes=30)).isoformat(),
            "purpose": "wound_check",
        },
        "milestones": {
            "title": "Walk 1 km",
            "kind": "walk_unaided",
            "target_on": str(today + timedelta(days=20)),
        },
        "outcome-scores": {
            "instrument": "odi",
            "version": "2.1a",
            "timepoint": "6w",
            "completed_at": now.isoformat(),
            "answers": {f"s{i}": 2 for i in range(1, 11)},
        },
        "prep-items": {
            "kind": "consent",
            "owner": "care_team",
            "due_on": str(today + timedelta(days=5)),
        },
        "imaging-studies": {
            "modality": "ct",
            "performed_on": str(today - timedelta(days=3)),
            "region": "lumbar",
            "levels": "L4-L5",
            "purpose": "fusion_assessment",
            "fusion_status": "partial",
        },
        "daily-steps": {
            "day": str(today - timedelta(days=1)),
            "steps": 5210,
            "source": "healthkit",
        },
        "complications": {
            "kind": "dural_tear",
            "noticed_on": str(today - timedelta(days=1)),
            "severity": "moderate",
        },
    }[prefix]
