"""Writes for accounts. Each validates, writes in one transaction and schedules side effects
after commit."""

import hashlib
import secrets
from datetime import date

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from config.errors import Invalid

from .models import (
    CLINICIAN_ROLES,
    STAFF_ROLES,
    CareTeamMembership,
    Clinic,
    ClinicianProfile,
    Invitation,
    PatientClock,
    PatientProfile,
    Role,
    User,
)

PATIENT_PREFERENCE_FIELDS = (
    "time_zone",
    "checkin_time",
    "quiet_hours_start",
    "quiet_hours_end",
    "push_enabled",
    "email_enabled",
    "inbox_enabled",
)


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def clinic_create(*, name: str, time_zone: str = "UTC") -> Clinic:
    clinic = Clinic(name=name, time_zone=time_zone)
    clinic.full_clean()
    clinic.save()
    return clinic


@transaction.atomic
def staff_create(
    *,
    clinic: Clinic,
    email: str,
    role: str,
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
    title: str = "",
) -> User:
    if role not in STAFF_ROLES:
        raise Invalid(f"{role!r} is not a staff role.", attr="role")
    user = User.objects.create_user(
        email=email,
        password=password,
        role=role,
        clinic=clinic,
        first_name=first_name,
        last_name=last_name,
    )
    if role in CLINICIAN_ROLES:
        ClinicianProfile.objects.create(user=user, title=title)
    return user


def care_team_add(*, patient: PatientProfile, clinician: User) -> CareTeamMembership:
    if clinician.role not in CLINICIAN_ROLES or clinician.clinic_id != patient.clinic_id:
        raise Invalid(
            "Only clinicians of the patient's clinic can join the care team.", attr="clinician"
        )
    membership, _ = CareTeamMembership.objects.get_or_create(patient=patient, clinician=clinician)
    return membership


@transaction.atomic
def patient_create(
    *,
    clinic: Clinic,
    email: str,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    time_zone: str,
    mrn: str = "",
    surgeon: User | None = None,
    care_team: tuple[User, ...] = (),
    password: str | None = None,
    is_active: bool = True,
    **risk_factors,
) -> PatientProfile:
    if surgeon is not None and (surgeon.role != Role.SURGEON or surgeon.clinic_id != clinic.pk):
        raise Invalid("The surgeon of record must be a surgeon of this clinic.", attr="surgeon")
    user = User.objects.create_user(
        email=email,
        password=password,
        role=Role.PATIENT,
        clinic=clinic,
        first_name=first_name,
        last_name=last_name,
        is_active=is_active,
    )
    profile = PatientProfile(
        user=user,
        clinic=clinic,
        date_of_birth=date_of_birth,
        time_zone=time_zone,
        mrn=mrn,
        surgeon=surgeon,
        **risk_factors,
    )
    profile.full_clean()
    profile.save()
    PatientClock.objects.create(patient=profile, value=_epoch_ms())
    for clinician in ({surgeon} if surgeon else set()) | set(care_team):
        care_team_add(patient=profile, clinician=clinician)
    return profile


def _epoch_ms() -> int:
    return int(timezone.now().timestamp() * 1000)


@transaction.atomic
def patient_invite(
    *,
    clinic: Clinic,
    invited_by: User | None,
    email: str,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    time_zone: str,
    mrn: str = "",
    surgeon: User | None = None,
) -> tuple[Invitation, str]:
    """Creates the patient (inactive, no password) and a single-use invitation; mails the code
    after commit. Returns the invitation and the plain code (shown once, stored only hashed)."""
    profile = patient_create(
        clinic=clinic,
        email=email,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
        time_zone=time_zone,
        mrn=mrn,
        surgeon=surgeon,
        is_active=False,
    )
    code = secrets.token_urlsafe(18)
    invitation = Invitation.objects.create(
        clinic=clinic,
        patient=profile,
        email=profile.user.email,
        code_hash=_hash_code(code),
        created_by=invited_by,
        expires_at=timezone.now() + settings.INVITATION_TTL,
    )
    transaction.on_commit(
        lambda: send_mail(
            subject=f"{clinic.name} invites you to Realign",
            message=(
                f"{clinic.name} has invited you to follow your recovery in the Realign app.\n\n"
                f"Your invitation code: {code}\n\n"
                f"It works once and expires on {invitation.expires_at:%Y-%m-%d}."
            ),
            from_email=None,
            recipient_list=[invitation.email],
        )
    )
    return invitation, code


