import functools
import zoneinfo
from datetime import time

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Length, Lower, Trim
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA zone names this machine knows, read once per process:
    ``zoneinfo.available_timezones()`` walks every zone file on disk at each call."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    if value not in time_zone_names():
        raise ValidationError(
            "%(value)s is not an IANA time zone (for example Europe/Berlin).",
            code="invalid_time_zone",
            params={"value": value},
        )


class Clinic(models.Model):
    """The tenant: clinicians and patients belong to exactly one clinic."""

    name = models.CharField(max_length=200, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    require_two_factor = models.BooleanField(
        default=False, help_text="Staff must sign in to the admin with a TOTP code."
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    SURGEON = "surgeon", "Surgeon"
    NURSE = "nurse", "Nurse"
    PHYSICAL_THERAPIST = "physical_therapist", "Physical therapist"
    CLINIC_ADMIN = "clinic_admin", "Clinic admin"
    CAREGIVER = "caregiver", "Caregiver"


CLINICIAN_ROLES = (Role.SURGEON, Role.NURSE, Role.PHYSICAL_THERAPIST)
STAFF_ROLES = (*CLINICIAN_ROLES, Role.CLINIC_ADMIN)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)

    def _create(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", extra.get("role") in STAFF_ROLES)
        return self._create(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        extra.setdefault("role", Role.CLINIC_ADMIN)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """An e-mail login. E-mails are unique regardless of case and stored lower-cased."""

    email = models.EmailField(max_length=254, unique=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    role = models.CharField(max_length=20, choices=Role.choices)
    clinic = models.ForeignKey(
        Clinic, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="user_email_ci_unique",
                violation_error_code="duplicate",
                violation_error_message="An account with this e-mail address already exists.",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values),
                name="user_role_valid",
                violation_error_code="invalid_choice",
                violation_error_message="Choose one of the roles: patient, surgeon, nurse, physical therapist, clinic admin or caregiver.",
            ),
        ]

    def __str__(self):
        return self.full_name or self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_clinician(self) -> bool:
        """The role alone. Whether the user acts as staff (active, ``is_staff``): ``accounts.roles``."""
        return self.role in CLINICIAN_ROLES

    def clean(self):
        super().clean()
        self.email = (self.email or "").strip().lower()
        clash = User.objects.filter(email__iexact=self.email).exclude(pk=self.pk)
        if self.email and clash.exists():
            raise ValidationError(
                {"email": ValidationError("A user with this e-mail exists.", code="unique")}
            )


phone_validator = RegexValidator(
    r"^\+?[0-9][0-9 ()./-]{4,30}$",
    message="Enter a phone number: digits, spaces and ( ) - . /, optionally starting with +.",
    code="invalid_phone",
)


class SmokingStatus(models.TextChoices):
    NEVER = "never", "Never smoked"
    FORMER = "former", "Former smoker"
    CURRENT = "current", "Current smoker"
    UNKNOWN = "unknown", "Unknown"


class PatientProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="patient_profile")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    date_of_birth = models.DateField()
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    mrn = models.CharField("medical record number", max_length=64, blank=True)
    phone = models.CharField(
        "phone number", max_length=40, blank=True, validators=[phone_validator]
    )
    surgeon = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="patients_of_record",
        limit_choices_to={"role": Role.SURGEON},
    )
    care_team = models.ManyToManyField(
        User, through="CareTeamMembership", related_name="care_team_patients", blank=True
    )
    smoking_status = models.CharField(
        max_length=10, choices=SmokingStatus.choices, default=SmokingStatus.UNKNOWN
    )
    has_diabetes = models.BooleanField(null=True, blank=True)
    bmi = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(10), MaxValueValidator(90)],
    )
    # Reminder preferences (the reminders engine reads these).
    push_enabled = models.BooleanField(default=True)
    email_enabled = models.BooleanField(default=True)
    inbox_enabled = models.BooleanField(default=True)
    quiet_hours_start = models.TimeField(default=time(21, 0))
    quiet_hours_end = models.TimeField(default=time(8, 0))
    checkin_time = models.TimeField(
        null=True, blank=True, default=time(19, 0), help_text="Daily pain check-in, local time."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "mrn"],
                condition=~models.Q(mrn=""),
                name="patient_mrn_unique_per_clinic",
                violation_error_code="duplicate",
                violation_error_message="Another patient of this clinic has this medical record number.",
            ),
            models.CheckConstraint(
                condition=models.Q(bmi__isnull=True) | models.Q(bmi__gte=10, bmi__lte=90),
                name="patient_bmi_range",
                violation_error_code="out_of_range",
                violation_error_message="BMI must be between 10 and 90.",
            ),
        ]

    def __str__(self):
        return str(self.user)

    @property
    def full_name(self) -> str:
        return self.user.full_name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def age_on(self, day) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


class ClinicianProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="clinician_profile")
    title = models.CharField(max_length=50, blank=True, help_text="e.g. MD, RN, DPT")
    phone = models.CharField(max_length=40, blank=True)

    def __str__(self):
        return str(self.user)


class CareTeamMembership(models.Model):
    patient = models.ForeignKey(
        PatientProfile, on_delete=models.CASCADE, related_name="memberships"
    )
    clinician = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "clinician"],
                name="care_team_unique",
                violation_error_code="duplicate",
                violation_error_message="This clinician is already on the patient's care team.",
            ),
        ]
        indexes = [models.Index(fields=["clinician", "patient"])]

    def __str__(self):
        return f"{self.clinician} on {self.patient}'s team"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class Invitation(models.Model):
    """A clinic invites a patient by e-mail; the patient activates their account with the link.

    The token in the link is single-use and stored only as a SHA-256 hash (``code_hash``). A
    resend replaces the hash (the old link stops working) and the expiry; a revoke kills the
    link at once. ``status`` derives from the times: accepted, revoked, expired or pending
    (``accounts.selectors.invitations_for`` computes it in SQL as ``current_status``).
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="invitations")
    patient = models.ForeignKey(
        PatientProfile, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    code_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(default=timezone.now, help_text="when the last link was sent")
    send_count = models.PositiveSmallIntegerField(default=1)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            # One open (not accepted, not revoked) invitation per patient: a resend reuses it.
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_patient",
                violation_error_code="duplicate",
                violation_error_message="This patient already has an open invitation: resend or revoke it.",
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True) | models.Q(revoked_at__isnull=True),
                name="invitation_not_accepted_and_revoked",
                violation_error_code="invalid",
                violation_error_message="An invitation cannot be both accepted and revoked.",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "-created_at"], name="invitation_clinic_created")]

    def __str__(self):
        return f"Invitation for {self.email}"

    def is_expired(self, now=None) -> bool:
        return (now or timezone.now()) >= self.expires_at

    def status(self, now=None) -> str:
        if self.accepted_at is not None:
            return InvitationStatus.ACCEPTED
        if self.revoked_at is not None:
            return InvitationStatus.REVOKED
        if self.is_expired(now):
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING


class PatientClock(models.Model):
    """The per-patient change clock for sync (design.md section 5).

    Every writer of a patient's synced rows locks this row, increments ``value`` and stamps the
    rows it changes with the new value; a pull locks it too and answers with ``value``. The lock
    orders a patient's writers and pulls, so a write that commits after a pull always carries a
    larger stamp than the pull returned.
    """

    patient = models.OneToOneField(
        PatientProfile, on_delete=models.CASCADE, primary_key=True, related_name="clock"
    )
    value = models.BigIntegerField(default=0)

    def __str__(self):
        return f"clock {self.value} for {self.patient_id}"


class PHIAccess(models.Model):
    """One clinician read of a patient's record (HIPAA audit controls). Insert-only."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="+")
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(
        max_length=20, help_text="list, retrieve, timeline, admin_change, export, sync"
    )
    resource = models.CharField(max_length=60, help_text="what was read, e.g. pain_logs")
    object_id = models.CharField(max_length=64, blank=True)
    path = models.CharField(max_length=500, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "PHI access"
        verbose_name_plural = "PHI access log"
        indexes = [
            models.Index(fields=["patient", "at"]),
            models.Index(fields=["clinic", "at"]),
        ]

    def __str__(self):
        return f"{self.user} read {self.resource} of {self.patient} at {self.at:%Y-%m-%d %H:%M}"


BREAK_GLASS_MIN_REASON = 20


class BreakGlassAccess(models.Model):
    """A clinician outside a patient's care team opening the record in an emergency.

    Given only with a reason, for a fixed time (``BREAK_GLASS_MINUTES``); while it lasts the
    clinician has the care team's powers over this one patient (``accounts.roles``). Every read
    is logged as any other (``PHIAccess``), the opening itself too, and the clinic's admins are
    told by e-mail. Insert-only: the admin offers no change or delete."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="break_glass_accesses")
    patient = models.ForeignKey(
        PatientProfile, on_delete=models.PROTECT, related_name="break_glass_accesses"
    )
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(
        help_text="Why the record had to be opened, in the clinician's words."
    )
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = "emergency access"
        verbose_name_plural = "emergency accesses"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("started_at")),
                name="break_glass_ends_after_start",
                violation_error_code="invalid",
                violation_error_message="An emergency access must end after it starts.",
            ),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length(Trim("reason")), BREAK_GLASS_MIN_REASON),
                name="break_glass_reason_given",
                violation_error_code="reason_required",
                violation_error_message=(
                    f"Say why the record must be opened (at least {BREAK_GLASS_MIN_REASON} "
                    "characters)."
                ),
            ),
        ]
        indexes = [
            models.Index(fields=["user", "patient", "expires_at"], name="break_glass_active"),
            models.Index(fields=["clinic", "-started_at"], name="break_glass_clinic_started"),
        ]

    def __str__(self):
        return f"{self.user} opened {self.patient} at {self.started_at:%Y-%m-%d %H:%M}"

    def is_active(self, now=None) -> bool:
        return self.started_at <= (now or timezone.now()) < self.expires_at


class ErasureRequest(models.Model):
    """A patient asks for their account to be deleted; a clinic admin of their clinic confirms.

    On confirmation (``accounts.erasure.erasure_confirm``, one transaction) the account's
    personal data is erased at once: sign-in, e-mail address, phone, password, tokens, devices,
    reminders and inbox. The clinical record and the identity it needs (name, date of birth,
    MRN) are kept until ``retain_until`` (the clinic's retention policy,
    ``CLINICAL_RECORD_RETENTION_YEARS``), then de-identified by a daily task."""

    patient = models.ForeignKey(
        PatientProfile, on_delete=models.PROTECT, related_name="erasure_requests"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    retain_until = models.DateField(
        null=True, blank=True, help_text="the clinical record is de-identified on this day"
    )
    deidentified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(confirmed_at__isnull=True, cancelled_at__isnull=True),
                name="erasure_one_open_per_patient",
                violation_error_code="duplicate",
                violation_error_message="This patient has already asked for their account to be deleted.",
            ),
            models.CheckConstraint(
                condition=models.Q(confirmed_at__isnull=True) | models.Q(cancelled_at__isnull=True),
                name="erasure_not_confirmed_and_cancelled",
                violation_error_code="invalid",
                violation_error_message="A deletion request cannot be both confirmed and cancelled.",
            ),
            models.CheckConstraint(
                condition=models.Q(confirmed_at__isnull=True)
                | models.Q(retain_until__isnull=False),
                name="erasure_confirmed_has_retention",
                violation_error_code="invalid",
                violation_error_message="A confirmed deletion must say how long the record is kept.",
            ),
        ]

    def __str__(self):
        return f"Deletion request of {self.patient_id} at {self.requested_at:%Y-%m-%d}"

    @property
    def status(self) -> str:
        if self.cancelled_at:
            return "cancelled"
        if self.deidentified_at:
            return "deidentified"
        if self.confirmed_at:
            return "erased"
        return "requested"


def only_names(names, field: str = "scopes"):
    """A condition, in SQL both SQLite and PostgreSQL run: the comma-separated ``field`` holds
    nothing but ``names`` (each removed, longest first, and the commas: nothing is left)."""
    from django.db.models import F, Value
    from django.db.models.functions import Replace
    from django.db.models.lookups import Exact

    rest = F(field)
    for name in sorted(names, key=len, reverse=True):
        rest = Replace(rest, Value(name), Value(""))
    return Exact(Replace(rest, Value(","), Value("")), "")


class ScopeListField(models.CharField):
    """A short set of names kept as one comma-separated string (``"read,log"``), read
    back as a list: the same on SQLite (the embedded default) and PostgreSQL. Filter with
    ``scopes__contains="read"`` (no scope name is part of another). In forms: checkboxes of
    ``scope_choices``."""

    def __init__(self, *args, scope_choices=(), **kwargs):
        self.scope_choices = tuple(scope_choices)
        kwargs.setdefault("max_length", 60)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.scope_choices:
            kwargs["scope_choices"] = list(self.scope_choices)
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        return self.to_python(value)

    def to_python(self, value):
        if value is None or isinstance(value, list):
            return value
        if isinstance(value, (tuple, set)):
            return list(value)
        return [name for name in str(value).split(",") if name]

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, (list, tuple, set)):
            return ",".join(dict.fromkeys(value))  # in the order given, once each
        return str(value)  # a lookup's value: one name

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))

    def formfield(self, **kwargs):
        from django import forms

        return forms.MultipleChoiceField(
            choices=self.scope_choices,
            widget=forms.CheckboxSelectMultiple,
            required=not self.blank,
            label=kwargs.get("label") or self.verbose_name.capitalize(),
            help_text=self.help_text,
        )


class CaregiverScope(models.TextChoices):
    """What a patient lets a caregiver do (``CaregiverGrant.scopes``)."""

    READ = "read", "Read the record"
    LOG = "log", "Log on the patient's behalf (pain logs, PT sessions, check-ins)"
    REMINDERS = "reminders", "Receive the patient's reminders"
    PLAN = "plan", "See the care plan"


class CaregiverGrant(models.Model):
    """A patient's consent that a caregiver (a family member, a proxy) may act on their record,
    within ``scopes``, until it expires or is revoked (by the patient or the clinic).

    The caregiver has an account of their own (role ``caregiver``). A new caregiver activates
    it with the link of the invitation e-mail (``code_hash``: the link's token, stored hashed,
    valid until ``link_expires_at``, single use: ``accepted_at``). A grant is *active* when it is
    not revoked, not expired and the caregiver's account is active
    (``accounts.roles.caregiver_grants``). Every change is kept in ``CaregiverGrantEvent``."""

    patient = models.ForeignKey(
        PatientProfile, on_delete=models.CASCADE, related_name="caregiver_grants"
    )
    caregiver = models.ForeignKey(
        User,
        on_delete=models.CASCADE,
        related_name="caregiver_grants",
        limit_choices_to={"role": "caregiver"},
    )
    scopes = ScopeListField(
        scope_choices=CaregiverScope.choices, help_text="read, log, reminders, plan"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    code_hash = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    link_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "caregiver"],
                condition=models.Q(revoked_at__isnull=True),
                name="caregiver_grant_one_open",
                violation_error_code="duplicate",
                violation_error_message="This caregiver already has access to this patient's record: change or revoke it.",
            ),
            models.CheckConstraint(
                condition=~models.Q(scopes="") & only_names(CaregiverScope.values),
                name="caregiver_grant_scopes_valid",
                violation_error_code="invalid_choice",
                violation_error_message="Choose at least one of: read, log, reminders, plan.",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__isnull=True)
                | models.Q(expires_at__gt=models.F("created_at")),
                name="caregiver_grant_expires_after_creation",
                violation_error_code="invalid",
                violation_error_message="The access must end after it starts.",
            ),
        ]
        indexes = [models.Index(fields=["caregiver", "patient"], name="caregiver_grant_lookup")]

    def __str__(self):
        return f"{self.caregiver} for {self.patient}"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        if self.accepted_at is None and not self.caregiver.is_active:
            return "invited"
        return "active"


class CaregiverGrantEvent(models.Model):
    """The history of a grant: who granted, changed or revoked it and when. Insert-only."""

    class Action(models.TextChoices):
        GRANTED = "granted", "Granted"
        CHANGED = "changed", "Changed"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    grant = models.ForeignKey(CaregiverGrant, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=10, choices=Action.choices)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scopes = ScopeListField(help_text="the scopes after the event")
    expires_at = models.DateTimeField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("at", "id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=["granted", "changed", "accepted", "revoked"]),
                name="caregiver_grant_event_action_valid",
                violation_error_code="invalid_choice",
                violation_error_message="Choose one of: granted, changed, accepted, revoked.",
            ),
        ]

    def __str__(self):
        return f"{self.grant} {self.action} at {self.at:%Y-%m-%d %H:%M}"
