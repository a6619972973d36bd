"""Input and output serializers of the clinical record (wire names: design.md section 2).

Inputs are plain, strict serializers: types, formats, ranges and choices of what a client may
send. The rules of the record (role rules, dates in order, a surgery of the same patient...) live
in the models and services, which answer with the same error shape.

Outputs describe what the API answers. Lists do not run them (they read ``values_list()`` rows and
render them with orjson, see ``recovery/api/kinds.py``); a test holds the two to the same fields.
"""

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from config.api.serializers import StrictSerializer
from recovery.activity.models import STEPS_MAX, StepSource
from recovery.outcomes.models import Instrument, Timepoint
from recovery.preparation.models import (
    ComplicationKind,
    FusionStatus,
    HardwareStatus,
    ImagingPurpose,
    Modality,
    PrepKind,
    PrepOwner,
    PrepStatus,
    Severity,
)
from recovery.record.models import (
    EXERCISE_LIMITS,
    LEVELS_PATTERN,
    MEDICATIONS_PER_LOG,
    Activity,
    AppointmentPurpose,
    AppointmentStatus,
    DischargeDisposition,
    Imaging,
    LimitUnit,
    MilestoneKind,
    PainLocation,
    Procedure,
    PTSetting,
    PTStatus,
    Region,
    Relief,
    RestrictionStatus,
    RevisionReason,
)

from .fields import (
    PK_MAX,
    AwareDateTimeField,
    BoundedDateField,
    ChoiceListField,
    RecordIdField,
    score,
    staff_ref,
    text,
)

# --- Output -----------------------------------------------------------------------------------


class RecordOutput(serializers.Serializer):
    id = serializers.CharField()
    patient = serializers.IntegerField(help_text="The patient profile's id.")
    created_by = serializers.IntegerField(allow_null=True, help_text="The user who created it.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SurgeryOutput(RecordOutput):
    performed_on = serializers.DateField()
    region = serializers.ChoiceField(choices=Region.choices)
    levels = serializers.CharField()
    procedure = serializers.ChoiceField(choices=Procedure.choices)
    is_revision = serializers.BooleanField()
    revision_reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=RevisionReason.choices)
    )
    prior_surgery = serializers.CharField(
        allow_null=True, help_text="Id of the surgery this one revises."
    )
    surgeon = serializers.IntegerField(
        allow_null=True, help_text="User id of the operating surgeon."
    )
    facility = serializers.CharField()
    estimated_blood_loss_ml = serializers.IntegerField(allow_null=True)
    transfusion_given = serializers.BooleanField(allow_null=True)
    notes = serializers.CharField()


class HospitalStayOutput(RecordOutput):
    surgery = serializers.CharField(help_text="Id of the surgery.")
    admitted_at = serializers.DateTimeField()
    discharged_at = serializers.DateTimeField(allow_null=True)
    facility = serializers.CharField()
    discharge_disposition = serializers.ChoiceField(
        choices=[("", "Not discharged"), *DischargeDisposition.choices]
    )
    length_of_stay = serializers.IntegerField(
        allow_null=True, help_text="Nights in hospital; null while inpatient."
    )


class PainLogOutput(RecordOutput):
    recorded_at = serializers.DateTimeField()
    intensity = serializers.IntegerField(min_value=0, max_value=10)
    location = serializers.ChoiceField(choices=PainLocation.choices)
    medication_taken = serializers.BooleanField()
    relief = serializers.ListField(child=serializers.ChoiceField(choices=Relief.choices))
    notes = serializers.CharField()
    medications = serializers.ListField(
        child=serializers.CharField(), help_text="Ids of the patient's medications taken."
    )


class MedicationOutput(RecordOutput):
    name = serializers.CharField()
    dose = serializers.CharField()
    started_on = serializers.DateField()
    stopped_on = serializers.DateField(allow_null=True)
    notes = serializers.CharField()


class DailyStepsOutput(RecordOutput):
    day = serializers.DateField(help_text="The local day (the patient's time zone).")
    steps = serializers.IntegerField()
    counted_at = serializers.DateTimeField(
        help_text="When the phone read this total; of two counts of a day the later is kept."
    )
    source = serializers.ChoiceField(choices=StepSource.choices)


