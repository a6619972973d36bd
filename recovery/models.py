"""The clinical record (design.md section 2).

Every row belongs to one patient and carries:
- ``id``: a string of 1-36 characters from ``[A-Za-z0-9_-]``, chosen by the phone for records it
  creates (so a retried create can never duplicate) or generated here;
- ``sync_version``: the patient's change clock at the row's last change (sync pulls rows with a
  larger value than the device last saw);
- ``deleted_at``: a tombstone. Deleted rows stay so sync can tell devices; the default manager
  hides them from the API and the admin.

Rows change only through ``recovery.services``.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.utils import timezone

from accounts.models import PatientProfile

RECORD_ID_PATTERN = r"^[A-Za-z0-9_-]{1,36}$"
validate_record_id = RegexValidator(
    RECORD_ID_PATTERN,
    "Ids are 1-36 characters of letters, digits, '_' and '-'.",
    code="invalid_id",
)


def new_record_id() -> str:
    return uuid.uuid4().hex


def zero_to_ten():
    return [MinValueValidator(0), MaxValueValidator(10)]


FUTURE_TOLERANCE = timedelta(days=1)  # phones' clocks disagree; beyond a day it is an error


def _choice_list(value, choices, attr) -> None:
    """A list of distinct values, each one of ``choices``."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({attr: ValidationError("A list of strings.", code="invalid")})
    unknown = sorted(set(value) - set(choices.values))
    if unknown:
        raise ValidationError(
            {attr: ValidationError(
                "Unknown value(s): %(unknown)s. Allowed: %(allowed)s.",
                code="invalid_choice",
                params={"unknown": ", ".join(unknown), "allowed": ", ".join(choices.values)},
            )}
        )
    if len(set(value)) != len(value):
        raise ValidationError({attr: ValidationError("Values repeat.", code="duplicate")})


def _same_patient(record, related, attr) -> None:
    if related is not None and (related.patient_id != record.patient_id or related.deleted_at):
        raise ValidationError({attr: ValidationError("No such record for this patient.", code="does_not_exist")})


def _not_in_future(value, attr) -> None:
    if value is not None and value > timezone.now() + FUTURE_TOLERANCE:
        raise ValidationError({attr: ValidationError("This is in the future.", code="in_future")})


