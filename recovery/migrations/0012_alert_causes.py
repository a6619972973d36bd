"""One alert per check-in with all its red flags (``Alert.causes``), temperatures in a
physiological range (30.0-43.0 C), and hypothermia (below 35.0 C) as a default red flag
(docs/clinical-defaults.md). Clinics override the rule by key, as every default rule."""

from decimal import Decimal

import django.core.validators
from django.db import migrations, models
from django.utils import timezone

TEMPERATURE_RANGE_MESSAGE = (
    "A body temperature must be between 30.0 and 43.0 C (86.0-109.4 F); "
    "check the reading and the unit."
)
SAME_DAY_MESSAGE = (
    "Your care team has been told and will contact you today. If it gets worse, call the clinic."
)
HYPOTHERMIA = {
    "source": "check_in",
    "field": "temperature_c",
    "threshold": Decimal("35.0"),
    "direction": "below",
    "count": None,
    "neck_surgery_only": False,
    "tier": "same_day",
    "title": "Low body temperature under 35.0 C / 95.0 F (hypothermia)",
    "patient_message": SAME_DAY_MESSAGE,
}


def add(apps, schema_editor):
    """The default hypothermia rule (also called by tests/conftest.py after a flush)."""
    Rule = apps.get_model("recovery", "TriageRule")
    Rule.objects.update_or_create(clinic=None, key="hypothermia", defaults=HYPOTHERMIA)


def remove(apps, schema_editor):
    apps.get_model("recovery", "TriageRule").objects.filter(clinic=None, key="hypothermia").delete()


def causes_from_rules(apps, schema_editor):
    """Each alert opened before this migration held one red flag: its rule."""
    Alert = apps.get_model("recovery", "Alert")
    for alert in Alert.objects.filter(causes=[]).iterator():
        alert.causes = [
            {
                "rule_key": alert.rule_key,
                "tier": alert.tier,
                "title": alert.title,
                "detail": alert.detail,
            }
        ]
        alert.save(update_fields=["causes"])


def impossible_temperatures_to_notes(apps, schema_editor):
    """Readings outside 30.0-43.0 C (accepted up to 45 C before) cannot stay in the column
    once the constraint holds: each is moved into the check-in's notes, word for word, and
    the row is stamped on its patient's sync clock so the phones pull the change."""
    CheckIn = apps.get_model("recovery", "CheckIn")
    PatientClock = apps.get_model("accounts", "PatientClock")
    rows = CheckIn.objects.filter(temperature_c__isnull=False).exclude(
        temperature_c__gte=Decimal("30.0"), temperature_c__lte=Decimal("43.0")
    )
    now = timezone.now()
    epoch_ms = int(now.timestamp() * 1000)
    for row in rows.iterator():
        clock = PatientClock.objects.select_for_update().get(patient_id=row.patient_id)
        clock.value = max(clock.value + 1, epoch_ms)
        clock.save(update_fields=["value"])
        note = f"Temperature {row.temperature_c} C recorded; outside 30.0-43.0 C, removed."
        row.notes = f"{row.notes}\n{note}".strip()[:2000]
        row.temperature_c = None
        row.sync_version = clock.value
        row.updated_at = now
        row.save(update_fields=["notes", "temperature_c", "sync_version", "updated_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_phi_access"),
        ("recovery", "0011_alert_notifications"),
    ]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="causes",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="every red flag of this alert, most urgent first",
            ),
        ),
        migrations.RunPython(causes_from_rules, migrations.RunPython.noop),
        migrations.AddField(
            model_name="triagerule",
            name="direction",
            field=models.CharField(
                choices=[("above", "above the threshold"), ("below", "below the threshold")],
                default="above",
                help_text="check-in rules with a threshold: a value above it (fever) or below it "
                "(hypothermia) meets the rule",
                max_length=5,
            ),
        ),
        migrations.AlterField(
            model_name="triagerule",
            name="threshold",
            field=models.DecimalField(
                blank=True,
                decimal_places=1,
                help_text="check-in: above (or below, see direction) this value (temperature); "
                "pain_trend: rise in points; pain_streak: the intensity at or above which a log "
                "counts",
                max_digits=5,
                null=True,
            ),
        ),
        migrations.RunPython(add, remove),
        migrations.RemoveConstraint(model_name="checkin", name="checkin_temperature_range"),
        migrations.AlterField(
            model_name="checkin",
            name="temperature_c",
            field=models.DecimalField(
                blank=True,
                decimal_places=1,
                help_text="Body temperature in degrees Celsius (the app converts from "
                "Fahrenheit), 30.0-43.0.",
                max_digits=3,
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(
                        Decimal("30.0"), message=TEMPERATURE_RANGE_MESSAGE
                    ),
                    django.core.validators.MaxValueValidator(
                        Decimal("43.0"), message=TEMPERATURE_RANGE_MESSAGE
                    ),
                ],
            ),
        ),
        migrations.RunPython(impossible_temperatures_to_notes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="checkin",
            constraint=models.CheckConstraint(
                condition=models.Q(temperature_c__isnull=True)
                | models.Q(temperature_c__gte=Decimal("30.0"), temperature_c__lte=Decimal("43.0")),
                name="checkin_temperature_range",
            ),
        ),
    ]
