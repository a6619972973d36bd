"""Default red-flag triage rules (sources in docs/clinical-defaults.md). Clinics override by key."""

from django.db import migrations

EMERGENCY_MESSAGE = (
    "Call emergency services now (911 in the US, 112 in Europe). Do not wait for a call back "
    "from the clinic. Your care team has been told."
)
SAME_DAY_MESSAGE = "Your care team has been told and will contact you today. If it gets worse, call the clinic."
WITHIN_24H_MESSAGE = "Your care team has been told and will contact you within 24 hours."

RULES = [
    # key, source, field, threshold, count, neck only, tier, title
    ("bowel-bladder", "check_in", "bowel_bladder_loss_or_saddle_numbness", None, None, False, "emergency",
     "New loss of bowel or bladder control or saddle numbness"),
    ("cannot-move-limb", "check_in", "cannot_move_limb", None, None, False, "emergency",
     "New inability to move an arm or leg"),
    ("chest-breath", "check_in", "chest_pain_or_breathless", None, None, False, "emergency",
     "Chest pain or shortness of breath"),
    ("neck-airway", "check_in", "trouble_swallowing_or_breathing", None, None, True, "emergency",
     "Trouble breathing or swallowing after neck surgery"),
    ("fever", "check_in", "temperature_c", "38.0", None, False, "same_day", "Fever over 38.0 C / 100.4 F"),
    ("wound-redness", "check_in", "wound_redness", None, None, False, "same_day", "Wound redness"),
    ("wound-drainage", "check_in", "wound_swelling_or_drainage", None, None, False, "same_day",
     "Wound swelling or drainage"),
    ("wound-opening", "check_in", "wound_opening", None, None, False, "same_day", "Wound opening"),
    ("calf-pain", "check_in", "calf_pain_or_leg_swelling", None, None, False, "same_day",
     "Calf pain or leg swelling (possible blood clot)"),
    ("new-numbness", "check_in", "new_numbness_or_weakness", None, None, False, "same_day",
     "New or worse numbness or weakness"),
    ("pain-uncontrolled", "check_in", "pain_uncontrolled", None, None, False, "within_24h",
     "Pain not controlled by medication"),
    ("fall", "check_in", "fell", None, None, False, "within_24h", "A fall"),
    ("pain-trend", "pain_trend", "", "2.0", None, False, "within_24h",
     "Pain rising: 7-day mean at least 2 points above the previous 7 days"),
    ("pain-streak", "pain_streak", "", "8.0", 3, False, "same_day", "Three pain logs in a row of 8 or more"),
]


def add(apps, schema_editor):
    Rule = apps.get_model("recovery", "TriageRule")
    messages = {"emergency": EMERGENCY_MESSAGE, "same_day": SAME_DAY_MESSAGE, "within_24h": WITHIN_24H_MESSAGE}
    for key, source, field, threshold, count, neck, tier, title in RULES:
        Rule.objects.update_or_create(
            clinic=None, key=key,
            defaults={
                "source": source, "field": field, "threshold": threshold, "count": count,
                "neck_surgery_only": neck, "tier": tier, "title": title, "patient_message": messages[tier],
            },
        )


def remove(apps, schema_editor):
    apps.get_model("recovery", "TriageRule").objects.filter(clinic=None).delete()


class Migration(migrations.Migration):
    dependencies = [("recovery", "0007_check_ins_alerts")]
    operations = [migrations.RunPython(add, remove)]
