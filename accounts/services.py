"""Writes for accounts. Each validates, writes in one transaction and schedules side effects
after commit."""

import hashlib
import secrets
import zoneinfo
from datetime import date

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from config.errors import Forbidden, Invalid

from .emails import app_link, templated_mail_send
from .models import (
    CLINICIAN_ROLES,
    STAFF_ROLES,
    CareTeamMembership,
    Clinic,
    ClinicianProfile,
    Invitation,
    InvitationStatus,
    PatientClock,
    PatientProfile,
    Role,
    User,
)
from .roles import may_invite_patients, may_manage_invitation

PATIENT_PREFERENCE_FIELDS = (
    "time_zone",
    "checkin_time",
    "quiet_hours_start",
    "quiet_hours_end",
    "push_enabled",
    "email_enabled",
    "inbox_enabled",
)


def link_code_hash(code: str) -> str:
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
    time_zone: str = "",
    mrn: str = "",
    phone: str = "",
    surgeon: User | None = None,
    care_team: tuple[User, ...] = (),
) -> tuple[Invitation, str]:
    """Creates the patient (inactive, no password) and a single-use invitation, and e-mails the
    link after commit. Returns the invitation and the plain token (in the e-mail only; stored
    hashed). ``invited_by`` is None for the management command; otherwise a clinic admin or a
    surgeon of ``clinic`` (``accounts.roles.may_invite_patients``). A surgeon who invites joins
    the patient's care team. ``time_zone`` defaults to the clinic's."""
    if invited_by is not None and not (
        may_invite_patients(invited_by)
        and (invited_by.is_superuser or invited_by.clinic_id == clinic.pk)
    ):
        raise Forbidden(
            "Only clinic admins and surgeons of the clinic invite patients.",
            code="permission_denied",
        )
    if date_of_birth > timezone.localdate(timezone=clinic_tz(clinic)):
        raise Invalid("The date of birth is in the future.", attr="date_of_birth")
    _check_clinic_staff(clinic, [surgeon] if surgeon else [], roles=(Role.SURGEON,), attr="surgeon")
    team = list(dict.fromkeys(care_team))
    _check_clinic_staff(clinic, team, roles=CLINICIAN_ROLES, attr="care_team")
    if invited_by is not None and invited_by.role in CLINICIAN_ROLES and invited_by not in team:
        team.append(invited_by)
    profile = patient_create(
        clinic=clinic,
        email=email,
        first_name=first_name,
        last_name=last_name,
        date_of_birth=date_of_birth,
        time_zone=time_zone or clinic.time_zone,
        mrn=mrn,
        phone=phone,
        surgeon=surgeon,
        care_team=tuple(team),
        is_active=False,
    )
    token = link_token_new()
    now = timezone.now()
    invitation = Invitation.objects.create(
        clinic=clinic,
        patient=profile,
        email=profile.user.email,
        code_hash=link_code_hash(token),
        created_by=invited_by,
        created_at=now,
        sent_at=now,
        expires_at=now + settings.INVITATION_TTL,
    )
    _invitation_mail_on_commit(invitation, token)
    return invitation, token


def clinic_tz(clinic: Clinic) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(clinic.time_zone)


def _check_clinic_staff(clinic: Clinic, users: list, *, roles: tuple, attr: str) -> None:
    for user in users:
        if not (
            user.role in roles and user.clinic_id == clinic.pk and user.is_active and user.is_staff
        ):
            what = "the surgeon of record" if attr == "surgeon" else "on the care team"
            raise Invalid(
                f"{user} cannot be {what}: choose an active "
                f"{'surgeon' if attr == 'surgeon' else 'clinician'} of {clinic.name}.",
                code="invalid_choice",
                attr=attr,
            )


def link_token_new() -> str:
    return secrets.token_urlsafe(32)


