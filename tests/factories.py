"""Test data, built through the real services so tests see what production writes.

Accounts: ``ClinicFactory``, ``StaffFactory``, ``PatientFactory`` (factory_boy, through
``accounts.services``). Clinical records: one builder per table (``surgery``, ``pain_log``...),
each writing through the one write path (``record_create``) with values the services accept,
any of which a test overrides; ``make_record(table, ...)`` picks the builder by table name or
API prefix. Histories: ``build_record`` (a recovery through the services), ``year_of_history``
(volume through the services) and ``bulk_history`` (volume bulk-inserted, for read paths only).
"""

import itertools
import random
from datetime import UTC, date, datetime, time, timedelta

import factory
from django.utils import timezone

from accounts import services
from accounts.models import Clinic
from recovery.activity.models import DailySteps
from recovery.activity.services import daily_steps_record
from recovery.outcomes.kinds import OUTCOME_SCORES
from recovery.preparation.kinds import COMPLICATIONS, IMAGING_STUDIES, PREP_ITEMS
from recovery.record.kinds import (
    APPOINTMENTS,
    HOSPITAL_STAYS,
    MEDICATIONS,
    MILESTONES,
    PAIN_LOGS,
    PT_SESSIONS,
    RESTRICTIONS,
    SURGERIES,
)
from recovery.record.models import (
    ActivityRestriction,
    Appointment,
    HospitalStay,
    Milestone,
    PainLog,
    PTSession,
    Surgery,
)
from recovery.record.writes import record_create

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


# --- clinical records, one builder per table (through the write path) ----------------------


def _create(kind, patient, actor, values):
    return record_create(kind, actor=actor, patient=patient, **values)[0]


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
    return _create(SURGERIES, patient, actor, values)


def hospital_stay(patient, actor, **values):
    if "surgery" not in values:
        values["surgery"] = surgery(patient, actor)
    values = {"admitted_at": timezone.now().replace(microsecond=0) - timedelta(days=9), **values}
    return _create(HOSPITAL_STAYS, patient, actor, values)


def medication(patient, actor=None, **values):
    values = {
        "name": "Oxycodone",
        "dose": "5 mg every 6 hours as needed",
        "started_on": timezone.localdate() - timedelta(days=10),
        **values,
    }
    return _create(MEDICATIONS, patient, actor or patient.user, values)


def pain_log(patient, actor=None, **values):
    values = {
        "recorded_at": timezone.now() - timedelta(hours=2),
        "intensity": 5,
        "location": "back",
        **values,
    }
    return _create(PAIN_LOGS, patient, actor or patient.user, values)


def pt_session(patient, actor, **values):
    values = {
        "scheduled_for": timezone.now() + timedelta(days=1),
        "exercises": [{"name": "bridges", "sets": 3, "reps": 10}],
        **values,
    }
    return _create(PT_SESSIONS, patient, actor, values)


def restriction(patient, actor, **values):
    values = {
        "activity": "lifting",
        "starts_on": timezone.localdate(),
        "limit_value": 10,
        "limit_unit": "lb",
        **values,
    }
    return _create(RESTRICTIONS, patient, actor, values)


def appointment(patient, actor, **values):
    values = {
        "starts_at": timezone.now() + timedelta(days=7),
        "purpose": "wound_check",
        "clinician": actor,
        **values,
    }
    return _create(APPOINTMENTS, patient, actor, values)


def milestone(patient, actor, **values):
    values = {"title": "Walk to the mailbox", "kind": "walk_unaided", **values}
    return _create(MILESTONES, patient, actor, values)


def outcome_score(patient, actor, **values):
    if "timepoint" not in values:
        values["timepoint"], before_surgery = _timepoint_fitting(patient)
        if before_surgery and "completed_at" not in values:
            values["completed_at"] = before_surgery
    values = {
        "instrument": "nrs_leg",
        "completed_at": timezone.now().replace(microsecond=0) - timedelta(hours=2),
        "answers": {"nrs": 4},
        **values,
    }
    return _create(OUTCOME_SCORES, patient, actor, values)


def _timepoint_fitting(patient):
    """The timepoint whose window holds today for the patient's latest surgery (6w without one:
    the other builders make a surgery 6 weeks back), or a baseline the day before the surgery
    (and when to complete it) when today fits no timepoint."""
    from recovery.outcomes.validation import timepoint_for_day
    from recovery.record.models import Surgery

    latest = (
        Surgery.objects.filter(patient=patient, deleted_at__isnull=True)
        .order_by("-performed_on")
        .first()
    )
    if latest is None:
        return "6w", None
    fitting = timepoint_for_day((timezone.localdate() - latest.performed_on).days)
    if fitting:
        return fitting, None
    noon = datetime.combine(latest.performed_on - timedelta(days=1), time(12), tzinfo=UTC)
    return "baseline", noon


def prep_item(patient, actor, **values):
    """A checklist item; without ``surgery``, of a new surgery 30 days ahead."""
    if "surgery" not in values:
        values["surgery"] = surgery(
            patient, actor, performed_on=timezone.localdate() + timedelta(days=30)
        )
    values = {
        "kind": "home",
        "owner": "care_team",
        "due_on": timezone.localdate() + timedelta(days=20),
        **values,
    }
    return _create(PREP_ITEMS, patient, actor, values)