class Exercise(StrictSerializer):
    name = serializers.CharField(max_length=100)
    sets = serializers.IntegerField(min_value=0, max_value=EXERCISE_LIMITS["sets"], required=False)
    reps = serializers.IntegerField(min_value=0, max_value=EXERCISE_LIMITS["reps"], required=False)
    minutes = serializers.FloatField(
        min_value=0, max_value=EXERCISE_LIMITS["minutes"], required=False
    )


class PTSessionOutput(RecordOutput):
    scheduled_for = serializers.DateTimeField(allow_null=True)
    performed_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=PTStatus.choices)
    setting = serializers.ChoiceField(choices=PTSetting.choices)
    duration_minutes = serializers.IntegerField(allow_null=True)
    exercises = Exercise(many=True)
    pain_before = serializers.IntegerField(allow_null=True)
    pain_after = serializers.IntegerField(allow_null=True)
    exertion = serializers.IntegerField(allow_null=True)
    notes = serializers.CharField()


class RestrictionOutput(RecordOutput):
    activity = serializers.ChoiceField(choices=Activity.choices)
    instructions = serializers.CharField()
    limit_value = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    limit_unit = serializers.ChoiceField(choices=[("", "None"), *LimitUnit.choices])
    starts_on = serializers.DateField()
    ends_on = serializers.DateField(allow_null=True)
    lifted_on = serializers.DateField(allow_null=True)
    lifted_by = serializers.IntegerField(allow_null=True, help_text="User id of who lifted it.")
    status = serializers.ChoiceField(
        choices=RestrictionStatus.choices, help_text="On today's date in the patient's time zone."
    )


class AppointmentOutput(RecordOutput):
    clinician = serializers.IntegerField(allow_null=True, help_text="User id of the clinician.")
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(allow_null=True)
    location = serializers.CharField()
    telehealth_url = serializers.CharField()
    purpose = serializers.ChoiceField(choices=AppointmentPurpose.choices)
    imaging = serializers.ChoiceField(choices=Imaging.choices)
    status = serializers.ChoiceField(choices=AppointmentStatus.choices)
    imaging_study = serializers.CharField(
        allow_null=True, help_text="Id of the imaging study it reviews."
    )
    notes = serializers.CharField()


class MilestoneOutput(RecordOutput):
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=MilestoneKind.choices)
    target_on = serializers.DateField(allow_null=True)
    achieved_on = serializers.DateField(allow_null=True)
    notes = serializers.CharField()


class OutcomeScoreOutput(RecordOutput):
    instrument = serializers.ChoiceField(choices=Instrument.choices)
    version = serializers.CharField()
    timepoint = serializers.ChoiceField(choices=Timepoint.choices)
    completed_at = serializers.DateTimeField()
    surgery = serializers.CharField(allow_null=True)
    answers = serializers.DictField(child=serializers.IntegerField(allow_null=True))
    sections_answered = serializers.IntegerField()
    score = serializers.DecimalField(
        max_digits=5, decimal_places=1, help_text="ODI/NDI percent, or the NRS value."
    )
    band = serializers.CharField(allow_null=True, help_text="ODI/NDI severity band.")
    change_from_baseline = serializers.DecimalField(
        max_digits=4,
        decimal_places=1,
        allow_null=True,
        help_text="Improvement since the baseline of the same instrument: baseline minus this "
        "score (lower is better on every instrument, so positive is better). The baseline is "
        "the latest of the same surgery, else the patient's latest; null for a baseline score "
        "and when there is no baseline of this instrument.",
    )
    mcid_reached = serializers.BooleanField(
        allow_null=True,
        help_text="Whether `change_from_baseline` reaches the minimal clinically important "
        "difference for the patient's population (the clinic's own value first); null when "
        "`change_from_baseline` is null or no MCID is known for the instrument and population.",
    )


class PrepItemOutput(RecordOutput):
    surgery = serializers.CharField()
    kind = serializers.ChoiceField(choices=PrepKind.choices)
    title = serializers.CharField()
    owner = serializers.ChoiceField(choices=PrepOwner.choices)
    due_on = serializers.DateField()
    status = serializers.ChoiceField(choices=PrepStatus.choices)
    completed_on = serializers.DateField(allow_null=True)
    waived_reason = serializers.CharField()
    quit_on = serializers.DateField(allow_null=True)
    nicotine_free_confirmed = serializers.BooleanField(allow_null=True)
    second_opinion = serializers.CharField()
    hba1c_percent = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True)
    hba1c_on = serializers.DateField(allow_null=True)
    weight_kg = serializers.DecimalField(max_digits=5, decimal_places=1, allow_null=True)
    bmi = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True)
    notes = serializers.CharField()