@transaction.atomic
def invitation_activate(*, code: str, password: str) -> User:
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("patient__user")
        .filter(code_hash=_hash_code(code or ""))
        .first()
    )
    if invitation is None:
        raise Invalid("This invitation code is not valid.", code="invalid_invitation", attr="code")
    if invitation.accepted_at is not None:
        raise Invalid("This invitation has already been used.", code="invitation_used", attr="code")
    if invitation.is_expired():
        raise Invalid(
            "This invitation has expired; ask your clinic for a new one.",
            code="invitation_expired",
            attr="code",
        )
    user = invitation.patient.user
    _validate_password(password, user)
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return user


def _validate_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from exc


@transaction.atomic
def user_set_password(*, user: User, password: str) -> None:
    """Sets a new password and revokes every token: access tokens carry a digest of the old
    password hash (SIMPLE_JWT CHECK_REVOKE_TOKEN), refresh tokens are blacklisted here."""
    _validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    refresh_tokens_revoke(user=user)


def refresh_tokens_revoke(*, user: User) -> int:
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()).exclude(
        blacklistedtoken__isnull=False
    )
    tokens = list(outstanding)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in tokens], ignore_conflicts=True
    )
    return len(tokens)


def password_reset_request(*, email: str) -> None:
    """Mails a reset link if the account exists. Says nothing either way to the caller."""
    user = User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    transaction.on_commit(
        lambda: send_mail(
            subject="Reset your Realign password",
            message=(
                "Someone asked to reset the password of your Realign account. If it was you, "
                f"enter these in the app:\n\nuid: {uid}\ntoken: {token}\n\n"
                "If it was not you, ignore this e-mail."
            ),
            from_email=None,
            recipient_list=[user.email],
        )
    )


def password_reset_confirm(*, uid: str, token: str, password: str) -> User:
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uid))), is_active=True)
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise Invalid(
            "This reset link is invalid or has expired.", code="invalid_reset_token", attr="token"
        )
    user_set_password(user=user, password=password)
    return user


@transaction.atomic
def patient_preferences_update(*, profile: PatientProfile, **changes) -> tuple[PatientProfile, set]:
    """A patient changes their own settings: time zone, check-in time, quiet hours, channels.
    Returns the profile and the names of the fields that changed."""
    unknown = set(changes) - set(PATIENT_PREFERENCE_FIELDS)
    if unknown:
        raise Invalid(
            "A patient cannot change: " + ", ".join(sorted(unknown)), code="forbidden_field"
        )
    changed = {name for name, value in changes.items() if getattr(profile, name) != value}
    for name in changed:
        setattr(profile, name, changes[name])
    if changed:
        profile.full_clean()
        profile.save(update_fields=[*changed, "updated_at"])
    return profile, changed


def patient_clock_tick(*, patient_id: int) -> int:
    """Advances the patient's sync clock and returns the new value; call inside the transaction
    that writes the patient's synced rows, before touching them, and stamp each changed row
    with the value. The row lock is held until commit, which orders the patient's writers and
    pulls (design.md section 5). Values are epoch milliseconds where the wall clock allows,
    and always larger than the previous value."""
    clock = PatientClock.objects.select_for_update().get(patient_id=patient_id)
    clock.value = max(clock.value + 1, _epoch_ms())
    clock.save(update_fields=["value"])
    return clock.value


def patient_clock_read(*, patient_id: int) -> int:
    """The clock's current value, read under the clock's row lock inside the caller's
    transaction: it waits for in-flight writers of this patient to commit, so every row stamped
    up to the returned value is visible to the caller's next queries."""
    return (
        PatientClock.objects.select_for_update()
        .values_list("value", flat=True)
        .get(patient_id=patient_id)
    )
