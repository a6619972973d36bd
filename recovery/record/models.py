"""The clinical record (design.md section 2): the base every patient row shares, and the core
tables (surgeries, hospital stays, medications, pain logs, PT sessions, restrictions,
appointments, milestones).

Every row belongs to one patient and carries:
- ``id``: a string of 1-36 characters from ``[A-Za-z0-9_-]``, chosen by the phone for records it
  creates (so a retried create can never duplicate) or generated here;
- ``sync_version``: the patient's change clock at the row's last change (sync pulls rows with a
  larger value than the device last saw);
- ``deleted_at``: a tombstone. Deleted rows stay so sync can tell devices; the default manager
  hides them from the API and the admin.

Rows change only through the write path (``recovery.record.writes``) and the services built on it.
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
            {
                attr: ValidationError(
                    "Unknown value(s): %(unknown)s. Allowed: %(allowed)s.",
                    code="invalid_choice",
                    params={"unknown": ", ".join(unknown), "allowed": ", ".join(choices.values)},
                )
            }
        )
    if len(set(value)) != len(value):
        raise ValidationError({attr: ValidationError("Values repeat.", code="duplicate")})


def _same_patient(record, related, attr) -> None:
    if related is not None and (related.patient_id != record.patient_id or related.deleted_at):
        raise ValidationError(
            {attr: ValidationError("No such record for this patient.", code="does_not_exist")}
        )


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
                condition=~models.Q(prior_surgery=models.F("id")),
                name="surgery_prior_not_self",
                violation_error_code="invalid",
                violation_error_message="A surgery cannot be its own prior surgery.",
            ),
            models.CheckConstraint(
                condition=models.Q(estimated_blood_loss_ml__isnull=True)
                | models.Q(estimated_blood_loss_ml__lte=20000),
                name="surgery_blood_loss_range",
                violation_error_code="out_of_range",
                violation_error_message="Estimated blood loss can be at most 20,000 ml.",
            ),
        ]

    def __str__(self):
        revision = "Revision " if self.is_revision else ""
        return (
            f"{revision}{self.get_procedure_display().lower()} {self.levels} on {self.performed_on}"
        )

    def clean(self):
        _choice_list(self.revision_reasons, RevisionReason, "revision_reasons")
        if self.revision_reasons and not self.is_revision:
            raise ValidationError(
                {
                    "revision_reasons": ValidationError(
                        "Only a revision has revision reasons.", code="not_revision"
                    )
                }
            )
        if self.prior_surgery_id:
            if self.prior_surgery_id == self.id:
                raise ValidationError(
                    {
                        "prior_surgery": ValidationError(
                            "A surgery cannot precede itself.", code="invalid"
                        )
                    }
                )
            prior = Surgery.all_objects.filter(pk=self.prior_surgery_id).first()
            _same_patient(self, prior, "prior_surgery")
            if prior and self.performed_on and prior.performed_on >= self.performed_on:
                raise ValidationError(
                    {
                        "prior_surgery": ValidationError(
                            "The prior surgery must be earlier.", code="date_order"
                        )
                    }
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
                violation_error_code="date_order",
                violation_error_message="The discharge must come after the admission.",
            ),
        ]

    def __str__(self):
        return f"Stay from {self.admitted_at:%Y-%m-%d}"

    def clean(self):
        if self.surgery_id:
            _same_patient(self, Surgery.all_objects.filter(pk=self.surgery_id).first(), "surgery")

    @property
    def length_of_stay(self):
        """Nights in hospital (None while inpatient), counted on the patient's calendar."""
        return self.nights_in(self.patient.tz)

    def nights_in(self, tz) -> int | None:
        """Nights between admission and discharge on the calendar of ``tz``: a stay from 17:00
        Monday to 10:00 Thursday in Los Angeles is three nights, though in UTC it starts on
        Tuesday."""
        if self.discharged_at is None:
            return None
        return (
            timezone.localtime(self.discharged_at, tz).date()
            - timezone.localtime(self.admitted_at, tz).date()
        ).days


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