class LiveManager(models.Manager):
    """Rows that are not tombstones."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class ClinicalRecord(models.Model):
    id = models.CharField(
        primary_key=True, max_length=36, default=new_record_id, validators=[validate_record_id]
    )
    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_version = models.BigIntegerField(default=0, editable=False)

    objects = LiveManager()
    all_objects = models.Manager()  # noqa: DJ012 - a manager, not a field

    class Meta:
        abstract = True
        base_manager_name = "all_objects"

    @classmethod
    def sync_indexes(cls, table: str, time_field: str) -> list[models.Index]:
        return [
            models.Index(fields=["patient", time_field, "id"], name=f"{table}_patient_time"),
            models.Index(fields=["patient", "sync_version"], name=f"{table}_patient_sync"),
            models.Index(fields=["patient", "updated_at"], name=f"{table}_patient_updated"),
        ]


class Region(models.TextChoices):
    CERVICAL = "cervical"
    THORACIC = "thoracic"
    LUMBAR = "lumbar"
    SACRAL = "sacral"


class Procedure(models.TextChoices):
    FUSION = "fusion"
    DECOMPRESSION = "decompression"
    HARDWARE_REVISION = "hardware_revision"
    HARDWARE_REMOVAL = "hardware_removal"
    DISCECTOMY = "discectomy"
    DISC_REPLACEMENT = "disc_replacement"
    OSTEOTOMY = "osteotomy"
    OTHER = "other"


class RevisionReason(models.TextChoices):
    PERSISTENT_SYMPTOMS = "persistent_symptoms"
    PSEUDARTHROSIS = "pseudarthrosis"
    HARDWARE_COMPLICATION = "hardware_complication"
    SCAR_TISSUE = "scar_tissue"
    ADJACENT_SEGMENT_DISEASE = "adjacent_segment_disease"
    INFECTION = "infection"
    OTHER = "other"


LEVELS_PATTERN = r"^[CTLS][0-9]{1,2}(-[CTLS][0-9]{1,2})*$"


class Surgery(ClinicalRecord):
    performed_on = models.DateField()
    region = models.CharField(max_length=10, choices=Region.choices)
    levels = models.CharField(
        max_length=40,
        validators=[RegexValidator(LEVELS_PATTERN, "Levels look like L4-L5 or C5-C6-C7.")],
    )
    procedure = models.CharField(max_length=20, choices=Procedure.choices)
    is_revision = models.BooleanField(default=False)
    revision_reasons = models.JSONField(default=list, blank=True)
    prior_surgery = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    surgeon = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    facility = models.CharField(max_length=200, blank=True)
    estimated_blood_loss_ml = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(20000)]
    )
    transfusion_given = models.BooleanField(null=True, blank=True)
    notes = models.TextField(max_length=4000, blank=True, validators=[MaxLengthValidator(4000)])

    class Meta:
        db_table = "recovery_surgery"
        verbose_name_plural = "surgeries"
        indexes = ClinicalRecord.sync_indexes("surgery", "performed_on")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(prior_surgery=models.F("id")), name="surgery_prior_not_self"
            ),
            models.CheckConstraint(
                condition=models.Q(estimated_blood_loss_ml__isnull=True)
                | models.Q(estimated_blood_loss_ml__lte=20000),
                name="surgery_blood_loss_range",
            ),
        ]

    def __str__(self):
        kind = "Revision " if self.is_revision else ""
        return f"{kind}{self.get_procedure_display().lower()} {self.levels} on {self.performed_on}"

    def clean(self):
        _choice_list(self.revision_reasons, RevisionReason, "revision_reasons")
        if self.revision_reasons and not self.is_revision:
            raise ValidationError(
                {"revision_reasons": ValidationError("Only a revision has revision reasons.", code="not_revision")}
            )
        if self.prior_surgery_id:
            if self.prior_surgery_id == self.id:
                raise ValidationError({"prior_surgery": ValidationError("A surgery cannot precede itself.", code="invalid")})
            prior = Surgery.all_objects.filter(pk=self.prior_surgery_id).first()
            _same_patient(self, prior, "prior_surgery")
            if prior and self.performed_on and prior.performed_on >= self.performed_on:
                raise ValidationError(
                    {"prior_surgery": ValidationError("The prior surgery must be earlier.", code="date_order")}
                )


class DischargeDisposition(models.TextChoices):
    HOME = "home"
    REHAB = "rehab"
    SKILLED_NURSING = "skilled_nursing"
    OTHER = "other"


class HospitalStay(ClinicalRecord):
    surgery = models.ForeignKey(Surgery, on_delete=models.PROTECT, related_name="stays")
    admitted_at = models.DateTimeField()
    discharged_at = models.DateTimeField(null=True, blank=True)
    facility = models.CharField(max_length=200, blank=True)
    discharge_disposition = models.CharField(
        max_length=20, choices=DischargeDisposition.choices, blank=True
    )

    class Meta:
        db_table = "recovery_hospital_stay"
        indexes = ClinicalRecord.sync_indexes("stay", "admitted_at")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(discharged_at__isnull=True)
                | models.Q(discharged_at__gt=models.F("admitted_at")),
                name="stay_discharge_after_admission",
            ),
        ]

    def __str__(self):
        return f"Stay from {self.admitted_at:%Y-%m-%d}"

    def clean(self):
        if self.surgery_id:
            _same_patient(self, Surgery.all_objects.filter(pk=self.surgery_id).first(), "surgery")

    @property
    def length_of_stay(self):
        """Nights in hospital (None while inpatient)."""
        if self.discharged_at is None:
            return None
        return (self.discharged_at.date() - self.admitted_at.date()).days


class PainLocation(models.TextChoices):
    BACK = "back"
    LEG = "leg"
    NECK = "neck"
    ARM = "arm"
    INCISION = "incision"
    OTHER = "other"


class Relief(models.TextChoices):
    ICE = "ice"
    HEAT = "heat"
    BRACE = "brace"
    REST = "rest"
    WALKING = "walking"
    OTHER = "other"


class PainLog(ClinicalRecord):
    recorded_at = models.DateTimeField()
    intensity = models.PositiveSmallIntegerField(validators=zero_to_ten())
    location = models.CharField(max_length=10, choices=PainLocation.choices)
    medication_taken = models.BooleanField(default=False)
    relief = models.JSONField(default=list, blank=True)
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        db_table = "recovery_pain_log"
        indexes = ClinicalRecord.sync_indexes("painlog", "recorded_at")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(intensity__gte=0, intensity__lte=10), name="pain_intensity_0_10"
            ),
        ]

    def __str__(self):
        return f"Pain {self.intensity}/10 ({self.location}) at {self.recorded_at:%Y-%m-%d %H:%M}"

    def clean(self):
        _choice_list(self.relief, Relief, "relief")
        _not_in_future(self.recorded_at, "recorded_at")


class PTStatus(models.TextChoices):
    PLANNED = "planned"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"


class PTSetting(models.TextChoices):
    CLINIC = "clinic"
    HOME = "home"
    TELEHEALTH = "telehealth"


EXERCISE_KEYS = {"name": str, "sets": int, "reps": int, "minutes": (int, float)}
EXERCISE_LIMITS = {"sets": 50, "reps": 500, "minutes": 600}


def _validate_exercises(value) -> None:
    """``[{"name": "bridges", "sets": 3, "reps": 10}, {"name": "walk", "minutes": 20}]``"""

    def bad(message):
        return ValidationError({"exercises": ValidationError(message, code="invalid")})

    if not isinstance(value, list) or len(value) > 50:
        raise bad("A list of at most 50 exercises.")
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise bad(f"Exercise {i}: an object with a name.")
        if len(item["name"]) > 100:
            raise bad(f"Exercise {i}: the name is longer than 100 characters.")
        for key, val in item.items():
            if key not in EXERCISE_KEYS:
                raise bad(f"Exercise {i}: unknown key {key!r}; allowed: name, sets, reps, minutes.")
            if key == "name":
                continue
            if isinstance(val, bool) or not isinstance(val, EXERCISE_KEYS[key]) or not 0 <= val <= EXERCISE_LIMITS[key]:
                raise bad(f"Exercise {i}: {key} must be a number from 0 to {EXERCISE_LIMITS[key]}.")


class PTSession(ClinicalRecord):
    scheduled_for = models.DateTimeField(null=True, blank=True)
    performed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=PTStatus.choices, default=PTStatus.PLANNED)
    setting = models.CharField(max_length=10, choices=PTSetting.choices, default=PTSetting.HOME)
    duration_minutes = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(600)]
    )
    exercises = models.JSONField(default=list, blank=True)
    pain_before = models.PositiveSmallIntegerField(null=True, blank=True, validators=zero_to_ten())
    pain_after = models.PositiveSmallIntegerField(null=True, blank=True, validators=zero_to_ten())
    exertion = models.PositiveSmallIntegerField(null=True, blank=True, validators=zero_to_ten())
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        db_table = "recovery_pt_session"
        verbose_name = "PT session"
        indexes = ClinicalRecord.sync_indexes("ptsession", "scheduled_for")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scheduled_for__isnull=False) | models.Q(performed_at__isnull=False),
                name="pt_has_a_time",
            ),
            models.CheckConstraint(
                condition=models.Q(pain_before__isnull=True) | models.Q(pain_before__lte=10),
                name="pt_pain_before_0_10",
            ),
            models.CheckConstraint(
                condition=models.Q(pain_after__isnull=True) | models.Q(pain_after__lte=10),
                name="pt_pain_after_0_10",
            ),
            models.CheckConstraint(
                condition=models.Q(exertion__isnull=True) | models.Q(exertion__lte=10),
                name="pt_exertion_0_10",
            ),
            models.CheckConstraint(
                condition=models.Q(duration_minutes__isnull=True) | models.Q(duration_minutes__lte=600),
                name="pt_duration_max",
            ),
        ]

    def __str__(self):
        when = self.performed_at or self.scheduled_for
        return f"PT ({self.status}) {when:%Y-%m-%d}"

    def clean(self):
        _validate_exercises(self.exercises)
        _not_in_future(self.performed_at, "performed_at")
        if self.status == PTStatus.COMPLETED and self.performed_at is None:
            raise ValidationError(
                {"performed_at": ValidationError("A completed session needs the time it was done.", code="required")}
            )
        if self.scheduled_for is None and self.performed_at is None:
            raise ValidationError(
                {"scheduled_for": ValidationError("Give scheduled_for or performed_at.", code="required")}
            )

    @property
    def happened_at(self):
        return self.performed_at or self.scheduled_for


class Activity(models.TextChoices):
    LIFTING = "lifting"
    BENDING = "bending"
    TWISTING = "twisting"
    DRIVING = "driving"
    HIGH_IMPACT = "high_impact"
    SITTING = "sitting"
    BATHING = "bathing"
    WORK = "work"
    OTHER = "other"


class LimitUnit(models.TextChoices):
    LB = "lb"
    KG = "kg"
    MINUTES = "minutes"
    HOURS = "hours"
    MILES = "miles"
    KM = "km"


class RestrictionStatus(models.TextChoices):
    UPCOMING = "upcoming"
    ACTIVE = "active"
    ENDED = "ended"


class ActivityRestriction(ClinicalRecord):
    activity = models.CharField(max_length=15, choices=Activity.choices)
    instructions = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])
    limit_value = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    limit_unit = models.CharField(max_length=10, choices=LimitUnit.choices, blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True, help_text="Empty: until the surgeon lifts it.")
    lifted_on = models.DateField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "recovery_restriction"
        indexes = ClinicalRecord.sync_indexes("restriction", "starts_on")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True) | models.Q(ends_on__gte=models.F("starts_on")),
                name="restriction_end_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(lifted_on__isnull=True)
                | models.Q(lifted_on__gte=models.F("starts_on")),
                name="restriction_lifted_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(limit_value__isnull=True) | ~models.Q(limit_unit=""),
                name="restriction_limit_has_unit",
            ),
        ]

    def __str__(self):
        return f"No {self.get_activity_display().lower()} from {self.starts_on}"

    def clean(self):
        if self.limit_unit and self.limit_value is None:
            raise ValidationError({"limit_value": ValidationError("A unit needs a value.", code="required")})
        if self.limit_value is not None and not self.limit_unit:
            raise ValidationError({"limit_unit": ValidationError("A value needs a unit.", code="required")})

    def status_on(self, day) -> str:
        if day < self.starts_on:
            return RestrictionStatus.UPCOMING
        if (self.lifted_on and self.lifted_on <= day) or (self.ends_on and self.ends_on < day):
            return RestrictionStatus.ENDED
        return RestrictionStatus.ACTIVE

    @property
    def effective_end(self):
        """The last day the restriction applies, if known."""
        if self.lifted_on:
            return self.lifted_on
        return self.ends_on


class AppointmentPurpose(models.TextChoices):
    WOUND_CHECK = "wound_check"
    SUTURE_REMOVAL = "suture_removal"
    IMAGING_REVIEW = "imaging_review"
    FOLLOW_UP = "follow_up"
    PRE_OP = "pre_op"
    PT_EVALUATION = "pt_evaluation"
    OTHER = "other"


class Imaging(models.TextChoices):
    NONE = "none"
    XRAY = "xray"
    CT = "ct"
    MRI = "mri"


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    MISSED = "missed"


class Appointment(ClinicalRecord):
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    location = models.CharField(max_length=200, blank=True)
    telehealth_url = models.URLField(max_length=500, blank=True)
    purpose = models.CharField(max_length=20, choices=AppointmentPurpose.choices)
    imaging = models.CharField(max_length=5, choices=Imaging.choices, default=Imaging.NONE)
    status = models.CharField(
        max_length=10, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED
    )
    imaging_study = models.ForeignKey(
        "ImagingStudy", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The study this appointment reviews.",
    )
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        db_table = "recovery_appointment"
        indexes = ClinicalRecord.sync_indexes("appointment", "starts_at")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True) | models.Q(ends_at__gt=models.F("starts_at")),
                name="appointment_end_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} on {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.imaging_study_id:
            _same_patient(self, ImagingStudy.all_objects.filter(pk=self.imaging_study_id).first(), "imaging_study")


class MilestoneKind(models.TextChoices):
    WALK_UNAIDED = "walk_unaided"
    DISCHARGE = "discharge"
    FIRST_SHOWER = "first_shower"
    OFF_OPIOIDS = "off_opioids"
    START_OUTPATIENT_PT = "start_outpatient_pt"
    DRIVE = "drive"
    RETURN_TO_WORK = "return_to_work"
    FUSION_CONFIRMED = "fusion_confirmed"
    OTHER = "other"


class Milestone(ClinicalRecord):
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=MilestoneKind.choices, default=MilestoneKind.OTHER)
    target_on = models.DateField(null=True, blank=True)
    achieved_on = models.DateField(null=True, blank=True)
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        db_table = "recovery_milestone"
        indexes = ClinicalRecord.sync_indexes("milestone", "target_on")

    def __str__(self):
        return self.title

    def clean(self):
        if self.achieved_on and self.achieved_on > timezone.localdate() + FUTURE_TOLERANCE:
            raise ValidationError({"achieved_on": ValidationError("This is in the future.", code="in_future")})


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
                condition=models.Q(score__gte=0, score__lte=100), name="outcome_score_0_100"
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
    unit = models.CharField(max_length=10, choices=[("percent", "percentage points"), ("points", "points")])
    source = models.CharField(max_length=300)

    class Meta:
        verbose_name = "minimal clinically important difference"
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "instrument", "population"], name="mcid_unique_per_clinic"
            ),
            models.UniqueConstraint(
                fields=["instrument", "population"],
                condition=models.Q(clinic__isnull=True),
                name="mcid_unique_default",
            ),
        ]

    def __str__(self):
        return f"{self.instrument} {self.population}: {self.value} {self.unit}"



# --- Before and around the operation (issue 9) ------------------------------------------------


class PrepKind(models.TextChoices):
    PRIOR_RECORDS = "prior_records", "Gather prior operation records and implant details"
    IMAGING = "imaging", "Imaging done (X-ray, CT, MRI)"
    SECOND_OPINION = "second_opinion", "Second opinion"
    STOP_SMOKING = "stop_smoking", "Stop smoking"
    DIABETES_CONTROL = "diabetes_control", "Diabetes control (HbA1c)"
    WEIGHT = "weight", "Weight / BMI"
    MEDICATIONS = "medications", "Medications to stop before surgery"
    CONSENT = "consent", "Expectations discussed and consent signed"
    HOME = "home", "Home prepared for recovery"
    OTHER = "other", "Other"


class PrepOwner(models.TextChoices):
    PATIENT = "patient"
    CARE_TEAM = "care_team"


class PrepStatus(models.TextChoices):
    OPEN = "open"
    DONE = "done"
    WAIVED = "waived"


class PrepItem(ClinicalRecord):
    """One item of a surgery's preparation checklist."""

    surgery = models.ForeignKey(Surgery, on_delete=models.PROTECT, related_name="prep_items")
    kind = models.CharField(max_length=20, choices=PrepKind.choices)
    title = models.CharField(max_length=200, blank=True)
    owner = models.CharField(max_length=10, choices=PrepOwner.choices)
    due_on = models.DateField()
    status = models.CharField(max_length=10, choices=PrepStatus.choices, default=PrepStatus.OPEN)
    completed_on = models.DateField(null=True, blank=True)
    waived_reason = models.CharField(max_length=500, blank=True)
    # Values some kinds record.
    quit_on = models.DateField(null=True, blank=True, help_text="Stop smoking: the quit date.")
    nicotine_free_confirmed = models.BooleanField(null=True, blank=True)
    second_opinion = models.CharField(
        max_length=10, blank=True, choices=[("offered", "offered"), ("obtained", "obtained")]
    )
    hba1c_percent = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(3), MaxValueValidator(20)],
    )
    hba1c_on = models.DateField(null=True, blank=True)
    weight_kg = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(20), MaxValueValidator(400)],
    )
    bmi = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(10), MaxValueValidator(90)],
    )
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    KIND_FIELDS = {
        "quit_on": PrepKind.STOP_SMOKING,
        "nicotine_free_confirmed": PrepKind.STOP_SMOKING,
        "second_opinion": PrepKind.SECOND_OPINION,
        "hba1c_percent": PrepKind.DIABETES_CONTROL,
        "hba1c_on": PrepKind.DIABETES_CONTROL,
        "weight_kg": PrepKind.WEIGHT,
        "bmi": PrepKind.WEIGHT,
    }

    class Meta:
        db_table = "recovery_prep_item"
        indexes = ClinicalRecord.sync_indexes("prep", "due_on")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(hba1c_percent__isnull=True)
                | models.Q(hba1c_percent__gte=3, hba1c_percent__lte=20),
                name="prep_hba1c_range",
            ),
            models.CheckConstraint(
                condition=models.Q(bmi__isnull=True) | models.Q(bmi__gte=10, bmi__lte=90),
                name="prep_bmi_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="waived") | ~models.Q(waived_reason=""),
                name="prep_waiver_has_reason",
            ),
        ]

    def __str__(self):
        return self.title or self.get_kind_display()

    def clean(self):
        if self.surgery_id:
            surgery = Surgery.all_objects.filter(pk=self.surgery_id).first()
            _same_patient(self, surgery, "surgery")
            if surgery and self.due_on and self.due_on > surgery.performed_on:
                raise ValidationError({"due_on": ValidationError("Preparation is due before the surgery.", code="date_order")})
        for name, kind in self.KIND_FIELDS.items():
            if getattr(self, name) not in (None, "") and self.kind != kind:
                raise ValidationError(
                    {name: ValidationError(f"Only a {kind} item records {name}.", code="not_for_this_kind")}
                )
        if self.status == PrepStatus.WAIVED and not self.waived_reason.strip():
            raise ValidationError({"waived_reason": ValidationError("Say why it is waived.", code="required")})
        if self.status == PrepStatus.DONE and self.completed_on is None:
            raise ValidationError({"completed_on": ValidationError("When was it done?", code="required")})
        if self.status == PrepStatus.OPEN and self.completed_on is not None:
            raise ValidationError({"completed_on": ValidationError("An open item is not completed.", code="invalid")})
        if self.completed_on and self.completed_on > timezone.localdate() + FUTURE_TOLERANCE:
            raise ValidationError({"completed_on": ValidationError("This is in the future.", code="in_future")})
        if self.hba1c_percent is not None and self.hba1c_on is None:
            raise ValidationError({"hba1c_on": ValidationError("Give the date of the HbA1c test.", code="required")})


