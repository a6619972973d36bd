"""The shipped default protocol, built from typical published instructions after lumbar fusion.
Sources in docs/clinical-defaults.md. Clinics copy it to change it."""

from django.db import migrations

NAME = "Lumbar revision fusion"

RESTRICTIONS = [
    # activity, start week, end week (None: until lifted), limit (value, unit), instructions
    ("bending", 0, 6, None, "No bending at the waist: bend your knees and keep your back straight."),
    ("twisting", 0, 6, None, "No twisting: turn your whole body, not your spine."),
    ("lifting", 0, 6, (10, "lb"), "Lift nothing heavier than about 10 lb (a gallon of milk); no pushing or pulling."),
    ("driving", 0, 6, None, "No driving for about 4-6 weeks, and never while taking opioid pain medicine."),
    ("bathing", 0, 4, None, "Showers only: no tub baths, hot tubs or swimming until the wound has healed (about 4 weeks)."),
    ("other", 0, 13, None, "No NSAIDs (ibuprofen, naproxen) for about 3 months: they slow bone fusion."),
    ("high_impact", 0, None, None, "No running, jumping or contact sports until your surgeon confirms the fusion."),
]
APPOINTMENTS = [
    # day, purpose, imaging, note
    (14, "wound_check", "none", "Wound check and suture removal"),
    (42, "follow_up", "xray", "6-week follow-up with X-ray"),
    (91, "imaging_review", "xray", "3-month follow-up with X-ray"),
    (182, "imaging_review", "xray", "6-month follow-up with X-ray"),
    (365, "imaging_review", "ct", "12-month follow-up with CT for fusion"),
]
MILESTONES = [
    (1, "walk_unaided", "Walking every day"),
    (28, "off_opioids", "Off opioid pain medicine"),
    (42, "start_outpatient_pt", "Start outpatient physical therapy"),
    (42, "drive", "Driving cleared"),
    (56, "return_to_work", "Back to desk work"),
    (365, "fusion_confirmed", "Fusion confirmed on imaging"),
]


def add(apps, schema_editor):
    Protocol = apps.get_model("recovery", "Protocol")
    Item = apps.get_model("recovery", "ProtocolItem")
    protocol, created = Protocol.objects.get_or_create(
        clinic=None, name=NAME,
        defaults={"description": "Typical plan after a posterior lumbar revision fusion. Copy it to adapt it."},
    )
    if not created:
        return
    for activity, start, end, limit, text in RESTRICTIONS:
        Item.objects.create(
            protocol=protocol, item_type="restriction", activity=activity, start_week=start, end_week=end,
            limit_value=limit[0] if limit else None, limit_unit=limit[1] if limit else "", instructions=text,
        )
    for day, purpose, imaging, note in APPOINTMENTS:
        Item.objects.create(
            protocol=protocol, item_type="appointment", day_offset=day, purpose=purpose, imaging=imaging, title=note
        )
    for day, kind, title in MILESTONES:
        Item.objects.create(protocol=protocol, item_type="milestone", day_offset=day, milestone_kind=kind, title=title)
    Item.objects.create(
        protocol=protocol, item_type="pt_plan", start_week=6, sessions_per_week=2, weeks=8, pt_setting="clinic"
    )


def remove(apps, schema_editor):
    apps.get_model("recovery", "Protocol").objects.filter(clinic=None, name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("recovery", "0005_protocols")]
    operations = [migrations.RunPython(add, remove)]