class Medication(ClinicalRecord):
    """One medicine on the patient's list: what, how much, from when until when. A pain log
    names the ones taken (``PainLog.medications``)."""

    name = models.CharField(max_length=200)
    dose = models.CharField(
        max_length=200, blank=True, help_text="As prescribed, e.g. 5 mg every 6 hours as needed."
    )
    started_on = models.DateField()
    stopped_on = models.DateField(null=True, blank=True, help_text="Empty: still taken.")
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        db_table = "recovery_medication"
        indexes = ClinicalRecord.sync_indexes("medication", "started_on")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stopped_on__isnull=True)
                | models.Q(stopped_on__gte=models.F("started_on")),
                name="medication_stop_after_start",
                violation_error_code="date_order",
                violation_error_message="A medication cannot stop before it starts.",
            ),
        ]

    def __str__(self):
        return f"{self.name} {self.dose}".strip()

    def clean(self):
        if not self.name.strip():
            raise ValidationError({"name": ValidationError("Name the medicine.", code="blank")})
        if self.stopped_on and self.started_on and self.stopped_on < self.started_on:
            raise ValidationError(
                {"stopped_on": ValidationError("Stopped before it started.", code="date_order")}
            )


MEDICATIONS_PER_LOG = 20


def _medications_of_patient(record, ids, attr) -> None:
    """``ids`` is a list of distinct ids of the patient's medications (one query). A medication
    since removed from the list still counts: an old log keeps naming what was taken then."""
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValidationError({attr: ValidationError("A list of medication ids.", code="invalid")})
    if len(ids) > MEDICATIONS_PER_LOG:
        raise ValidationError(
            {attr: ValidationError(f"At most {MEDICATIONS_PER_LOG}.", code="max_length")}
        )
    if len(set(ids)) != len(ids):
        raise ValidationError({attr: ValidationError("Values repeat.", code="duplicate")})
    if not ids:
        return
    found = Medication.all_objects.filter(patient_id=record.patient_id, pk__in=ids).count()
    if found != len(ids):
        raise ValidationError(
            {attr: ValidationError("No such medication for this patient.", code="does_not_exist")}
        )