class Modality(models.TextChoices):
    XRAY = "xray", "X-ray"
    FLEXION_EXTENSION_XRAY = "flexion_extension_xray", "Flexion-extension X-ray"
    CT = "ct", "CT"
    MRI = "mri", "MRI"


class ImagingPurpose(models.TextChoices):
    PRE_OP_PLANNING = "pre_op_planning"
    POST_OP_CHECK = "post_op_check"
    FUSION_ASSESSMENT = "fusion_assessment"


class FusionStatus(models.TextChoices):
    FUSED = "fused"
    PARTIAL = "partial"
    NOT_FUSED = "not_fused", "Not fused / pseudarthrosis"


class HardwareStatus(models.TextChoices):
    INTACT = "intact"
    LOOSENED = "loosened"
    BROKEN = "broken"
    MIGRATED = "migrated"


# Which structured findings each modality can support (MRI neither judges bony fusion nor
# hardware reliably: metal artefact; fusion needs bone detail).
FINDINGS_BY_MODALITY = {
    Modality.XRAY: {"fusion_status", "hardware_status", "adjacent_level_change"},
    Modality.FLEXION_EXTENSION_XRAY: {"fusion_status", "hardware_status", "adjacent_level_change"},
    Modality.CT: {"fusion_status", "hardware_status", "adjacent_level_change"},
    Modality.MRI: {"adjacent_level_change"},
}