class ImagingStudyOutput(RecordOutput):
    surgery = serializers.CharField(allow_null=True)
    modality = serializers.ChoiceField(choices=Modality.choices)
    performed_on = serializers.DateField()
    region = serializers.ChoiceField(choices=Region.choices)
    levels = serializers.CharField()
    purpose = serializers.ChoiceField(choices=ImagingPurpose.choices)
    reading = serializers.CharField()
    fusion_status = serializers.ChoiceField(choices=[("", "Not reported"), *FusionStatus.choices])
    hardware_status = serializers.ChoiceField(
        choices=[("", "Not reported"), *HardwareStatus.choices]
    )
    adjacent_level_change = serializers.BooleanField(allow_null=True)


class ComplicationOutput(RecordOutput):
    surgery = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(choices=ComplicationKind.choices)
    noticed_on = serializers.DateField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    treatment = serializers.CharField()
    resolved_on = serializers.DateField(allow_null=True)
    notes = serializers.CharField()


def page_serializer(output: type[serializers.Serializer]) -> type[serializers.Serializer]:
    name = output.__name__.removesuffix("Output")
    page = type(
        f"{name}Page",
        (serializers.Serializer,),
        {
            "next": serializers.URLField(
                allow_null=True, help_text="The next page (null on the last one)."
            ),
            "results": output(many=True),
            "__doc__": f"One page of {name} records, newest first.",
        },
    )
    return extend_schema_serializer(many=False)(page)


# --- Input: the fields of each kind (PATCH takes any subset) -------------------------------------


class SurgeryInput(StrictSerializer):
    performed_on = BoundedDateField()
    region = serializers.ChoiceField(choices=Region.choices)
    levels = serializers.RegexField(
        LEVELS_PATTERN, max_length=40, help_text="e.g. L4-L5 or C5-C6-C7"
    )
    procedure = serializers.ChoiceField(choices=Procedure.choices)
    is_revision = serializers.BooleanField(required=False)
    revision_reasons = ChoiceListField(RevisionReason.choices, required=False)
    prior_surgery = RecordIdField(
        required=False, allow_null=True, help_text="Id of an earlier surgery."
    )
    surgeon = staff_ref(help_text="User id of a surgeon of the patient's clinic.")
    facility = text(200)
    estimated_blood_loss_ml = serializers.IntegerField(
        min_value=0, max_value=20000, required=False, allow_null=True
    )
    transfusion_given = serializers.BooleanField(required=False, allow_null=True)
    notes = text(4000)


class HospitalStayInput(StrictSerializer):
    surgery = RecordIdField(help_text="Id of one of the patient's surgeries.")
    admitted_at = AwareDateTimeField()
    discharged_at = AwareDateTimeField(required=False, allow_null=True)
    facility = text(200)
    discharge_disposition = serializers.ChoiceField(
        choices=DischargeDisposition.choices, required=False, allow_blank=True
    )


class PainLogInput(StrictSerializer):
    recorded_at = AwareDateTimeField(help_text="When the pain was felt (at most a day ahead).")
    intensity = score(help_text="Numeric rating scale, 0-10.")
    location = serializers.ChoiceField(choices=PainLocation.choices)
    medication_taken = serializers.BooleanField(
        required=False, help_text="True whenever `medications` names any."
    )
    relief = ChoiceListField(Relief.choices, required=False)
    notes = text(2000)
    medications = serializers.ListField(
        child=RecordIdField(),
        max_length=MEDICATIONS_PER_LOG,
        required=False,
        help_text="Ids of the patient's own medications (`/medications/`) taken for this pain.",
    )


class MedicationInput(StrictSerializer):
    name = serializers.CharField(max_length=200)
    dose = text(200, help_text="As prescribed, e.g. 5 mg every 6 hours as needed.")
    started_on = BoundedDateField()
    stopped_on = BoundedDateField(required=False, allow_null=True, help_text="Empty: still taken.")
    notes = text(2000)


