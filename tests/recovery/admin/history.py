"""Long histories, bulk-inserted (read-path tests need volume, not the write path)."""

import random
from datetime import datetime, time, timedelta

from django.utils import timezone

from recovery.models import (
    ActivityRestriction,
    Appointment,
    HospitalStay,
    Milestone,
    PainLog,
    PTSession,
    Surgery,
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


def bulk_history(patient, actor, *, days: int, seed: int = 7) -> dict:
    """About three pain logs a day, a PT session a week, an appointment a month, a
    restriction and a milestone a month, over ``days`` days ending today."""
    rng = random.Random(seed)
    tz = patient.tz
    today = timezone.localdate(timezone=tz)
    first = today - timedelta(days=days)
    now = timezone.now()

    def at(day, hour):
        return datetime.combine(day, time(hour), tzinfo=tz)

    common = {"patient": patient, "created_by": actor}
    surgery = Surgery.objects.create(
        performed_on=first, region="lumbar", levels="L4-L5", procedure="fusion",
        is_revision=True, revision_reasons=["pseudarthrosis"], **common,
    )
    HospitalStay.objects.create(
        surgery=surgery, admitted_at=at(first, 7), discharged_at=at(first + timedelta(days=4), 11),
        discharge_disposition="home", **common,
    )
    pain, pt, appts, restrictions, milestones = [], [], [], [], []
    for i in range(days):
        day = first + timedelta(days=i)
        for hour, location in ((8, "back"), (13, "leg"), (20, "back")):
            when = at(day, hour)
            if when < now:
                pain.append(PainLog(
                    recorded_at=when, intensity=rng.randint(0, 10), location=location,
                    medication_taken=rng.random() < 0.3, **common,
                ))
        if i % 7 == 3:
            pt.append(PTSession(
                scheduled_for=at(day, 10), performed_at=at(day, 10), status="completed",
                duration_minutes=40, pain_before=5, pain_after=3, **common,
            ))
        if i % 27 == 5:
            appts.append(Appointment(starts_at=at(day, 9), purpose="follow_up",
                                     status="completed", **common))
        if i % 36 == 1:
            restrictions.append(ActivityRestriction(
                activity="lifting", starts_on=day, ends_on=day + timedelta(days=30), **common))
            milestones.append(Milestone(title=f"Milestone {i}", target_on=day + timedelta(days=20),
                                        achieved_on=day + timedelta(days=18), **common))
    PainLog.objects.bulk_create(pain, batch_size=500)
    PTSession.objects.bulk_create(pt)
    Appointment.objects.bulk_create(appts)
    ActivityRestriction.objects.bulk_create(restrictions)
    Milestone.objects.bulk_create(milestones)
    return {"pain": len(pain), "pt": len(pt), "appointments": len(appts),
            "restrictions": len(restrictions), "milestones": len(milestones)}


def build_record(patient, actor, *, days: int = 30, now=None) -> dict:
    """A recovery of ``days`` days (surgery ``days`` ago) through the real services.

    Returns the rows created, by kind. Pain logs: two a day, from the patient."""
    now = now or timezone.now()
    today = timezone.localdate(now, timezone=patient.tz)
    surgery_day = today - timedelta(days=days)
    rows: dict = {}
    prior, _ = surgery_create(
        actor=actor, patient=patient, performed_on=surgery_day - timedelta(days=800),
        region="lumbar", levels="L4-L5", procedure="fusion",
    )
    surgery, _ = surgery_create(
        actor=actor, patient=patient, performed_on=surgery_day, region="lumbar",
        levels="L4-L5-S1", procedure="hardware_revision", is_revision=True,
        revision_reasons=["pseudarthrosis", "hardware_complication"], prior_surgery=prior,
        surgeon=patient.surgeon,
    )
    admitted = now - timedelta(days=days)
    stay, _ = hospital_stay_create(
        actor=actor, patient=patient, surgery=surgery, admitted_at=admitted,
        discharged_at=admitted + timedelta(days=3, hours=2), facility="General",
        discharge_disposition="home",
    )
    pain = []
    for d in range(days):
        for hours, location, intensity in ((9, "back", 3 + d % 5), (20, "leg", 2 + d % 3)):
            log, _ = pain_log_create(
                actor=patient.user, patient=patient,
                recorded_at=now - timedelta(days=d, hours=hours % 7),
                intensity=intensity, location=location,
            )
            pain.append(log)
    pt = [
        pt_session_create(
            actor=actor, patient=patient, scheduled_for=now - timedelta(days=d),
            performed_at=now - timedelta(days=d), status="completed", setting="clinic",
            duration_minutes=45, pain_before=5, pain_after=3,
        )[0]
        for d in range(1, days, 7)
    ]
    overdue_pt, _ = pt_session_create(
        actor=actor, patient=patient, scheduled_for=now - timedelta(hours=30), status="planned",
    )
    appointments = [
        appointment_create(
            actor=actor, patient=patient, starts_at=now + timedelta(days=offset),
            purpose="follow_up", clinician=patient.surgeon, location="Clinic B",
        )[0]
        for offset in (-days + 10, 14)
    ]
    restrictions = [
        restriction_create(
            actor=actor, patient=patient, activity="lifting", limit_value=10, limit_unit="lb",
            starts_on=surgery_day, ends_on=today + timedelta(days=12),
        )[0],
        restriction_create(
            actor=actor, patient=patient, activity="driving", starts_on=surgery_day,
        )[0],
    ]
    milestones = [
        milestone_create(
            actor=actor, patient=patient, title="Walk unaided", kind="walk_unaided",
            target_on=surgery_day + timedelta(days=3), achieved_on=surgery_day + timedelta(days=2),
        )[0],
        milestone_create(
            actor=actor, patient=patient, title="Off opioids", kind="off_opioids",
            target_on=today - timedelta(days=2),
        )[0],
    ]
    rows.update(
        surgery=surgery, prior=prior, stay=stay, pain=pain, pt=pt, overdue_pt=overdue_pt,
        appointments=appointments, restrictions=restrictions, milestones=milestones,
    )
    return rows