def imaging_study(patient, actor, **values):
    values = {
        "modality": "xray",
        "performed_on": timezone.localdate() - timedelta(days=2),
        "region": "lumbar",
        "purpose": "post_op_check",
        **values,
    }
    return _create(IMAGING_STUDIES, patient, actor, values)


def complication(patient, actor, **values):
    values = {
        "kind": "delayed_wound_healing",
        "noticed_on": timezone.localdate() - timedelta(days=2),
        "severity": "mild",
        **values,
    }
    return _create(COMPLICATIONS, patient, actor, values)


_STEP_DAYS = itertools.count(1)


def daily_steps(patient, actor=None, **values):
    """One day's steps through the service (merged by day); by default each call a day
    further back, so that several calls make several rows."""
    values = {
        "day": timezone.localdate(timezone=patient.tz) - timedelta(days=next(_STEP_DAYS) % 3000),
        "steps": 4321,
        **values,
    }
    return daily_steps_record(actor=actor or patient.user, patient=patient, **values)[0]


BUILDERS = {
    "surgeries": surgery,
    "daily_steps": daily_steps,
    "hospital_stays": hospital_stay,
    "medications": medication,
    "pain_logs": pain_log,
    "pt_sessions": pt_session,
    "restrictions": restriction,
    "appointments": appointment,
    "milestones": milestone,
    "outcome_scores": outcome_score,
    "prep_items": prep_item,
    "imaging_studies": imaging_study,
    "complications": complication,
}


def wound_photo(patient, actor=None, **values):
    """A photo uploaded by the patient (``actor`` is ignored: only patients upload), through
    the real upload service: checked, cleaned and stored by the test's photo storage."""
    from recovery.photos.services import wound_photo_upload
    from tests.recovery.photos.images import jpeg_with_gps

    data = values.pop("data", None) or jpeg_with_gps()
    photo, _ = wound_photo_upload(
        actor=patient.user, patient=patient, data=data, content_type="image/jpeg", **values
    )
    return photo


BUILDERS["wound_photos"] = wound_photo


def make_record(table: str, patient, actor, **values):
    """One record of ``table`` (a table name, ``pain_logs``, or an API prefix, ``pain-logs``)
    for ``patient``, written by ``actor``."""
    return BUILDERS[table.replace("-", "_")](patient, actor, **values)


# --- histories -------------------------------------------------------------------------------


def build_record(patient, actor, *, days: int = 30, now=None) -> dict:
    """A recovery of ``days`` days (surgery ``days`` ago) through the real services.

    Returns the rows created, by kind. Pain logs: two a day, from the patient."""
    now = now or timezone.now()
    today = timezone.localdate(now, timezone=patient.tz)
    surgery_day = today - timedelta(days=days)
    rows: dict = {}
    prior = surgery(
        patient,
        actor,
        performed_on=surgery_day - timedelta(days=800),
        levels="L4-L5",
        procedure="fusion",
        is_revision=False,
        revision_reasons=[],
        surgeon=None,
    )
    revision = surgery(
        patient,
        actor,
        performed_on=surgery_day,
        levels="L4-L5-S1",
        procedure="hardware_revision",
        revision_reasons=["pseudarthrosis", "hardware_complication"],
        prior_surgery=prior,
        surgeon=patient.surgeon,
    )
    admitted = now - timedelta(days=days)
    stay = hospital_stay(
        patient,
        actor,
        surgery=revision,
        admitted_at=admitted,
        # Exactly three days: three nights whatever the time of day the test runs at (with a
        # few hours more, a run after 22:00 UTC made it four calendar days).
        discharged_at=admitted + timedelta(days=3),
        facility="General",
        discharge_disposition="home",
    )
    pain = [
        pain_log(
            patient,
            recorded_at=now - timedelta(days=d, hours=hours % 7),
            intensity=intensity,
            location=location,
        )
        for d in range(days)
        for hours, location, intensity in ((9, "back", 3 + d % 5), (20, "leg", 2 + d % 3))
    ]
    pt = [
        pt_session(
            patient,
            actor,
            scheduled_for=now - timedelta(days=d),
            performed_at=now - timedelta(days=d),
            status="completed",
            setting="clinic",
            duration_minutes=45,
            pain_before=5,
            pain_after=3,
            exercises=[],
        )
        for d in range(1, days, 7)
    ]
    overdue_pt = pt_session(
        patient,
        actor,
        scheduled_for=now - timedelta(hours=30),
        status="planned",
        exercises=[],
    )
    appointments = [
        appointment(
            patient,
            actor,
            starts_at=now + timedelta(days=offset),
            purpose="follow_up",
            clinician=patient.surgeon,
            location="Clinic B",
        )
        for offset in (-days + 10, 14)
    ]
    restrictions = [
        restriction(
            patient,
            actor,
            activity="lifting",
            limit_value=10,
            limit_unit="lb",
            starts_on=surgery_day,
            ends_on=today + timedelta(days=12),
        ),
        restriction(
            patient,
            actor,
            activity="driving",
            starts_on=surgery_day,
            limit_value=None,
            limit_unit="",
        ),
    ]
    milestones = [
        milestone(
            patient,
            actor,
            title="Walk unaided",
            kind="walk_unaided",
            target_on=surgery_day + timedelta(days=3),
            achieved_on=surgery_day + timedelta(days=2),
        ),
        milestone(
            patient,
            actor,
            title="Off opioids",
            kind="off_opioids",
            target_on=today - timedelta(days=2),
        ),
    ]
    rows.update(
        surgery=revision,
        prior=prior,
        stay=stay,
        pain=pain,
        pt=pt,
        overdue_pt=overdue_pt,
        appointments=appointments,
        restrictions=restrictions,
        milestones=milestones,
    )
    return rows