class ImagingStudy(ClinicalRecord):
    surgery = models.ForeignKey(
        Surgery, null=True, blank=True, on_delete=models.PROTECT, related_name="imaging_studies"
    )
    modality = models.CharField(max_length=25, choices=Modality.choices)
    performed_on = models.DateField()
    region = models.CharField(max_length=10, choices=Region.choices)
    levels = models.CharField(
        max_length=40, blank=True,
        validators=[RegexValidator(LEVELS_PATTERN, "Levels look like L4-L5 or C5-C6-C7.")],
    )
    purpose = models.CharField(max_length=20, choices=ImagingPurpose.choices)
    reading = models.TextField(max_length=4000, blank=True, validators=[MaxLengthValidator(4000)])
    fusion_status = models.CharField(max_length=10, choices=FusionStatus.choices, blank=True)
    hardware_status = models.CharField(max_length=10, choices=HardwareStatus.choices, blank=True)
    adjacent_level_change = models.BooleanField(null=True, blank=True)

    class Meta:
        db_table = "recovery_imaging_study"
        verbose_name_plural = "imaging studies"
        indexes = ClinicalRecord.sync_indexes("imaging", "performed_on")

    def __str__(self):
        return f"{self.get_modality_display()} {self.levels} on {self.performed_on}"

    def clean(self):
        if self.surgery_id:
            _same_patient(self, Surgery.all_objects.filter(pk=self.surgery_id).first(), "surgery")
        allowed = FINDINGS_BY_MODALITY.get(self.modality, set())
        for name in ("fusion_status", "hardware_status", "adjacent_level_change"):
            if getattr(self, name) not in (None, "") and name not in allowed:
                raise ValidationError(
                    {name: ValidationError(
                        f"A {self.get_modality_display()} does not report {name.replace('_', ' ')}.",
                        code="finding_not_for_modality",
                    )}
                )
        if self.performed_on and self.performed_on > timezone.localdate() + FUTURE_TOLERANCE:
            raise ValidationError({"performed_on": ValidationError("This is in the future.", code="in_future")})


