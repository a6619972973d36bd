import zoneinfo

from rest_framework import serializers

from config.api.serializers import StrictSerializer

from ..models import PatientProfile, User


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
    code = serializers.CharField(max_length=100)
    password = serializers.CharField(trim_whitespace=False, max_length=256)


class PasswordResetRequestInput(StrictSerializer):
    email = serializers.EmailField()


class PasswordResetConfirmInput(StrictSerializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
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
    time_zone = serializers.CharField(max_length=64, required=False)
    checkin_time = serializers.TimeField(required=False, allow_null=True)
    quiet_hours_start = serializers.TimeField(required=False)
    quiet_hours_end = serializers.TimeField(required=False)
    push_enabled = serializers.BooleanField(required=False)
    email_enabled = serializers.BooleanField(required=False)
    inbox_enabled = serializers.BooleanField(required=False)

    def validate_time_zone(self, value):
        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError(
                f"{value} is not an IANA time zone (for example Europe/Berlin).",
                code="invalid_time_zone",
            )
        return value
