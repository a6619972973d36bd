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