class ComplicationKind(models.TextChoices):
    SSI_SUPERFICIAL = "ssi_superficial", "Surgical-site infection (superficial)"
    SSI_DEEP = "ssi_deep", "Surgical-site infection (deep)"
    NERVE_INJURY = "nerve_injury"
    DURAL_TEAR = "dural_tear"
    BLOOD_LOSS_TRANSFUSION = "blood_loss_transfusion", "Blood loss needing transfusion"
    DELAYED_WOUND_HEALING = "delayed_wound_healing"
    BLOOD_CLOT = "blood_clot", "Blood clot (DVT/PE)"
    HARDWARE_FAILURE = "hardware_failure"
    PSEUDARTHROSIS = "pseudarthrosis"
    REOPERATION = "reoperation"
    OTHER = "other"


class Severity(models.TextChoices):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"
    LIFE_THREATENING = "life_threatening"


class Complication(ClinicalRecord):
    surgery = models.ForeignKey(
        Surgery, null=True, blank=True, on_delete=models.PROTECT, related_name="complications"
    )
    kind = models.CharField(max_length=25, choices=ComplicationKind.choices)
    noticed_on = models.DateField()
    severity = models.CharField(max_length=20, choices=Severity.choices)
    treatment = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])
    resolved_on = models.DateField(null=True, blank=True)
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        db_table = "recovery_complication"
        indexes = ClinicalRecord.sync_indexes("complication", "noticed_on")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resolved_on__isnull=True) | models.Q(resolved_on__gte=models.F("noticed_on")),
                name="complication_resolved_after_noticed",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} noticed {self.noticed_on}"

    def clean(self):
        if self.surgery_id:
            surgery = Surgery.all_objects.filter(pk=self.surgery_id).first()
            _same_patient(self, surgery, "surgery")
            if surgery and self.noticed_on and self.noticed_on < surgery.performed_on:
                raise ValidationError(
                    {"noticed_on": ValidationError("A complication comes after its surgery.", code="date_order")}
                )
        if self.noticed_on and self.noticed_on > timezone.localdate() + FUTURE_TOLERANCE:
            raise ValidationError({"noticed_on": ValidationError("This is in the future.", code="in_future")})

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None


