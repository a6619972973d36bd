"""Before and around the operation: the preparation checklist, imaging studies and
complications."""

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
    RegexValidator,
)
from django.db import models
from django.utils import timezone

from recovery.record.models import (
    FUTURE_TOLERANCE,
    LEVELS_PATTERN,
    ClinicalRecord,
    Region,
    Surgery,
    _same_patient,
)


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
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(3), MaxValueValidator(20)],
    )
    hba1c_on = models.DateField(null=True, blank=True)
    weight_kg = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(20), MaxValueValidator(400)],
    )
    bmi = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
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
                violation_error_code="out_of_range",
                violation_error_message="HbA1c must be between 3 and 20 percent.",
            ),
            models.CheckConstraint(
                condition=models.Q(bmi__isnull=True) | models.Q(bmi__gte=10, bmi__lte=90),
                name="prep_bmi_range",
                violation_error_code="out_of_range",
                violation_error_message="BMI must be between 10 and 90.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="waived") | ~models.Q(waived_reason=""),
                name="prep_waiver_has_reason",
                violation_error_code="required",
                violation_error_message="Give the reason the item is waived.",
            ),
        ]

    def __str__(self):
        return self.title or self.get_kind_display()

    def clean(self):
        if self.surgery_id:
            surgery = Surgery.all_objects.filter(pk=self.surgery_id).first()
            _same_patient(self, surgery, "surgery")
            if surgery and self.due_on and self.due_on > surgery.performed_on:
                raise ValidationError(
                    {
                        "due_on": ValidationError(
                            "Preparation is due before the surgery.", code="date_order"
                        )
                    }
                )
        for name, kind in self.KIND_FIELDS.items():
            if getattr(self, name) not in (None, "") and self.kind != kind:
                raise ValidationError(
                    {
                        name: ValidationError(
                            f"Only a {kind} item records {name}.", code="not_for_this_kind"
                        )
                    }
                )
        if self.status == PrepStatus.WAIVED and not self.waived_reason.strip():
            raise ValidationError(
                {"waived_reason": ValidationError("Say why it is waived.", code="required")}
            )
        if self.status == PrepStatus.DONE and self.completed_on is None:
            raise ValidationError(
                {"completed_on": ValidationError("When was it done?", code="required")}
            )
        if self.status == PrepStatus.OPEN and self.completed_on is not None:
            raise ValidationError(
                {"completed_on": ValidationError("An open item is not completed.", code="invalid")}
            )
        if self.completed_on and self.completed_on > timezone.localdate() + FUTURE_TOLERANCE:
            raise ValidationError(
                {"completed_on": ValidationError("This is in the future.", code="in_future")}
            )
        if self.hba1c_percent is not None and self.hba1c_on is None:
            raise ValidationError(
                {"hba1c_on": ValidationError("Give the date of the HbA1c test.", code="required")}
            )


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
        max_length=40,
        blank=True,
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
                    {
                        name: ValidationError(
                            f"A {self.get_modality_display()} does not report {name.replace('_', ' ')}.",
                            code="finding_not_for_modality",
                        )
                    }
                )
        if self.performed_on and self.performed_on > timezone.localdate() + FUTURE_TOLERANCE:
            raise ValidationError(
                {"performed_on": ValidationError("This is in the future.", code="in_future")}
            )


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
                condition=models.Q(resolved_on__isnull=True)
                | models.Q(resolved_on__gte=models.F("noticed_on")),
                name="complication_resolved_after_noticed",
                violation_error_code="date_order",
                violation_error_message="A complication cannot be resolved before it was noticed.",
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
                    {
                        "noticed_on": ValidationError(
                            "A complication comes after its surgery.", code="date_order"
                        )
                    }
                )
        if self.noticed_on and self.noticed_on > timezone.localdate() + FUTURE_TOLERANCE:
            raise ValidationError(
                {"noticed_on": ValidationError("This is in the future.", code="in_future")}
            )

    @property
    def is_open(self) -> bool:
        return self.resolved_on is None


# --- Recovery protocols (issue 7) -------------------------------------------------------------
