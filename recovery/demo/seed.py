"""Clinical demo data for ``seed_demo``: a believable revision recovery for patient@demo.test.

Written through the real services (so sync stamps and reminders follow), with fixed ids and a
seeded random generator; the revision gets the default protocol's plan through
``protocol_apply``, like a surgery in the admin. Idempotent: if the demo revision exists, nothing is
added, except what a later version of the demo added and this database lacks (the medication
lists and the wound photo, by their fixed ids: a row deleted since is not brought back).

The wound photo is drawn with Pillow here (no image file in the repository) and uploaded
through ``wound_photo_upload``, so it is cleaned and stored as a phone's upload would be, in the
configured storage (the embedded default: files under ``var/``); its thumbnail is made at once
(no worker needed to see it) and the nurse has reviewed it.
"""

import io
import random
from datetime import datetime, time, timedelta

from django.utils import timezone

from recovery.activity.selectors import expected_fraction
from recovery.activity.services import daily_steps_put
from recovery.care.models import Protocol
from recovery.care.protocols import protocol_apply
from recovery.outcomes.kinds import OUTCOME_SCORES
from recovery.photos.models import WoundPhoto
from recovery.photos.services import (
    wound_photo_review,
    wound_photo_thumbnail_store,
    wound_photo_upload,
)
from recovery.preparation.kinds import COMPLICATIONS, IMAGING_STUDIES, PREP_ITEMS
from recovery.preparation.services import complication_resolve, prep_item_complete
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
from recovery.record.models import Appointment, Medication, Surgery
from recovery.record.services import appointment_complete
from recovery.record.writes import record_create, record_update

REVISION_ID = "demo-revision-l4l5"
REVISION2_ID = "demo2-revision"

OXYCODONE = "demo-med-oxycodone"
ACETAMINOPHEN = "demo-med-acetaminophen"
GABAPENTIN = "demo-med-gabapentin"
# (id, who writes it, name, dose, first day, last day (None: still taken), notes); days from
# the surgery. No NSAIDs: they are held after a fusion (the protocol's restriction).
MEDICATION_LIST = (
    (
        OXYCODONE,
        "surgeon",
        "Oxycodone",
        "5 mg every 4-6 hours as needed for severe pain",
        0,
        30,
        "Short course after surgery. No driving while taking it.",
    ),
    (
        ACETAMINOPHEN,
        "surgeon",
        "Acetaminophen (paracetamol)",
        "1 g every 8 hours, at most 3 g a day",
        0,
        None,
        "",
    ),
    (
        GABAPENTIN,
        "surgeon",
        "Gabapentin",
        "300 mg three times a day",
        0,
        None,
        "For the nerve pain in the left leg. Do not stop suddenly.",
    ),
    (
        "demo-med-senna",
        "surgeon",
        "Senna-docusate",
        "8.6 mg/50 mg, 2 tablets at bedtime",
        0,
        30,
        "While taking oxycodone, against constipation.",
    ),
    ("demo-med-melatonin", "patient", "Melatonin", "3 mg at bedtime", 10, None, ""),
)
MEDICATION_LIST_2 = (
    (
        "demo2-med-tramadol",
        "surgeon",
        "Tramadol",
        "50 mg every 6 hours as needed",
        0,
        10,
        "Short course after surgery.",
    ),
    (
        "demo2-med-acetaminophen",
        "surgeon",
        "Acetaminophen (paracetamol)",
        "1 g every 8 hours, at most 3 g a day",
        0,
        None,
        "",
    ),
)


def _local(patient, day, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=patient.tz)


def seed_medications(*, patient, surgeon, day0, medications=MEDICATION_LIST) -> None:
    """The patient's medication list, through the write path, each row once by its fixed id
    (a row deleted since stays deleted)."""
    known = set(
        Medication.all_objects.filter(pk__in=[m[0] for m in medications]).values_list(
            "pk", flat=True
        )
    )
    for mid, author, name, dose, first, last, notes in medications:
        if mid in known:
            continue
        record_create(
            MEDICATIONS,
            actor=patient.user if author == "patient" else surgeon,
            patient=patient,
            id=mid,
            name=name,
            dose=dose,
            started_on=day0 + timedelta(days=first),
            stopped_on=day0 + timedelta(days=last) if last is not None else None,
            notes=notes,
        )