# --- Recovery protocols (issue 7) -------------------------------------------------------------


class Protocol(models.Model):
    """A care plan set up once per kind of surgery, relative to the surgery date.

    Protocols without a clinic are shipped defaults: every clinic may apply them or copy them
    into its own, editable protocol.
    """

    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.CASCADE, related_name="protocols"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(max_length=4000, blank=True, validators=[MaxLengthValidator(4000)])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="protocol_name_per_clinic"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(clinic__isnull=True), name="protocol_default_name"
            ),
        ]

    def __str__(self):
        return self.name if self.clinic_id else f"{self.name} (default)"


class ProtocolItemType(models.TextChoices):
    RESTRICTION = "restriction"
    APPOINTMENT = "appointment"
    MILESTONE = "milestone"
    PT_PLAN = "pt_plan", "PT plan"


class ProtocolItem(models.Model):
    """One line of a protocol. Which fields apply depends on ``item_type``."""

    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="items")
    item_type = models.CharField(max_length=12, choices=ProtocolItemType.choices)
    # Restrictions: weeks from the surgery; an empty end week means "until lifted".
    activity = models.CharField(max_length=15, choices=Activity.choices, blank=True)
    instructions = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])
    limit_value = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    limit_unit = models.CharField(max_length=10, choices=LimitUnit.choices, blank=True)
    start_week = models.PositiveSmallIntegerField(null=True, blank=True)
    end_week = models.PositiveSmallIntegerField(null=True, blank=True)
    # Appointments and milestones: days from the surgery.
    day_offset = models.IntegerField(null=True, blank=True)
    purpose = models.CharField(max_length=20, choices=AppointmentPurpose.choices, blank=True)
    imaging = models.CharField(max_length=5, choices=Imaging.choices, blank=True)
    title = models.CharField(max_length=200, blank=True)
    milestone_kind = models.CharField(max_length=20, choices=MilestoneKind.choices, blank=True)
    # PT plan: from start_week, sessions_per_week for weeks.
    sessions_per_week = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(7)])
    weeks = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(52)])
    pt_setting = models.CharField(max_length=10, choices=PTSetting.choices, blank=True)

    REQUIRED = {
        ProtocolItemType.RESTRICTION: ("activity", "start_week"),
        ProtocolItemType.APPOINTMENT: ("day_offset", "purpose"),
        ProtocolItemType.MILESTONE: ("day_offset", "title"),
        ProtocolItemType.PT_PLAN: ("start_week", "sessions_per_week", "weeks"),
    }

    class Meta:
        ordering = ["protocol", "item_type", "day_offset", "start_week", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_week__isnull=True) | models.Q(end_week__gte=models.F("start_week")),
                name="protocol_item_end_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.get_item_type_display()}: {self.describe()}"

    def clean(self):
        missing = [name for name in self.REQUIRED.get(self.item_type, ()) if getattr(self, name) in (None, "")]
        if missing:
            raise ValidationError(
                {name: ValidationError(f"A {self.item_type} item needs this.", code="required") for name in missing}
            )
        if (self.limit_value is None) != (not self.limit_unit):
            raise ValidationError({"limit_unit": ValidationError("A limit needs a value and a unit.", code="required")})

    def describe(self) -> str:
        if self.item_type == ProtocolItemType.RESTRICTION:
            until = f"to week {self.end_week}" if self.end_week is not None else "until lifted"
            return f"no {self.activity} from week {self.start_week} {until}"
        if self.item_type == ProtocolItemType.PT_PLAN:
            return f"PT {self.sessions_per_week}x/week for {self.weeks} weeks from week {self.start_week}"
        return f"{self.title or self.purpose} on day {self.day_offset}"


