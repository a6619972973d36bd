"""Rows for the sync tests, written through the real services (as production writes them)."""

from datetime import timedelta

from django.utils import timezone

from recovery.record.services import (
    appointment_create,
    hospital_stay_create,
    milestone_create,
    pain_log_create,
    pt_session_create,
    restriction_create,
    surgery_create,
)


def pain_log(patient, actor=None, **values):
    values = {"recorded_at": timezone.now() - timedelta(hours=2), "intensity": 5, "location": "back", **values}
    return pain_log_create(actor=actor or patient.user, patient=patient, **values)[0]


def restriction(patient, actor, **values):
    values = {"activity": "lifting", "starts_on": timezone.localdate(), "limit_value": 10, "limit_unit": "lb", **values}
    return restriction_create(actor=actor, patient=patient, **values)[0]


def milestone(patient, actor, **values):
    values = {"title": "Walk to the mailbox", "kind": "walk_unaided", **values}
    return milestone_create(actor=actor, patient=patient, **values)[0]


def surgery(patient, actor, **values):
    values = {
        "performed_on": timezone.localdate() - timedelta(days=30),
        "region": "lumbar",
        "levels": "L4-L5",
        "procedure": "fusion",
        "is_revision": True,
        "revision_reasons": ["pseudarthrosis"],
        "surgeon": actor,
        **values,
    }
    return surgery_create(actor=actor, patient=patient, **values)[0]


def pt_session(patient, actor, **values):
    values = {"scheduled_for": timezone.now() + timedelta(days=1), "exercises": [{"name": "bridges", "sets": 3, "reps": 10}], **values}
    return pt_session_create(actor=actor, patient=patient, **values)[0]


def appointment(patient, actor, **values):
    values = {"starts_at": timezone.now() + timedelta(days=7), "purpose": "wound_check", "clinician": actor, **values}
    return appointment_create(actor=actor, patient=patient, **values)[0]


def year_of_history(patient, surgeon, *, days=365, per_day=5):
    """About ``days * per_day`` rows across the tables: pain logs, PT sessions, milestones,
    restrictions and appointments, the mix a patient's first year produces."""
    start = timezone.now() - timedelta(days=days)
    op = surgery(patient, surgeon, performed_on=start.date())
    hospital_stay_create(
        actor=surgeon, patient=patient, surgery=op, admitted_at=start, discharged_at=start + timedelta(days=3)
    )
    count = 2
    for day in range(days):
        when = start + timedelta(days=day, hours=9)
        for n in range(per_day - 1):
            pain_log(patient, recorded_at=when + timedelta(minutes=n), intensity=(day + n) % 11)
            count += 1
        if day % 3 == 0:
            pt_session(patient, patient.user, performed_at=when, status="completed", scheduled_for=None)
        elif day % 3 == 1:
            milestone(patient, surgeon, title=f"Goal {day}", target_on=when.date())
        else:
            restriction(patient, surgeon, starts_on=when.date(), ends_on=when.date() + timedelta(days=30))
        count += 1
    return count