def _invitation_mail_on_commit(invitation: Invitation, token: str) -> None:
    profile = invitation.patient
    context = {
        "clinic_name": invitation.clinic.name,
        "first_name": profile.user.first_name,
        "link": app_link("activate", token=token),
        "token": token,
        "expires_at": timezone.localtime(invitation.expires_at, profile.tz),
        "time_zone": profile.time_zone,
    }
    transaction.on_commit(
        lambda: templated_mail_send(name="invitation", to=invitation.email, context=context),
        robust=True,
    )


def _invitation_locked(invitation: Invitation, actor: User) -> Invitation:
    locked = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient__user")
        .get(pk=invitation.pk)
    )
    if not may_manage_invitation(actor, locked):
        raise Forbidden(
            "Only the clinic's admins and surgeons on the patient's care team resend or revoke "
            "invitations.",
            code="permission_denied",
        )
    if locked.accepted_at is not None:
        raise Invalid(
            "This invitation has been accepted: the patient signs in to the app (or resets "
            "their password).",
            code="invitation_accepted",
        )
    return locked


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor: User) -> tuple[Invitation, str]:
    """A new link with a new expiry, e-mailed after commit; the previous link stops working at
    once (its hash is replaced). Reopens a revoked invitation. Refused once accepted."""
    invitation = _invitation_locked(invitation, actor)
    token = link_token_new()
    now = timezone.now()
    invitation.code_hash = link_code_hash(token)
    invitation.sent_at = now
    invitation.expires_at = now + settings.INVITATION_TTL
    invitation.send_count += 1
    invitation.revoked_at = None
    invitation.revoked_by = None
    invitation.save(
        update_fields=[
            "code_hash",
            "sent_at",
            "expires_at",
            "send_count",
            "revoked_at",
            "revoked_by",
        ]
    )
    _invitation_mail_on_commit(invitation, token)
    return invitation, token


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    """The link stops working at once. Revoking a revoked invitation changes nothing; an
    accepted one is refused (deactivate the account instead)."""
    invitation = _invitation_locked(invitation, actor)
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.revoked_by = actor
        invitation.save(update_fields=["revoked_at", "revoked_by"])
    return invitation


@transaction.atomic
def invitation_activate(*, token: str, password: str) -> User:
    """The patient's first sign-in: the token from the link and a password of their choice
    (Django's password validators). Single use: the invitation row is locked, so of two
    concurrent activations one wins and the other finds it used."""
    invitation = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("patient__user")
        .filter(code_hash=link_code_hash(token or ""))
        .first()
    )
    if invitation is None:
        raise Invalid(
            "This invitation link is not valid (a newer one may have been sent: use the latest "
            "e-mail).",
            code="invalid_invitation",
            attr="token",
        )
    refusals = {
        InvitationStatus.ACCEPTED: (
            "invitation_used",
            "This invitation has already been used: sign in with your e-mail and password.",
        ),
        InvitationStatus.REVOKED: (
            "invitation_revoked",
            "This invitation was withdrawn by your clinic; ask them for a new one.",
        ),
        InvitationStatus.EXPIRED: (
            "invitation_expired",
            "This invitation has expired; ask your clinic to send a new one.",
        ),
    }
    status = invitation.status()
    if status in refusals:
        code, detail = refusals[status]
        raise Invalid(detail, code=code, attr="token")
    user = invitation.patient.user
    password_validate(password, user)
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return user


def password_validate(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from exc


@transaction.atomic
def user_set_password(*, user: User, password: str) -> None:
    """Sets a new password and revokes every token: access tokens carry a digest of the old
    password hash (SIMPLE_JWT CHECK_REVOKE_TOKEN), refresh tokens are blacklisted here."""
    password_validate(password, user)
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
    """E-mails a reset link into the app if the account exists, is active and has a password.
    Says nothing either way to the caller (no account enumeration)."""
    user = User.objects.filter(email__iexact=(email or "").strip(), is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    context = {
        "email": user.email,
        "link": app_link(
            "reset-password",
            uid=urlsafe_base64_encode(force_bytes(user.pk)),
            token=default_token_generator.make_token(user),
        ),
        "valid_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
    }
    transaction.on_commit(
        lambda: templated_mail_send(name="password_reset", to=user.email, context=context),
        robust=True,
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