class ProtocolApplication(models.Model):
    """A protocol applied to one surgery. ``anchor_on`` is the surgery date the generated items
    were last computed from; moving the surgery shifts what has not happened yet."""

    protocol = models.ForeignKey(Protocol, on_delete=models.PROTECT, related_name="applications")
    surgery = models.ForeignKey(Surgery, on_delete=models.CASCADE, related_name="protocol_applications")
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_at = models.DateTimeField(default=timezone.now)
    anchor_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["protocol", "surgery"], name="protocol_once_per_surgery"),
        ]

    def __str__(self):
        return f"{self.protocol} for {self.surgery}"

    @property
    def id_prefix(self) -> str:
        """Generated records have ids ``pa<application>-<item>[-<n>]`` (at most 36 characters)."""
        return f"pa{self.pk}-"


# --- Red-flag check-ins and alerts (issue 7) --------------------------------------------------


class CheckIn(ClinicalRecord):
    """A short symptom check-in answered by the patient. Every answer is optional (null: not
    asked or skipped); ``True`` means the patient has the symptom now."""

    answered_at = models.DateTimeField()
    temperature_c = models.DecimalField(
        max_digits=3, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(30), MaxValueValidator(45)],
        help_text="Body temperature in degrees Celsius (the app converts from Fahrenheit).",
    )
    wound_redness = models.BooleanField(null=True, blank=True)
    wound_swelling_or_drainage = models.BooleanField(null=True, blank=True)
    wound_opening = models.BooleanField(null=True, blank=True)
    new_numbness_or_weakness = models.BooleanField(null=True, blank=True)
    bowel_bladder_loss_or_saddle_numbness = models.BooleanField(null=True, blank=True)
    cannot_move_limb = models.BooleanField(null=True, blank=True)
    calf_pain_or_leg_swelling = models.BooleanField(null=True, blank=True)
    chest_pain_or_breathless = models.BooleanField(null=True, blank=True)
    trouble_swallowing_or_breathing = models.BooleanField(
        null=True, blank=True, help_text="After neck surgery."
    )
    pain_uncontrolled = models.BooleanField(null=True, blank=True)
    fell = models.BooleanField(null=True, blank=True)
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        db_table = "recovery_check_in"
        verbose_name = "check-in"
        indexes = ClinicalRecord.sync_indexes("checkin", "answered_at")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(temperature_c__isnull=True)
                | models.Q(temperature_c__gte=30, temperature_c__lte=45),
                name="checkin_temperature_range",
            ),
        ]

    def __str__(self):
        return f"Check-in {self.answered_at:%Y-%m-%d %H:%M}"

    def clean(self):
        _not_in_future(self.answered_at, "answered_at")


