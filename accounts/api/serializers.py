from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import StrictSerializer

from ..models import (
    CaregiverScope,
    Invitation,
    InvitationStatus,
    PatientProfile,
    User,
    phone_validator,
    validate_time_zone,
)


class TokenObtainInput(StrictSerializer):
    email = serializers.EmailField()
    password = serializers.CharField(trim_whitespace=False, max_length=256)
    otp = serializers.RegexField(
        r"^[0-9]{6,8}$",
        required=False,
        allow_blank=True,
        help_text="The current code of the authenticator app, for accounts with two-factor sign-in.",
    )


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshInput(StrictSerializer):
    refresh = serializers.CharField(max_length=2000)


class ActivateInput(StrictSerializer):
    token = serializers.CharField(
        max_length=100,
        required=False,
        help_text="The `token` of the invitation link (realign://activate?token=...).",
    )
    code = serializers.CharField(
        max_length=100,
        required=False,
        help_text="The same token under its earlier name; send one of `token` and `code`.",
    )
    password = serializers.CharField(trim_whitespace=False, max_length=256)

    def validate(self, attrs):
        given = [name for name in ("token", "code") if attrs.get(name)]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"token": "Send the invitation token (one of token and code)."}, code="required"
            )
        return {"token": attrs[given[0]], "password": attrs["password"]}


class PasswordResetRequestInput(StrictSerializer):
    email = serializers.EmailField()


class PasswordResetConfirmInput(StrictSerializer):
    uid = serializers.CharField(max_length=64, help_text="`uid` of the e-mailed link")
    token = serializers.CharField(max_length=128, help_text="`token` of the e-mailed link")
    password = serializers.CharField(trim_whitespace=False, max_length=256)


class PasswordChangeInput(StrictSerializer):
    current_password = serializers.CharField(trim_whitespace=False, max_length=256)
    new_password = serializers.CharField(trim_whitespace=False, max_length=256)


class DetailOutput(serializers.Serializer):
    detail = serializers.CharField()


class PatientProfileOutput(serializers.ModelSerializer):
    surgeon = serializers.SerializerMethodField()

    class Meta:
        model = PatientProfile
        fields = [
            "id",
            "date_of_birth",
            "time_zone",
            "mrn",
            "phone",
            "surgeon",
            "smoking_status",
            "has_diabetes",
            "bmi",
            "checkin_time",
            "quiet_hours_start",
            "quiet_hours_end",
            "push_enabled",
            "email_enabled",
            "inbox_enabled",
        ]

    def get_surgeon(self, obj) -> str | None:
        return obj.surgeon.full_name if obj.surgeon_id else None


class MeOutput(serializers.ModelSerializer):
    clinic = serializers.CharField(source="clinic.name", default=None)
    patient_profile = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "role", "clinic", "patient_profile"]

    def get_patient_profile(self, obj) -> PatientProfileOutput(allow_null=True):  # type: ignore[valid-type]
        profile = getattr(obj, "patient_profile", None) if obj.is_patient else None
        return PatientProfileOutput(profile).data if profile else None


class MeUpdateInput(StrictSerializer):
    time_zone = serializers.CharField(
        max_length=64, required=False, validators=[validate_time_zone]
    )
    checkin_time = serializers.TimeField(required=False, allow_null=True)
    quiet_hours_start = serializers.TimeField(required=False)
    quiet_hours_end = serializers.TimeField(required=False)
    push_enabled = serializers.BooleanField(required=False)
    email_enabled = serializers.BooleanField(required=False)
    inbox_enabled = serializers.BooleanField(required=False)


class InvitationCreateInput(StrictSerializer):
    email = serializers.EmailField()
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    date_of_birth = serializers.DateField()
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        validators=[validate_time_zone],
        help_text="IANA zone; default: the clinic's",
    )
    mrn = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    phone = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        validators=[phone_validator],
    )
    surgeon = serializers.IntegerField(
        required=False, allow_null=True, help_text="id of a surgeon of the caller's clinic"
    )
    care_team = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        default=list,
        max_length=50,
        help_text="ids of clinicians (surgeons, nurses, physical therapists) of the caller's clinic",
    )


class InvitationListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=InvitationStatus.choices, required=False)