class PainLog(ClinicalRecord):
    recorded_at = models.DateTimeField()
    intensity = models.PositiveSmallIntegerField(validators=zero_to_ten())
    location = models.CharField(max_length=10, choices=PainLocation.choices)
    medication_taken = models.BooleanField(default=False)
    relief = models.JSONField(default=list, blank=True)
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])
    # Which of the patient's medications were taken (ids); ``medication_taken`` stays the
    # yes/no older apps send, and is true whenever this names any.
    medications = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "recovery_pain_log"
        indexes = ClinicalRecord.sync_indexes("painlog", "recorded_at")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(intensity__gte=0, intensity__lte=10),
                name="pain_intensity_0_10",
                violation_error_code="out_of_range",
                violation_error_message="Pain intensity must be between 0 and 10.",
            ),
        ]

    def __str__(self):
        return f"Pain {self.intensity}/10 ({self.location}) at {self.recorded_at:%Y-%m-%d %H:%M}"

    def clean(self):
        _choice_list(self.relief, Relief, "relief")
        _not_in_future(self.recorded_at, "recorded_at")
        _medications_of_patient(self, self.medications, "medications")


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
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not item["name"].strip()
        ):
            raise bad(f"Exercise {i}: an object with a name.")
        if len(item["name"]) > 100:
            raise bad(f"Exercise {i}: the name is longer than 100 characters.")
        for key, val in item.items():
            if key not in EXERCISE_KEYS:
                raise bad(f"Exercise {i}: unknown key {key!r}; allowed: name, sets, reps, minutes.")
            if key == "name":
                continue
            if (
                isinstance(val, bool)
                or not isinstance(val, EXERCISE_KEYS[key])
                or not 0 <= val <= EXERCISE_LIMITS[key]
            ):
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
                condition=models.Q(scheduled_for__isnull=False)
                | models.Q(performed_at__isnull=False),
                name="pt_has_a_time",
                violation_error_code="required",
                violation_error_message="Give the time the session is planned for or the time it took place.",
            ),
            models.CheckConstraint(
                condition=models.Q(pain_before__isnull=True) | models.Q(pain_before__lte=10),
                name="pt_pain_before_0_10",
                violation_error_code="out_of_range",
                violation_error_message="Pain before the session must be between 0 and 10.",
            ),
            models.CheckConstraint(
                condition=models.Q(pain_after__isnull=True) | models.Q(pain_after__lte=10),
                name="pt_pain_after_0_10",
                violation_error_code="out_of_range",
                violation_error_message="Pain after the session must be between 0 and 10.",
            ),
            models.CheckConstraint(
                condition=models.Q(exertion__isnull=True) | models.Q(exertion__lte=10),
                name="pt_exertion_0_10",
                violation_error_code="out_of_range",
                violation_error_message="Exertion must be between 0 and 10.",
            ),
            models.CheckConstraint(
                condition=models.Q(duration_minutes__isnull=True)
                | models.Q(duration_minutes__lte=600),
                name="pt_duration_max",
                violation_error_code="out_of_range",
                violation_error_message="A session can last at most 600 minutes.",
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
                {
                    "performed_at": ValidationError(
                        "A completed session needs the time it was done.", code="required"
                    )
                }
            )
        if self.scheduled_for is None and self.performed_at is None:
            raise ValidationError(
                {
                    "scheduled_for": ValidationError(
                        "Give scheduled_for or performed_at.", code="required"
                    )
                }
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
    instructions = models.TextField(
        max_length=2000, blank=True, validators=[MaxLengthValidator(2000)]
    )
    limit_value = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)]
    )
    limit_unit = models.CharField(max_length=10, choices=LimitUnit.choices, blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField(
        null=True, blank=True, help_text="Empty: until the surgeon lifts it."
    )
    lifted_on = models.DateField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "recovery_restriction"
        indexes = ClinicalRecord.sync_indexes("restriction", "starts_on")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="restriction_end_after_start",
                violation_error_code="date_order",
                violation_error_message="The restriction cannot end before it starts.",
            ),
            models.CheckConstraint(
                condition=models.Q(lifted_on__isnull=True)
                | models.Q(lifted_on__gte=models.F("starts_on")),
                name="restriction_lifted_after_start",
                violation_error_code="date_order",
                violation_error_message="A restriction cannot be lifted before it starts.",
            ),
            models.CheckConstraint(
                condition=models.Q(limit_value__isnull=True) | ~models.Q(limit_unit=""),
                name="restriction_limit_has_unit",
                violation_error_code="required",
                violation_error_message="Give the unit of the limit (for example lb or kg).",
            ),
        ]

    def __str__(self):
        return f"No {self.get_activity_display().lower()} from {self.starts_on}"

    def clean(self):
        if self.limit_unit and self.limit_value is None:
            raise ValidationError(
                {"limit_value": ValidationError("A unit needs a value.", code="required")}
            )
        if self.limit_value is not None and not self.limit_unit:
            raise ValidationError(
                {"limit_unit": ValidationError("A value needs a unit.", code="required")}
            )

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
        "ImagingStudy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The study this appointment reviews.",
    )
    notes = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])

    class Meta:
        db_table = "recovery_appointment"
        indexes = ClinicalRecord.sync_indexes("appointment", "starts_at")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="appointment_end_after_start",
                violation_error_code="date_order",
                violation_error_message="The appointment must end after it starts.",
            ),
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} on {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self):
        if self.imaging_study_id:
            study_model = self._meta.get_field("imaging_study").related_model  # preparation's
            _same_patient(
                self,
                study_model.all_objects.filter(pk=self.imaging_study_id).first(),
                "imaging_study",
            )


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
    kind = models.CharField(
        max_length=20, choices=MilestoneKind.choices, default=MilestoneKind.OTHER
    )
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
            raise ValidationError(
                {"achieved_on": ValidationError("This is in the future.", code="in_future")}
            )
