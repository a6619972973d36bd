"""Care: recovery protocols (care plans applied per surgery), red-flag check-ins, triage rules and
the alerts they open for the care team."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.models import PatientProfile
from recovery.record.models import (
    Activity,
    ActivityRestriction,
    Appointment,
    AppointmentPurpose,
    ClinicalRecord,
    Imaging,
    LimitUnit,
    Milestone,
    MilestoneKind,
    PTSession,
    PTSetting,
    Surgery,
    _not_in_future,
)


class Protocol(models.Model):
    """A care plan set up once per kind of surgery, relative to the surgery date.

    Protocols without a clinic are shipped defaults: every clinic may apply them or copy them
    into its own, editable protocol.
    """

    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.CASCADE, related_name="protocols"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(
        max_length=4000, blank=True, validators=[MaxLengthValidator(4000)]
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "name"],
                name="protocol_name_per_clinic",
                violation_error_code="duplicate",
                violation_error_message="This clinic already has a protocol with this name.",
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(clinic__isnull=True),
                name="protocol_default_name",
                violation_error_code="duplicate",
                violation_error_message="A default protocol with this name already exists.",
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
    instructions = models.TextField(
        max_length=2000, blank=True, validators=[MaxLengthValidator(2000)]
    )
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
    sessions_per_week = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(7)]
    )
    weeks = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(52)]
    )
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
                condition=models.Q(end_week__isnull=True)
                | models.Q(end_week__gte=models.F("start_week")),
                name="protocol_item_end_after_start",
                violation_error_code="date_order",
                violation_error_message="The item cannot end before the week it starts.",
            ),
        ]

    def __str__(self):
        return f"{self.get_item_type_display()}: {self.describe()}"

    def clean(self):
        missing = [
            name
            for name in self.REQUIRED.get(self.item_type, ())
            if getattr(self, name) in (None, "")
        ]
        if missing:
            raise ValidationError(
                {
                    name: ValidationError(f"A {self.item_type} item needs this.", code="required")
                    for name in missing
                }
            )
        if (self.limit_value is None) != (not self.limit_unit):
            raise ValidationError(
                {
                    "limit_unit": ValidationError(
                        "A limit needs a value and a unit.", code="required"
                    )
                }
            )

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
    surgery = models.ForeignKey(
        Surgery, on_delete=models.CASCADE, related_name="protocol_applications"
    )
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_at = models.DateTimeField(default=timezone.now)
    anchor_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "surgery"],
                name="protocol_once_per_surgery",
                violation_error_code="duplicate",
                violation_error_message="This protocol is already applied to this surgery.",
            ),
        ]

    def __str__(self):
        return f"{self.protocol} for {self.surgery}"


GENERATED_FIELDS = ("restriction", "appointment", "milestone", "pt_session")


class PlanOutcome(models.TextChoices):
    """What applying a protocol did with one of its planned records (one ``ProtocolRecord``)."""

    CREATED = "created", "created"
    ALREADY_PRESENT = "already_present", "skipped: the patient already had one"
    NOT_APPLICABLE = "not_applicable", "not applicable: in the past when applied"


class ProtocolRecord(models.Model):
    """One planned record of an application: which item (and which of its sessions, ``slot``)
    it came from, and what applying did with it (``outcome``). When it was created, a foreign
    key points at the record itself (exactly one of the four); when it was skipped, because the
    patient already had such a record in that window or because its date had passed when the
    protocol was applied, no record exists and none is pointed at.

    This link, not the record's id, says what a protocol generated: ids are the patient's to
    choose too, so nothing is found by an id pattern. The link stays when the care team deletes
    the record (a tombstone), so applying again does not re-create it; a skipped slot stays
    skipped for the same reason (applying is idempotent)."""

    application = models.ForeignKey(
        ProtocolApplication, on_delete=models.CASCADE, related_name="records"
    )
    item = models.ForeignKey(ProtocolItem, null=True, on_delete=models.SET_NULL, related_name="+")
    slot = models.PositiveSmallIntegerField(
        default=0, help_text="the n-th session of a PT plan; 0 otherwise"
    )
    outcome = models.CharField(
        max_length=16, choices=PlanOutcome.choices, default=PlanOutcome.CREATED
    )
    planned_on = models.DateField(
        null=True, blank=True, help_text="the day the item was planned for (patient's zone)"
    )
    restriction = models.OneToOneField(
        ActivityRestriction, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    appointment = models.OneToOneField(
        Appointment, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    milestone = models.OneToOneField(
        Milestone, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    pt_session = models.OneToOneField(
        PTSession, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["application", "item", "slot"],
                name="protocol_record_once_per_slot",
                violation_error_code="duplicate",
                violation_error_message="This protocol item already created a record in this slot.",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        outcome="created",
                        restriction__isnull=False,
                        appointment__isnull=True,
                        milestone__isnull=True,
                        pt_session__isnull=True,
                    )
                    | models.Q(
                        outcome="created",
                        restriction__isnull=True,
                        appointment__isnull=False,
                        milestone__isnull=True,
                        pt_session__isnull=True,
                    )
                    | models.Q(
                        outcome="created",
                        restriction__isnull=True,
                        appointment__isnull=True,
                        milestone__isnull=False,
                        pt_session__isnull=True,
                    )
                    | models.Q(
                        outcome="created",
                        restriction__isnull=True,
                        appointment__isnull=True,
                        milestone__isnull=True,
                        pt_session__isnull=False,
                    )
                    | models.Q(
                        outcome__in=["already_present", "not_applicable"],
                        restriction__isnull=True,
                        appointment__isnull=True,
                        milestone__isnull=True,
                        pt_session__isnull=True,
                    )
                ),
                name="protocol_record_links_one_record",
                violation_error_code="invalid",
                violation_error_message="A protocol record links exactly one record.",
            ),
        ]

    def __str__(self):
        return f"{self.application} item {self.item_id} #{self.slot} ({self.outcome})"


# --- Red-flag check-ins and alerts (issue 7) --------------------------------------------------


# A body temperature a person can have and report from home: below 30 C or above 43 C the
# reading is wrong (a thermometer in hot tea, Fahrenheit typed as Celsius), not a symptom.
TEMPERATURE_MIN_C = Decimal("30.0")
TEMPERATURE_MAX_C = Decimal("43.0")
TEMPERATURE_RANGE_MESSAGE = (
    "A body temperature must be between 30.0 and 43.0 C (86.0-109.4 F); "
    "check the reading and the unit."
)


class CheckIn(ClinicalRecord):
    """A short symptom check-in answered by the patient. Every answer is optional (null: not
    asked or skipped); ``True`` means the patient has the symptom now."""

    answered_at = models.DateTimeField()
    temperature_c = models.DecimalField(
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(TEMPERATURE_MIN_C, message=TEMPERATURE_RANGE_MESSAGE),
            MaxValueValidator(TEMPERATURE_MAX_C, message=TEMPERATURE_RANGE_MESSAGE),
        ],
        help_text="Body temperature in degrees Celsius (the app converts from Fahrenheit), "
        "30.0-43.0.",
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
                | models.Q(
                    temperature_c__gte=TEMPERATURE_MIN_C, temperature_c__lte=TEMPERATURE_MAX_C
                ),
                name="checkin_temperature_range",
                violation_error_code="out_of_range",
                violation_error_message="Temperature must be between 30 and 45 °C.",
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
        STEPS_CURVE = "steps_curve", "Daily steps far below the expected recovery curve"

    clinic = models.ForeignKey(
        "accounts.Clinic", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.SlugField(max_length=50)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.CHECK_IN)
    field = models.CharField(max_length=50, blank=True, help_text="check-in answer this rule reads")

    class Direction(models.TextChoices):
        ABOVE = "above", "above the threshold"
        BELOW = "below", "below the threshold"

    threshold = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="check-in: above (or below, see direction) this value (temperature); "
        "pain_trend: rise in points; pain_streak: the intensity at or above which a log counts; "
        "steps_curve: the percentage of the expected steps below which a day counts",
    )
    direction = models.CharField(
        max_length=5,
        choices=Direction.choices,
        default=Direction.ABOVE,
        help_text="check-in rules with a threshold: a value above it (fever) or below it "
        "(hypothermia) meets the rule",
    )
    count = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="pain_streak: logs in a row; steps_curve: consecutive days",
    )
    neck_surgery_only = models.BooleanField(default=False)
    tier = models.CharField(max_length=12, choices=Tier.choices)
    title = models.CharField(max_length=200)
    patient_message = models.TextField(max_length=1000)
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "key"],
                name="triage_rule_key_per_clinic",
                violation_error_code="duplicate",
                violation_error_message="This clinic already has a triage rule with this key.",
            ),
            models.UniqueConstraint(
                fields=["key"],
                condition=models.Q(clinic__isnull=True),
                name="triage_rule_default_key",
                violation_error_code="duplicate",
                violation_error_message="A default triage rule with this key already exists.",
            ),
        ]

    def __str__(self):
        return f"{self.title} ({self.tier})"


class AlertStatus(models.TextChoices):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(models.Model):
    """Red flags for the care team: open -> acknowledged -> resolved, each step with who and
    when.

    A check-in opens one alert with every red flag it raised (``causes``, most urgent first:
    ``{"rule_key", "tier", "title", "detail"}`` each); the alert's ``tier``, ``rule_key``
    (= ``cause_key``) and deadline are its most urgent cause's. A pain log opens one alert per
    pain rule. A red flag already on an unresolved alert of the patient is not raised again
    until that alert is resolved, so no two unresolved alerts of a patient share a cause (the
    write path orders each patient's writers; the unique ``cause_key`` backs it up)."""

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="alerts")
    rule_key = models.SlugField(max_length=50)
    cause_key = models.CharField(max_length=120)
    tier = models.CharField(max_length=12, choices=Tier.choices)
    title = models.CharField(max_length=200)
    detail = models.TextField(max_length=2000, blank=True)
    causes = models.JSONField(
        default=list, blank=True, help_text="every red flag of this alert, most urgent first"
    )
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
                violation_error_code="duplicate",
                violation_error_message="This patient already has an unresolved alert for this cause.",
            ),
            models.CheckConstraint(
                condition=models.Q(status="open")
                | models.Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="alert_acknowledged_has_who_and_when",
                violation_error_code="required",
                violation_error_message="An acknowledged alert needs who acknowledged it and when.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="resolved")
                | models.Q(resolved_at__isnull=False, resolved_by__isnull=False),
                name="alert_resolved_has_who_and_when",
                violation_error_code="required",
                violation_error_message="A resolved alert needs who resolved it and when.",
            ),
        ]

    def __str__(self):
        return f"{self.get_tier_display()}: {self.title}"


class AlertNotification(models.Model):
    """That one recipient was told about one alert, once per kind (the alert opening, its
    escalation): the idempotency key of ``alert_notification_send``.

    A row is claimed (``claimed_at``) in its own transaction before anything is sent, marked
    ``pushed_at`` once the push is out and ``sent_at`` once the e-mail is; a failed send
    releases the claim, so a retry tells only those not told yet (and does not push again to
    whom the push reached). A claim older than ``CLAIM_LEASE`` (a worker that died mid-send)
    may be taken again."""

    class Kind(models.TextChoices):
        OPENED = "opened"
        ESCALATION = "escalation"

    CLAIM_LEASE = timedelta(minutes=10)  # far longer than the task's time limit

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    claimed_at = models.DateTimeField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "recipient", "kind"],
                name="alert_notified_once_per_kind",
                violation_error_code="duplicate",
                violation_error_message="This person was already told about this alert this way.",
            ),
        ]

    def __str__(self):
        return f"{self.kind} of alert {self.alert_id} to user {self.recipient_id}"