class DailyStepsInput(StrictSerializer):
    day = BoundedDateField(help_text="The local day (the patient's time zone); not in the future.")
    steps = serializers.IntegerField(min_value=0, max_value=STEPS_MAX)
    counted_at = AwareDateTimeField(
        required=False,
        help_text="When the phone read this total from its health store (default: now). "
        "A count older than the stored one for the day changes nothing.",
    )
    source = serializers.ChoiceField(choices=StepSource.choices, required=False)


class PTSessionInput(StrictSerializer):
    scheduled_for = AwareDateTimeField(required=False, allow_null=True)
    performed_at = AwareDateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=PTStatus.choices, required=False)
    setting = serializers.ChoiceField(choices=PTSetting.choices, required=False)
    duration_minutes = serializers.IntegerField(
        min_value=0, max_value=600, required=False, allow_null=True
    )
    exercises = serializers.ListField(child=Exercise(), max_length=50, required=False)
    pain_before = score(required=False, allow_null=True)
    pain_after = score(required=False, allow_null=True)
    exertion = score(required=False, allow_null=True)
    notes = text(2000)


class RestrictionInput(StrictSerializer):
    activity = serializers.ChoiceField(choices=Activity.choices)
    instructions = text(2000)
    limit_value = serializers.DecimalField(
        max_digits=7, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    limit_unit = serializers.ChoiceField(
        choices=LimitUnit.choices, required=False, allow_blank=True
    )
    starts_on = BoundedDateField()
    ends_on = BoundedDateField(required=False, allow_null=True, help_text="Empty: until lifted.")


class AppointmentInput(StrictSerializer):
    clinician = staff_ref(help_text="User id of a clinician of the patient's clinic.")
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField(required=False, allow_null=True)
    location = text(200)
    telehealth_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    purpose = serializers.ChoiceField(choices=AppointmentPurpose.choices)
    imaging = serializers.ChoiceField(choices=Imaging.choices, required=False)
    status = serializers.ChoiceField(choices=AppointmentStatus.choices, required=False)
    imaging_study = RecordIdField(
        required=False, allow_null=True, help_text="Id of the study it reviews."
    )
    notes = text(2000)


class MilestoneInput(StrictSerializer):
    title = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=MilestoneKind.choices, required=False)
    target_on = BoundedDateField(required=False, allow_null=True)
    achieved_on = BoundedDateField(required=False, allow_null=True)
    notes = text(2000)


class OutcomeScoreInput(StrictSerializer):
    instrument = serializers.ChoiceField(choices=Instrument.choices)
    version = serializers.CharField(max_length=20, required=False, allow_blank=True)
    timepoint = serializers.ChoiceField(choices=Timepoint.choices)
    completed_at = AwareDateTimeField()
    surgery = RecordIdField(
        required=False, allow_null=True, help_text="Id of the surgery it follows."
    )
    answers = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=10, allow_null=True),
        help_text='ODI/NDI: {"s1": 0..5, ..., "s10": 0..5}; pain NRS: {"nrs": 0..10}.',
    )


class PrepItemInput(StrictSerializer):
    surgery = RecordIdField(help_text="Id of the surgery it prepares.")
    kind = serializers.ChoiceField(choices=PrepKind.choices)
    title = text(200)
    owner = serializers.ChoiceField(choices=PrepOwner.choices)
    due_on = BoundedDateField()
    status = serializers.ChoiceField(choices=PrepStatus.choices, required=False)
    completed_on = BoundedDateField(required=False, allow_null=True)
    waived_reason = text(500)
    quit_on = BoundedDateField(required=False, allow_null=True)
    nicotine_free_confirmed = serializers.BooleanField(required=False, allow_null=True)
    second_opinion = serializers.ChoiceField(
        choices=["offered", "obtained"], required=False, allow_blank=True
    )
    hba1c_percent = serializers.DecimalField(
        max_digits=4, decimal_places=1, min_value=3, max_value=20, required=False, allow_null=True
    )
    hba1c_on = BoundedDateField(required=False, allow_null=True)
    weight_kg = serializers.DecimalField(
        max_digits=5, decimal_places=1, min_value=20, max_value=400, required=False, allow_null=True
    )
    bmi = serializers.DecimalField(
        max_digits=4, decimal_places=1, min_value=10, max_value=90, required=False, allow_null=True
    )
    notes = text(2000)


