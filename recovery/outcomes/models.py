"""Outcome measures: ODI, NDI and NRS scores per timepoint, and the minimal clinically important
differences (MCIDs) they are compared against."""

from django.core.validators import MinValueValidator
from django.db import models

from recovery.record.models import ClinicalRecord, Surgery, _not_in_future, _same_patient


class Instrument(models.TextChoices):
    ODI = "odi", "Oswestry Disability Index"
    NDI = "ndi", "Neck Disability Index"
    NRS_BACK = "nrs_back", "Back pain (NRS)"
    NRS_LEG = "nrs_leg", "Leg pain (NRS)"
    NRS_NECK = "nrs_neck", "Neck pain (NRS)"
    NRS_ARM = "nrs_arm", "Arm pain (NRS)"


QUESTIONNAIRES = (Instrument.ODI, Instrument.NDI)  # ten sections, each answered 0-5


class Timepoint(models.TextChoices):
    BASELINE = "baseline", "Pre-operative baseline"
    WEEK_6 = "6w", "6 weeks"
    MONTH_3 = "3m", "3 months"
    MONTH_6 = "6m", "6 months"
    MONTH_12 = "12m", "12 months"
    MONTH_24 = "24m", "24 months"


class OutcomeScore(ClinicalRecord):
    """One completed outcome measure (design of issue 8).

    The questionnaire text is copyrighted and lives in the app: only the instrument, its version,
    the item ids and the 0-5 answer per section are stored. ``score`` is the ODI/NDI percentage
    or the NRS value; ``sections_answered`` says how complete the questionnaire was.
    """

    instrument = models.CharField(max_length=10, choices=Instrument.choices)
    version = models.CharField(max_length=20, blank=True, help_text="e.g. ODI 2.1a")
    timepoint = models.CharField(max_length=10, choices=Timepoint.choices)
    completed_at = models.DateTimeField()
    surgery = models.ForeignKey(
        Surgery, null=True, blank=True, on_delete=models.PROTECT, related_name="outcome_scores"
    )
    answers = models.JSONField(default=dict, blank=True, help_text="item id -> answer 0-5")
    sections_answered = models.PositiveSmallIntegerField(default=0, editable=False)
    score = models.DecimalField(max_digits=5, decimal_places=1, editable=False)

    class Meta:
        db_table = "recovery_outcome_score"
        indexes = ClinicalRecord.sync_indexes("outcome", "completed_at")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(score__gte=0, score__lte=100),
                name="outcome_score_0_100",
                violation_error_code="out_of_range",
                violation_error_message="The score must be between 0 and 100.",
            ),
        ]

    def __str__(self):
        return f"{self.get_instrument_display()} {self.get_timepoint_display()}: {self.score}"

    def clean(self):
        _not_in_future(self.completed_at, "completed_at")
        if self.surgery_id:
            _same_patient(self, Surgery.all_objects.filter(pk=self.surgery_id).first(), "surgery")


class MinimalImportantDifference(models.Model):
    """The smallest change that matters to patients, as data (instrument, population, value,
    source). A clinic's own value wins over the default (``clinic`` empty)."""

    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    instrument = models.CharField(max_length=10, choices=Instrument.choices)
    population = models.CharField(
        max_length=40, help_text="revision_lumbar_fusion, primary_lumbar_fusion, cervical, ..."
    )
    value = models.DecimalField(max_digits=5, decimal_places=2, validators=[MinValueValidator(0)])
    unit = models.CharField(
        max_length=10, choices=[("percent", "percentage points"), ("points", "points")]
    )
    source = models.CharField(max_length=300)

    class Meta:
        verbose_name = "minimal clinically important difference"
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "instrument", "population"],
                name="mcid_unique_per_clinic",
                violation_error_code="duplicate",
                violation_error_message="This clinic already has a minimal important difference for this instrument and population.",
            ),
            models.UniqueConstraint(
                fields=["instrument", "population"],
                condition=models.Q(clinic__isnull=True),
                name="mcid_unique_default",
                violation_error_code="duplicate",
                violation_error_message="A default minimal important difference for this instrument and population already exists.",
            ),
        ]

    def __str__(self):
        return f"{self.instrument} {self.population}: {self.value} {self.unit}"


# --- Before and around the operation (issue 9) ------------------------------------------------