class InvitationOutput(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    patient_name = serializers.CharField(source="patient.user.full_name")
    surgeon = serializers.IntegerField(source="patient.surgeon_id", allow_null=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "patient",
            "patient_name",
            "email",
            "surgeon",
            "status",
            "created_at",
            "created_by",
            "sent_at",
            "send_count",
            "expires_at",
            "accepted_at",
            "revoked_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=InvitationStatus.choices))
    def get_status(self, obj) -> str:
        return getattr(obj, "current_status", None) or obj.status()


#: What each ``PHIAccess.action`` means, in the words the patient reads.
ACCESS_ACTIONS = {
    "list": "listed",
    "retrieve": "viewed",
    "timeline": "viewed the timeline of",
    "admin_list": "listed",
    "admin_change": "opened",
    "admin_delete": "opened for deletion",
    "admin_history": "viewed the change history of",
    "admin_autocomplete": "looked up",
    "export": "exported",
    "sync": "synced",
    "break_glass": "opened in an emergency",
}


class AccessReaderOutput(serializers.Serializer):
    name = serializers.CharField(help_text="The reader's name as the clinic knows it.")
    role = serializers.CharField(
        help_text="surgeon, nurse, physical_therapist, clinic_admin or caregiver."
    )


class AccessLogEntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    reader = serializers.SerializerMethodField()
    action = serializers.CharField(help_text="What was done: " + ", ".join(ACCESS_ACTIONS) + ".")
    resource = serializers.CharField(help_text="What was read, e.g. pain_logs, fhir, record.")
    object_id = serializers.CharField(help_text="The one row read, or empty for a list.")
    summary = serializers.SerializerMethodField()
    emergency_reason = serializers.CharField(
        allow_null=True,
        help_text="Set when the reader was outside your care team and opened the record in an "
        "emergency: the reason they gave.",
    )

    @extend_schema_field(AccessReaderOutput)
    def get_reader(self, entry) -> dict:
        return {
            "name": entry.user.full_name or entry.user.get_role_display(),
            "role": entry.user.role,
        }

    def get_summary(self, entry) -> str:
        """A sentence for the app, e.g. "Dana Reyes (surgeon) viewed your pain logs"."""
        verb = ACCESS_ACTIONS.get(entry.action, entry.action)
        what = entry.resource.replace("_", " ") or "record"
        name = entry.user.full_name or entry.user.get_role_display()
        return f"{name} ({entry.user.get_role_display().lower()}) {verb} your {what}"


class ErasureRequestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["requested", "cancelled", "erased", "deidentified"],
        help_text="requested (waiting for the clinic), cancelled (withdrawn), erased (done).",
    )
    requested_at = serializers.DateTimeField()
    confirmed_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)


# --- caregivers ---------------------------------------------------------------------------


class CaregiverInviteInput(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, help_text="The caregiver's name, e.g. Ana Ruiz.")
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=CaregiverScope.choices),
        min_length=1,
        max_length=len(CaregiverScope.values),
        help_text="What the caregiver may do: read (the record), log (pain logs, PT sessions, "
        "check-ins on your behalf), reminders (receive your reminders: not yet delivered), "
        "plan (see the care plan).",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="When the access ends by itself (optional)."
    )


class CaregiverGrantEventOutput(serializers.Serializer):
    action = serializers.CharField(help_text="granted, changed, accepted or revoked")
    at = serializers.DateTimeField()
    by = serializers.SerializerMethodField()
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)

    def get_by(self, event) -> str:
        actor = event.actor
        return (actor.full_name or actor.get_role_display()) if actor is not None else ""


class CaregiverGrantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    caregiver = serializers.IntegerField(
        source="caregiver_id",
        help_text="The caregiver's user id: the `created_by` of what they enter in your record.",
    )
    email = serializers.EmailField(source="caregiver.email")
    name = serializers.CharField(source="caregiver.full_name")
    scopes = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(
        choices=["invited", "active", "expired", "revoked"],
        help_text="invited (the caregiver has not activated their account yet), active, "
        "expired, revoked.",
    )
    expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    history = CaregiverGrantEventOutput(source="events.all", many=True)


class CaregivingOutput(serializers.Serializer):
    """One patient a caregiver acts for."""

    grant_id = serializers.IntegerField(source="id")
    patient = serializers.IntegerField(source="patient_id")
    name = serializers.CharField(source="patient.user.full_name")
    scopes = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)