class ImagingStudyInput(StrictSerializer):
    surgery = RecordIdField(required=False, allow_null=True)
    modality = serializers.ChoiceField(choices=Modality.choices)
    performed_on = BoundedDateField()
    region = serializers.ChoiceField(choices=Region.choices)
    levels = serializers.RegexField(LEVELS_PATTERN, max_length=40, required=False, allow_blank=True)
    purpose = serializers.ChoiceField(choices=ImagingPurpose.choices)
    reading = text(4000)
    fusion_status = serializers.ChoiceField(
        choices=FusionStatus.choices, required=False, allow_blank=True
    )
    hardware_status = serializers.ChoiceField(
        choices=HardwareStatus.choices, required=False, allow_blank=True
    )
    adjacent_level_change = serializers.BooleanField(required=False, allow_null=True)


class ComplicationInput(StrictSerializer):
    surgery = RecordIdField(required=False, allow_null=True)
    kind = serializers.ChoiceField(choices=ComplicationKind.choices)
    noticed_on = BoundedDateField()
    severity = serializers.ChoiceField(choices=Severity.choices)
    treatment = text(2000)
    resolved_on = BoundedDateField(required=False, allow_null=True)
    notes = text(2000)


class CreateFields(StrictSerializer):
    """What a create adds to a kind's fields."""

    id = RecordIdField(
        required=False,
        help_text="The client's id for the record: a retried create with the same id returns "
        "the stored record (200) instead of a duplicate. Generated when missing.",
    )
    patient = serializers.IntegerField(
        min_value=1,
        max_value=PK_MAX,
        required=False,
        help_text="Clinicians: the patient profile's id (required). Patients never send it.",
    )


def create_serializer(fields: type[StrictSerializer]) -> type[StrictSerializer]:
    name = fields.__name__.removesuffix("Input")
    return type(f"{name}CreateInput", (CreateFields, fields), {"__doc__": fields.__doc__})


# --- Input: the domain actions ----------------------------------------------------------------


class LiftInput(StrictSerializer):
    lifted_on = BoundedDateField(required=False, help_text="Default: today in the patient's zone.")


class RescheduleInput(StrictSerializer):
    starts_at = AwareDateTimeField()
    ends_at = AwareDateTimeField(
        required=False, help_text="Default: keeps the appointment's length, if it had an end."
    )


class EmptyInput(StrictSerializer):
    """No fields."""


class AchieveInput(StrictSerializer):
    achieved_on = BoundedDateField(
        required=False, help_text="Default: today in the patient's zone."
    )


class DischargeInput(StrictSerializer):
    discharged_at = AwareDateTimeField()
    discharge_disposition = serializers.ChoiceField(choices=DischargeDisposition.choices)


class CompleteSessionInput(StrictSerializer):
    performed_at = AwareDateTimeField()
    duration_minutes = serializers.IntegerField(
        min_value=0, max_value=600, required=False, allow_null=True
    )
    exercises = serializers.ListField(child=Exercise(), max_length=50, required=False)
    pain_before = score(required=False, allow_null=True)
    pain_after = score(required=False, allow_null=True)
    exertion = score(required=False, allow_null=True)
    notes = text(2000)


# --- Input: list filters ------------------------------------------------------------------------


def list_query_serializer(
    name: str, time_field_type: str, time_help: str
) -> type[StrictSerializer]:
    time_field = BoundedDateField if time_field_type == "date" else AwareDateTimeField
    return type(
        f"{name}ListQuery",
        (StrictSerializer,),
        {
            "since": time_field(required=False, help_text=f"Only rows with {time_help} >= since."),
            "until": time_field(required=False, help_text=f"Only rows with {time_help} < until."),
            "updated_since": AwareDateTimeField(
                required=False, help_text="Only rows changed at or after this time."
            ),
            "patient": serializers.IntegerField(
                min_value=1,
                max_value=PK_MAX,
                required=False,
                help_text="Clinicians: only this patient (a patient profile id in your scope).",
            ),
            "cursor": serializers.CharField(
                required=False, max_length=200, help_text="From the previous page's `next`."
            ),
            "page_size": serializers.IntegerField(
                min_value=1, max_value=500, required=False, help_text="Rows per page, default 50."
            ),
        },
    )