def year_of_history(patient, surgeon, *, days=365, per_day=5):
    """About ``days * per_day`` rows across the tables, through the services: pain logs, PT
    sessions, milestones, restrictions and appointments, the mix a patient's first year
    produces."""
    start = timezone.now() - timedelta(days=days)
    op = surgery(patient, surgeon, performed_on=start.date())
    hospital_stay(
        patient, surgeon, surgery=op, admitted_at=start, discharged_at=start + timedelta(days=3)
    )
    count = 2
    for day in range(days):
        when = start + timedelta(days=day, hours=9)
        for n in range(per_day - 1):
            pain_log(patient, recorded_at=when + timedelta(minutes=n), intensity=(day + n) % 11)
            count += 1
        if day % 3 == 0:
            pt_session(
                patient, patient.user, performed_at=when, status="completed", scheduled_for=None
            )
        elif day % 3 == 1:
            milestone(patient, surgeon, title=f"Goal {day}", target_on=when.date())
        else:
            restriction(
                patient, surgeon, starts_on=when.date(), ends_on=when.date() + timedelta(days=30)
            )
        count += 1
    return count


def bulk_history(patient, actor, *, days: int, seed: int = 7) -> dict:
    """Volume for read-path tests, bulk-inserted (not through the write path: no sync stamps,
    no reminders). Steps every day (from 14 days before the surgery), about three pain logs a day, a PT session a week, an appointment a month, a
    restriction and a milestone a month, over ``days`` days ending today."""
    rng = random.Random(seed)
    tz = patient.tz
    today = timezone.localdate(timezone=tz)
    first = today - timedelta(days=days)
    now = timezone.now()

    def at(day, hour):
        return datetime.combine(day, time(hour), tzinfo=tz)

    common = {"patient": patient, "created_by": actor}
    op = Surgery.objects.create(
        performed_on=first,
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        is_revision=True,
        revision_reasons=["pseudarthrosis"],
        **common,
    )
    HospitalStay.objects.create(
        surgery=op,
        admitted_at=at(first, 7),
        discharged_at=at(first + timedelta(days=4), 11),
        discharge_disposition="home",
        **common,
    )
    pain, pt, appts, restrictions, milestones, steps = [], [], [], [], [], []
    for i in range(-14, days):  # steps from two weeks before the surgery: a baseline
        steps.append(
            DailySteps(day=first + timedelta(days=i), steps=rng.randint(0, 12000), **common)
        )
    for i in range(days):
        day = first + timedelta(days=i)
        for hour, location in ((8, "back"), (13, "leg"), (20, "back")):
            when = at(day, hour)
            if when < now:
                pain.append(
                    PainLog(
                        recorded_at=when,
                        intensity=rng.randint(0, 10),
                        location=location,
                        medication_taken=rng.random() < 0.3,
                        **common,
                    )
                )
        if i % 7 == 3:
            pt.append(
                PTSession(
                    scheduled_for=at(day, 10),
                    performed_at=at(day, 10),
                    status="completed",
                    duration_minutes=40,
                    pain_before=5,
                    pain_after=3,
                    **common,
                )
            )
        if i % 27 == 5:
            appts.append(
                Appointment(starts_at=at(day, 9), purpose="follow_up", status="completed", **common)
            )
        if i % 36 == 1:
            restrictions.append(
                ActivityRestriction(
                    activity="lifting", starts_on=day, ends_on=day + timedelta(days=30), **common
                )
            )
            milestones.append(
                Milestone(
                    title=f"Milestone {i}",
                    target_on=day + timedelta(days=20),
                    achieved_on=day + timedelta(days=18),
                    **common,
                )
            )
    PainLog.objects.bulk_create(pain, batch_size=500)
    PTSession.objects.bulk_create(pt)
    Appointment.objects.bulk_create(appts)
    ActivityRestriction.objects.bulk_create(restrictions)
    Milestone.objects.bulk_create(milestones)
    DailySteps.objects.bulk_create(steps, batch_size=500)
    return {
        "steps": len(steps),
        "pain": len(pain),
        "pt": len(pt),
        "appointments": len(appts),
        "restrictions": len(restrictions),
        "milestones": len(milestones),
    }
