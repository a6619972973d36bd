"""Daily steps (sync schema version 5) and the default steps triage rule (sources in
docs/clinical-defaults.md, "Daily steps")."""

import django.core.validators
import django.db.models.deletion
import django.db.models.manager
import django.utils.timezone
import recovery.record.models
from django.conf import settings
from django.db import migrations, models


STEPS_RULE = {
    "source": "steps_curve",
    "field": "",
    "threshold": "50.0",  # percent of the steps expected that day
    "count": 3,  # consecutive days
    "neck_surgery_only": False,
    "tier": "within_24h",
    "title": "Walking far below the expected recovery: 3 days in a row under half the expected steps",
    "patient_message": "Your care team has been told and will contact you within 24 hours.",
}


def add(apps, schema_editor):
    apps.get_model("recovery", "TriageRule").objects.update_or_create(
        clinic=None, key="steps-below-curve", defaults=STEPS_RULE
    )


def remove(apps, schema_editor):
    apps.get_model("recovery", "TriageRule").objects.filter(
        clinic=None, key="steps-below-curve"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_constraint_messages_new"),
        ("recovery", "0017_constraint_messages_new"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="triagerule",
            name="count",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="pain_streak: logs in a row; steps_curve: consecutive days",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="triagerule",
            name="source",
            field=models.CharField(
                choices=[
                    ("check_in", "Check In"),
                    ("pain_trend", "7-day pain mean rise"),
                    ("pain_streak", "Consecutive high pain logs"),
                    ("steps_curve", "Daily steps far below the expected recovery curve"),
                ],
                default="check_in",
                max_length=12,
            ),
        ),
        migrations.AlterField(
            model_name="triagerule",
            name="threshold",
            field=models.DecimalField(
                blank=True,
                decimal_places=1,
                help_text="check-in: above (or below, see direction) this value (temperature); pain_trend: rise in points; pain_streak: the intensity at or above which a log counts; steps_curve: the percentage of the expected steps below which a day counts",
                max_digits=5,
                null=True,
            ),
        ),
        migrations.CreateModel(
            name="DailySteps",
            fields=[
                (
                    "id",
                    models.CharField(
                        default=recovery.record.models.new_record_id,
                        max_length=36,
                        primary_key=True,
                        serialize=False,
                        validators=[
                            django.core.validators.RegexValidator(
                                "^[A-Za-z0-9_-]{1,36}$",
                                "Ids are 1-36 characters of letters, digits, '_' and '-'.",
                                code="invalid_id",
                            )
                        ],
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                (
                    "updated_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                ("deleted_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("sync_version", models.BigIntegerField(default=0, editable=False)),
                (
                    "day",
                    models.DateField(
                        help_text="The local day (the patient's time zone) these steps are of."
                    ),
                ),
                (
                    "steps",
                    models.PositiveIntegerField(
                        help_text="Steps of the whole day, 0-100000.",
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(100000),
                        ],
                    ),
                ),
                (
                    "counted_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now,
                        help_text="When the phone read this total from its health store: of two counts of one day, the later one is kept.",
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("healthkit", "Apple Health (HealthKit)"),
                            ("health_connect", "Health Connect"),
                            ("manual", "Entered by hand"),
                            ("other", "Other"),
                        ],
                        default="other",
                        max_length=20,
                    ),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.patientprofile",
                    ),
                ),
            ],
            options={
                "verbose_name": "daily steps",
                "verbose_name_plural": "daily steps",
                "db_table": "recovery_daily_steps",
                "indexes": [
                    models.Index(fields=["patient", "day", "id"], name="daily_steps_patient_time"),
                    models.Index(
                        fields=["patient", "sync_version"], name="daily_steps_patient_sync"
                    ),
                    models.Index(
                        fields=["patient", "updated_at"], name="daily_steps_patient_updated"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("deleted_at__isnull", True)),
                        fields=("patient", "day"),
                        name="daily_steps_one_per_day",
                        violation_error_code="duplicate_day",
                        violation_error_message="The steps of this day are already recorded; send the new count for the same day and it replaces the old one.",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("steps__gte", 0), ("steps__lte", 100000)),
                        name="daily_steps_range",
                        violation_error_code="out_of_range",
                        violation_error_message="A day's steps are between 0 and 100,000.",
                    ),
                ],
            },
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("all_objects", django.db.models.manager.Manager()),
            ],
        ),
        migrations.RunPython(add, remove),
    ]