def _medications_taken(n: int, location: str) -> list[str]:
    """What a pain log on post-op day ``n`` names when medication was taken."""
    taken = [ACETAMINOPHEN]
    if n <= 30:
        taken.append(OXYCODONE)
    if location == "leg":
        taken.append(GABAPENTIN)
    return taken


def seed_recovery(*, patient, surgeon, nurse, patient2, surgeon2, **_) -> None:
    revision = Surgery.all_objects.filter(pk=REVISION_ID).first()
    if revision is not None:
        # Seeded before: only what a later demo added (the medication lists, the photo).
        seed_medications(patient=patient, surgeon=surgeon, day0=revision.performed_on)
        seed_wound_photo(patient=patient, nurse=nurse, day0=revision.performed_on)
        other = Surgery.all_objects.filter(pk=REVISION2_ID).first()
        if other is not None:
            seed_medications(
                patient=patient2,
                surgeon=surgeon2,
                day0=other.performed_on,
                medications=MEDICATION_LIST_2,
            )
        return
    rng = random.Random(4242)  # noqa: S311 - demo noise, not security
    today = timezone.localdate(timezone=patient.tz)
    day0 = today - timedelta(weeks=8)

    primary, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        id="demo-primary-l4l5",
        performed_on=day0 - timedelta(days=730),
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        facility="Demo Spine Center",
        notes="Primary posterolateral fusion.",
    )
    revision, _ = record_create(
        SURGERIES,
        actor=surgeon,
        patient=patient,
        id=REVISION_ID,
        performed_on=day0,
        region="lumbar",
        levels="L4-L5",
        procedure="fusion",
        is_revision=True,
        revision_reasons=["pseudarthrosis", "hardware_complication"],
        prior_surgery=primary,
        surgeon=surgeon,
        facility="Demo Spine Center",
        estimated_blood_loss_ml=650,
        transfusion_given=False,
        notes="Revision TLIF with screw exchange for pseudarthrosis and a loosened L5 screw.",
    )
    _seed_steps(patient, day0, today)
    seed_wound_photo(patient=patient, nurse=nurse, day0=day0)
    record_create(
        HOSPITAL_STAYS,
        actor=surgeon,
        patient=patient,
        id="demo-stay",
        surgery=revision,
        admitted_at=_local(patient, day0, time(6, 30)),
        discharged_at=_local(patient, day0 + timedelta(days=4), time(11, 0)),
        facility="Demo Spine Center",
        discharge_disposition="home",
    )

    seed_medications(patient=patient, surgeon=surgeon, day0=day0)

    # Eight weeks of pain logs, morning back and evening leg, trending down with noise; a log
    # with medication taken names which of the list.
    for n in range(1, 56):
        day = day0 + timedelta(days=n)
        for slot, (location, at, start) in enumerate(
            (("back", time(8, 30), 7.5), ("leg", time(20, 0), 6.0))
        ):
            level = start - 4.5 * n / 56 + rng.gauss(0, 0.9)
            taken = n < 28 or rng.random() < 0.3
            record_create(
                PAIN_LOGS,
                actor=patient.user,
                patient=patient,
                id=f"demo-pain-{n:03d}-{slot}",
                recorded_at=_local(patient, day, at),
                intensity=max(0, min(10, round(level))),
                location=location,
                medication_taken=taken,
                medications=_medications_taken(n, location) if taken else [],
                relief=rng.sample(["ice", "heat", "rest", "walking"], k=rng.randint(0, 2)),
            )

    # PT from week 2: clinic twice a week, home exercises in between.
    for week in range(2, 9):
        for weekday, setting in ((1, "clinic"), (3, "home"), (4, "clinic")):
            day = day0 + timedelta(weeks=week, days=weekday)
            when = _local(patient, day, time(10, 0))
            past = day < today
            record_create(
                PT_SESSIONS,
                actor=nurse if setting == "clinic" else patient.user,
                patient=patient,
                id=f"demo-pt-{week}-{weekday}",
                scheduled_for=when,
                performed_at=when if past else None,
                status="completed" if past else "planned",
                setting=setting,
                duration_minutes=45 if setting == "clinic" else 25,
                exercises=[
                    {"name": "pelvic tilts", "sets": 2, "reps": 10},
                    {"name": "walking", "minutes": 10 + 2 * week},
                ],
                pain_before=max(0, 6 - week // 2) if past else None,
                pain_after=max(0, 5 - week // 2) if past else None,
                exertion=4 if past else None,
            )

    for rid, activity, weeks, limit, instructions in (
        ("demo-r-lift", "lifting", 6, (10, "lb"), "Nothing heavier than a gallon of milk."),
        ("demo-r-bend", "bending", 6, None, "No bending at the waist; squat with a straight back."),
        ("demo-r-twist", "twisting", 6, None, "Turn your whole body, not your spine."),
        ("demo-r-drive", "driving", 4, None, "No driving, and never while taking opioids."),
        (
            "demo-r-impact",
            "high_impact",
            None,
            None,
            "No running or jumping until fusion is confirmed.",
        ),
    ):
        values = {"limit_value": limit[0], "limit_unit": limit[1]} if limit else {}
        record_create(
            RESTRICTIONS,
            actor=surgeon,
            patient=patient,
            id=rid,
            activity=activity,
            instructions=instructions,
            starts_on=day0,
            ends_on=day0 + timedelta(weeks=weeks) if weeks else None,
            **values,
        )

    for aid, offset, purpose, imaging in (
        ("demo-appt-2w", timedelta(weeks=2), "wound_check", "none"),
        ("demo-appt-6w", timedelta(weeks=6), "follow_up", "xray"),
        ("demo-appt-3m", timedelta(days=91), "imaging_review", "xray"),
        ("demo-appt-6m", timedelta(days=182), "imaging_review", "xray"),
        ("demo-appt-12m", timedelta(days=365), "imaging_review", "ct"),
    ):
        day = day0 + offset
        starts = _local(patient, day, time(9, 30))
        appointment, _ = record_create(
            APPOINTMENTS,
            actor=surgeon,
            patient=patient,
            id=aid,
            clinician=surgeon,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=30),
            location="Demo Spine Center, clinic 3",
            purpose=purpose,
            imaging=imaging,
        )
        if day < today:
            appointment_complete(actor=surgeon, appointment=appointment)

    for mid, kind, title, target, achieved in (
        ("demo-m-walk", "walk_unaided", "Walk without the walker", 3, 4),
        ("demo-m-discharge", "discharge", "Go home", 4, 4),
        ("demo-m-shower", "first_shower", "First shower", 7, 6),
        ("demo-m-opioids", "off_opioids", "Off opioid pain medicine", 28, 31),
        ("demo-m-pt", "start_outpatient_pt", "Start outpatient PT", 14, 15),
        ("demo-m-drive", "drive", "Driving cleared", 42, None),
        ("demo-m-work", "return_to_work", "Back to desk work", 70, None),
        ("demo-m-fusion", "fusion_confirmed", "Fusion confirmed on CT", 365, None),
    ):
        record_create(
            MILESTONES,
            actor=surgeon,
            patient=patient,
            id=mid,
            kind=kind,
            title=title,
            target_on=day0 + timedelta(days=target),
            achieved_on=day0 + timedelta(days=achieved) if achieved else None,
        )

    _seed_preparation(patient, surgeon, revision, day0)
    _seed_outcomes(patient, revision, day0)

    # The care plan, through the same service as the admin: what the records above already
    # cover is skipped, what is past is not applicable, the rest (the NSAID restriction, the
    # later PT sessions) is created and linked to the plan.
    default = Protocol.objects.filter(
        clinic=None, name="Lumbar revision fusion", is_active=True
    ).first()
    if default is not None:
        protocol_apply(actor=surgeon, protocol=default, surgery=revision)

    # A lighter record for the second patient (another surgeon's).
    other_day0 = timezone.localdate(timezone=patient2.tz) - timedelta(weeks=3)
    record_create(
        SURGERIES,
        actor=surgeon2,
        patient=patient2,
        id=REVISION2_ID,
        performed_on=other_day0,
        region="lumbar",
        levels="L5-S1",
        procedure="hardware_revision",
        is_revision=True,
        revision_reasons=["adjacent_segment_disease"],
        surgeon=surgeon2,
    )
    seed_medications(
        patient=patient2, surgeon=surgeon2, day0=other_day0, medications=MEDICATION_LIST_2
    )
    for n in range(1, 21):
        record_create(
            PAIN_LOGS,
            actor=patient2.user,
            patient=patient2,
            id=f"demo2-pain-{n:03d}",
            recorded_at=_local(patient2, other_day0 + timedelta(days=n), time(9, 0)),
            intensity=max(1, 7 - n // 4),
            location="back",
        )


def _seed_preparation(patient, surgeon, revision, day0) -> None:
    record_create(
        IMAGING_STUDIES,
        actor=surgeon,
        patient=patient,
        id="demo-img-preop-ct",
        surgery=revision,
        modality="ct",
        performed_on=day0 - timedelta(days=35),
        region="lumbar",
        levels="L4-L5",
        purpose="pre_op_planning",
        fusion_status="not_fused",
        hardware_status="loosened",
        adjacent_level_change=False,
        reading="No bridging bone across L4-L5 (pseudarthrosis). Lucency around the right L5 screw: loosened.",
    )
    xray, _ = record_create(
        IMAGING_STUDIES,
        actor=surgeon,
        patient=patient,
        id="demo-img-6w-xray",
        surgery=revision,
        modality="xray",
        performed_on=day0 + timedelta(weeks=6),
        region="lumbar",
        levels="L4-L5",
        purpose="post_op_check",
        hardware_status="intact",
        reading="Hardware in good position; interbody cage seated. Early, no fusion yet.",
    )
    items = [
        ("demo-prep-records", "prior_records", "care_team", 42, {}),
        ("demo-prep-imaging", "imaging", "care_team", 35, {}),
        ("demo-prep-opinion", "second_opinion", "patient", 30, {"second_opinion": "obtained"}),
        (
            "demo-prep-smoking",
            "stop_smoking",
            "patient",
            28,
            {"quit_on": day0 - timedelta(weeks=6), "nicotine_free_confirmed": True},
        ),
        (
            "demo-prep-hba1c",
            "diabetes_control",
            "care_team",
            21,
            {"hba1c_percent": "6.8", "hba1c_on": day0 - timedelta(days=24)},
        ),
        ("demo-prep-weight", "weight", "patient", 14, {"weight_kg": "88.5", "bmi": "29.4"}),
        (
            "demo-prep-meds",
            "medications",
            "patient",
            7,
            {"notes": "Stopped naproxen and fish oil 7 days before."},
        ),
        ("demo-prep-consent", "consent", "care_team", 3, {}),
        (
            "demo-prep-home",
            "home",
            "patient",
            2,
            {"notes": "Daughter stays the first two weeks; raised toilet seat."},
        ),
    ]
    for iid, kind, owner, days_before, values in items:
        item, _ = record_create(
            PREP_ITEMS,
            actor=surgeon,
            patient=patient,
            id=iid,
            surgery=revision,
            kind=kind,
            owner=owner,
            due_on=day0 - timedelta(days=days_before),
        )
        actor = patient.user if owner == "patient" else surgeon
        prep_item_complete(
            actor=actor, item=item, completed_on=day0 - timedelta(days=days_before + 1), **values
        )
    infection, _ = record_create(
        COMPLICATIONS,
        actor=surgeon,
        patient=patient,
        id="demo-comp-ssi",
        surgery=revision,
        kind="ssi_superficial",
        noticed_on=day0 + timedelta(days=12),
        severity="mild",
        notes="Redness and a little drainage at the lower end of the incision at the 2-week check.",
    )
    complication_resolve(
        actor=surgeon,
        complication=infection,
        resolved_on=day0 + timedelta(days=24),
        treatment="Oral cephalexin 500 mg four times daily for 10 days; wound care.",
    )
    record_update(
        APPOINTMENTS,
        actor=surgeon,
        record=Appointment.objects.get(pk="demo-appt-6w"),
        imaging_study=xray,
    )


def _seed_outcomes(patient, revision, day0) -> None:
    def odi(values):
        return {f"s{i}": v for i, v in enumerate(values, start=1)}

    for sid, instrument, timepoint, days, answers in (
        ("demo-odi-baseline", "odi", "baseline", -10, odi([3, 3, 2, 3, 3, 2, 3, 2, 3, 3])),
        ("demo-back-baseline", "nrs_back", "baseline", -10, {"nrs": 8}),
        ("demo-leg-baseline", "nrs_leg", "baseline", -10, {"nrs": 7}),
        ("demo-odi-6w", "odi", "6w", 42, odi([2, 2, 2, 2, 2, 1, 2, 1, 2, 2])),
        ("demo-back-6w", "nrs_back", "6w", 42, {"nrs": 4}),
        ("demo-leg-6w", "nrs_leg", "6w", 42, {"nrs": 3}),
    ):
        record_create(
            OUTCOME_SCORES,
            actor=patient.user,
            patient=patient,
            id=sid,
            instrument=instrument,
            timepoint=timepoint,
            version="2.1a" if instrument == "odi" else "",
            surgery=revision,
            completed_at=_local(patient, day0 + timedelta(days=days), time(18, 0)),
            answers=answers,
        )


def _seed_steps(patient, day0, today) -> None:
    """Daily steps from the phone: three weeks before surgery around 6,000 a day (the baseline),
    then the expected recovery curve with day-to-day noise, up to yesterday."""
    rng = random.Random(1616)  # noqa: S311 - demo noise; its own, not to move the other data
    items = []
    day = day0 - timedelta(days=21)
    while day < today:
        pod = (day - day0).days
        fraction = 1.0 if pod < 0 else (expected_fraction(pod) or 0.12)
        steps = round(6000 * fraction * rng.uniform(0.85, 1.15))
        items.append(
            (f"demo-steps-{day:%Y%m%d}", {"day": day, "steps": steps, "source": "healthkit"})
        )
        day += timedelta(days=1)
    daily_steps_put(actor=patient.user, patient=patient, items=items)


WOUND_PHOTO_ID = "demo-wound-photo-pod10"


def _wound_picture() -> bytes:
    """A drawn stand-in for a photo of the incision: skin, a healing midline scar with its
    staple marks, a little redness at the top. JPEG, 640x480."""
    from PIL import Image, ImageDraw, ImageFilter

    image = Image.new("RGB", (640, 480), (224, 182, 156))
    draw = ImageDraw.Draw(image)
    draw.ellipse((270, 40, 370, 150), fill=(214, 140, 128))  # the redness
    image = image.filter(ImageFilter.GaussianBlur(18))
    draw = ImageDraw.Draw(image)
    draw.line((320, 70, 318, 420), fill=(150, 70, 70), width=7)
    for y in range(85, 420, 28):
        draw.line((305, y, 333, y + 2), fill=(120, 120, 130), width=3)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def seed_wound_photo(*, patient, nurse, day0) -> None:
    """The patient's photo of the incision on day 10, reviewed "looks fine" by the nurse."""
    if WoundPhoto.all_objects.filter(pk=WOUND_PHOTO_ID).exists():
        return
    photo, _ = wound_photo_upload(
        actor=patient.user,
        patient=patient,
        data=_wound_picture(),
        content_type="image/jpeg",
        id=WOUND_PHOTO_ID,
        note="Day 10: a little red at the top, no drainage.",
        taken_at=_local(patient, day0 + timedelta(days=10), time(19, 15)),
    )
    wound_photo_thumbnail_store(photo_id=photo.pk)
    photo.refresh_from_db()
    wound_photo_review(
        actor=nurse,
        photo=photo,
        outcome="looks_fine",
        comment="Healing well; the redness is normal. Send another if it spreads.",
    )