class Tier(models.TextChoices):
    EMERGENCY = "emergency", "Emergency: call emergency services now"
    SAME_DAY = "same_day", "Same day"
    WITHIN_24H = "within_24h", "Within 24 hours"


class TriageRule(models.Model):
    """A rule of red-flag triage, as data. A clinic row with the same ``key`` replaces the
    default (``clinic`` empty) for that clinic; ``is_active`` off switches it off there."""

    class Source(models.TextChoices):
        CHECK_IN = "check_in"
        PAIN_TREND = "pain_trend", "7-day pain mean rise"
        PAIN_STREAK = "pain_streak", "Consecutive high pain logs"

    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.SlugField(max_length=50)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.CHECK_IN)
    field = models.CharField(max_length=50, blank=True, help_text="check-in answer this rule reads")
    threshold = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True,
        help_text="check-in: above this value (temperature); pain_trend: rise in points; "
        "pain_streak: the intensity at or above which a log counts",
    )
    count = models.PositiveSmallIntegerField(null=True, blank=True, help_text="pain_streak: logs in a row")
    neck_surgery_only = models.BooleanField(default=False)
    tier = models.CharField(max_length=12, choices=Tier.choices)
    title = models.CharField(max_length=200)
    patient_message = models.TextField(max_length=1000)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clinic", "key"], name="triage_rule_key_per_clinic"),
            models.UniqueConstraint(
                fields=["key"], condition=models.Q(clinic__isnull=True), name="triage_rule_default_key"
            ),
        ]

    def __str__(self):
        return f"{self.title} ({self.tier})"


class AlertStatus(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(models.Model):
    """A red flag for the care team: open -> acknowledged -> resolved, each step with who and
    when. At most one unresolved alert per patient and cause."""

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="alerts")
    rule_key = models.SlugField(max_length=50)
    cause_key = models.CharField(max_length=120)
    tier = models.CharField(max_length=12, choices=Tier.choices)
    title = models.CharField(max_length=200)
    detail = models.TextField(max_length=2000, blank=True)
    source_table = models.CharField(max_length=30, blank=True)
    source_id = models.CharField(max_length=36, blank=True)
    status = models.CharField(max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    acknowledge_by = models.DateTimeField(help_text="escalated to the surgeon when still open then")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(max_length=2000, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["patient", "opened_at"]),
            models.Index(fields=["status", "acknowledge_by"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "cause_key"],
                condition=~models.Q(status="resolved"),
                name="alert_one_unresolved_per_cause",
            ),
            models.CheckConstraint(
                condition=models.Q(status="open")
                | models.Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="alert_acknowledged_has_who_and_when",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="resolved")
                | models.Q(resolved_at__isnull=False, resolved_by__isnull=False),
                name="alert_resolved_has_who_and_when",
            ),
        ]

    def __str__(self):
        return f"{self.get_tier_display()}: {self.title}"
