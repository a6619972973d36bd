"""Daily step counts from the phone's health store (HealthKit on iOS, Health Connect on
Android): one row per patient per local day, the count of that whole day.

A day's row is replaced, never duplicated: a later count of the same day (the phone read the
total again, or another phone of the patient counted it) changes the row the server holds for
that day, whatever id the phone sent (``recovery.activity.services.daily_steps_put``). The
database backs this with one live row per patient and day.
"""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from recovery.record.models import ClinicalRecord

STEPS_MAX = 100_000  # more in one day is a device error, not a walk


class StepSource(models.TextChoices):
    HEALTHKIT = "healthkit", "Apple Health (HealthKit)"
    HEALTH_CONNECT = "health_connect", "Health Connect"
    MANUAL = "manual", "Entered by hand"
    OTHER = "other"


class DailySteps(ClinicalRecord):
    """The steps of one local day (the patient's time zone), as the phone's health store
    counted them at ``counted_at``."""

    day = models.DateField(help_text="The local day (the patient's time zone) these steps are of.")
    steps = models.PositiveIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(STEPS_MAX)],
        help_text=f"Steps of the whole day, 0-{STEPS_MAX}.",
    )
    counted_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the phone read this total from its health store: of two counts of one "
        "day, the later one is kept.",
    )
    source = models.CharField(max_length=20, choices=StepSource.choices, default=StepSource.OTHER)

    class Meta:
        db_table = "recovery_daily_steps"
        verbose_name = "daily steps"
        verbose_name_plural = "daily steps"
        indexes = ClinicalRecord.sync_indexes("daily_steps", "day")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "day"],
                condition=models.Q(deleted_at__isnull=True),
                name="daily_steps_one_per_day",
                violation_error_code="duplicate_day",
                violation_error_message="The steps of this day are already recorded; "
                "send the new count for the same day and it replaces the old one.",
            ),
            models.CheckConstraint(
                condition=models.Q(steps__gte=0) & models.Q(steps__lte=STEPS_MAX),
                name="daily_steps_range",
                violation_error_code="out_of_range",
                violation_error_message=f"A day's steps are between 0 and {STEPS_MAX:,}.",
            ),
        ]

    def __str__(self):
        return f"{self.day}: {self.steps} steps"

    def clean(self):
        if self.day is None or self.patient_id is None:
            return
        today = timezone.localdate(timezone=self.patient.tz)
        if self.day > today:
            raise ValidationError(
                {
                    "day": ValidationError(
                        "This day has not happened yet where you are; send steps only for "
                        "today or earlier.",
                        code="in_future",
                    )
                }
            )
