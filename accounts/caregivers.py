"""Caregivers (proxies): a patient, or the clinic, lets a family member or a carer act on the
patient's record within scopes (``CaregiverGrant``), revocable at any time.

- ``caregiver_invite``: the patient (``POST /api/v1/me/caregivers/``) or the patient's care team
  (the admin) names an e-mail address, a name and the scopes. A new address gets an account of
  its own (role ``caregiver``, inactive, no password) and an e-mail with a single-use link; the
  caregiver activates it with ``POST /api/v1/auth/activate/`` as a patient does. An address that
  already has an active caregiver account just gets the new grant (and an e-mail saying so).
  Inviting the same address for the same patient again is idempotent: the open grant is kept
  (its scopes and end changed if they differ; a caregiver who has not activated yet gets a new
  link, the previous one stops working).
- ``caregiver_grant_revoke``: the patient or the care team ends the access at once.

Every grant, change, activation and revocation is written to ``CaregiverGrantEvent`` with who
and when. Who may do what with a grant: ``accounts.roles`` (``caregiver_grants``).
"""

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from config.errors import Forbidden, Invalid, NotFound

from .emails import app_link, templated_mail_send
from .models import (
    CaregiverGrant,
    CaregiverGrantEvent,
    CaregiverScope,
    PatientProfile,
    Role,
    User,
)
from .roles import is_care_team_member
from .services import invitation_activate, link_code_hash, link_token_new, password_validate


def may_manage_caregivers(actor: User, patient: PatientProfile) -> bool:
    """The patient themselves, or a member of the patient's care team (the admin)."""
    if actor.is_authenticated and actor.role == Role.PATIENT and actor.is_active:
        return patient.user_id == actor.pk
    return is_care_team_member(actor, patient)


def _check_scopes(scopes) -> list[str]:
    scopes = list(dict.fromkeys(scopes or ()))
    if not scopes:
        raise Invalid(
            "Choose at least one of: read, log, reminders, plan.", code="required", attr="scopes"
        )
    unknown = sorted(set(scopes) - set(CaregiverScope.values))
    if unknown:
        raise Invalid(
            f"Unknown scope(s): {', '.join(unknown)}. Allowed: read, log, reminders, plan.",
            code="invalid_choice",
            attr="scopes",
        )
    return sorted(scopes, key=CaregiverScope.values.index)


def _event(grant: CaregiverGrant, action: str, actor: User | None) -> CaregiverGrantEvent:
    return CaregiverGrantEvent.objects.create(
        grant=grant,
        action=action,
        actor=actor,
        scopes=list(grant.scopes),
        expires_at=grant.expires_at,
    )


def _grant_changed(grant: CaregiverGrant) -> None:
    """Apps that act on grants (the reminders' caregiver copies) name a function in
    ``settings.CAREGIVER_GRANT_CHANGED_HOOKS``; it is called inside the grant's transaction,
    with keyword argument ``grant``, after every grant, change of scopes or end, and revocation.
    ``accounts`` imports nothing of the other apps."""
    for path in getattr(settings, "CAREGIVER_GRANT_CHANGED_HOOKS", ()):
        import_string(path)(grant=grant)


def _caregiver_account(email: str, first_name: str, last_name: str) -> User:
    """The caregiver account of ``email``, created (inactive, no password) if there is none."""
    email = (email or "").strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=email,
                    role=Role.CAREGIVER,
                    first_name=first_name,
                    last_name=last_name,
                    is_active=False,
                    is_staff=False,
                )
        except IntegrityError:  # the same address invited at the same moment by someone else
            user = User.objects.get(email__iexact=email)
    if user.role != Role.CAREGIVER or user.is_superuser:
        raise Invalid(
            "This e-mail address belongs to a patient or staff account; a caregiver needs an "
            "address of their own.",
            code="not_a_caregiver",
            attr="email",
        )
    return user


def _mail_on_commit(grant: CaregiverGrant, token: str | None) -> None:
    patient = grant.patient
    context = {
        "first_name": grant.caregiver.first_name,
        "patient_name": patient.user.full_name or "A patient",
        "clinic_name": patient.clinic.name,
        "scopes": [CaregiverScope(scope).label for scope in grant.scopes],
        "token": token,
        "link": app_link("activate", token=token) if token else app_link("caregiving"),
        "expires_at": timezone.localtime(grant.link_expires_at, patient.tz) if token else None,
        "time_zone": patient.time_zone,
    }
    to = grant.caregiver.email
    transaction.on_commit(
        lambda: templated_mail_send(name="caregiver_invitation", to=to, context=context),
        robust=True,
    )


def _new_link(grant: CaregiverGrant) -> str:
    token = link_token_new()
    grant.code_hash = link_code_hash(token)
    grant.link_expires_at = timezone.now() + settings.INVITATION_TTL
    return token


@transaction.atomic
def caregiver_invite(
    *,
    patient: PatientProfile,
    actor: User,
    email: str,
    scopes,
    first_name: str = "",
    last_name: str = "",
    expires_at: datetime | None = None,
) -> tuple[CaregiverGrant, bool]:
    """Grants ``email`` access to ``patient``'s record within ``scopes`` (see the module).
    Returns ``(grant, created)``; the link's token is only in the e-mail."""
    if not may_manage_caregivers(actor, patient):
        raise Forbidden(
            "Only the patient and their care team choose the patient's caregivers.",
            code="permission_denied",
        )
    scopes = _check_scopes(scopes)
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise Invalid("The end of the access is in the past.", code="in_past", attr="expires_at")
    # One invitation of a patient at a time: the patient's row orders them.
    patient = (
        PatientProfile.objects.select_for_update(of=("self",))
        .select_related("user", "clinic")
        .get(pk=patient.pk)
    )
    caregiver = _caregiver_account(email, first_name, last_name)
    pending = not caregiver.is_active and not caregiver.has_usable_password()
    grant = (
        CaregiverGrant.objects.select_for_update()
        .filter(patient=patient, caregiver=caregiver, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .first()
    )
    created = grant is None
    if created:
        # An expired grant still open is closed first: the new one replaces it.
        CaregiverGrant.objects.filter(
            patient=patient, caregiver=caregiver, revoked_at__isnull=True
        ).update(revoked_at=now, revoked_by=actor)
        grant = CaregiverGrant(
            patient=patient,
            caregiver=caregiver,
            scopes=scopes,
            expires_at=expires_at,
            created_at=now,
            created_by=actor,
        )
        token = _new_link(grant) if pending else None
        grant.full_clean(validate_unique=False)
        grant.save()
        _event(grant, CaregiverGrantEvent.Action.GRANTED, actor)
        _grant_changed(grant)
        _mail_on_commit(grant, token)
        return grant, True
    changed = grant.scopes != scopes or grant.expires_at != expires_at
    if changed:
        grant.scopes = scopes
        grant.expires_at = expires_at
        grant.full_clean(validate_unique=False)
        _event(grant, CaregiverGrantEvent.Action.CHANGED, actor)
    token = _new_link(grant) if pending and grant.accepted_at is None else None
    grant.save()
    if changed:
        _grant_changed(grant)
    if token is not None:
        _mail_on_commit(grant, token)
    return grant, False


@transaction.atomic
def caregiver_grant_revoke(*, grant: CaregiverGrant, actor: User) -> CaregiverGrant:
    """Ends the access at once (the link too, if unused: it then answers
    ``invitation_revoked``). Revoking twice changes nothing."""
    grant = (
        CaregiverGrant.objects.select_for_update(of=("self",))
        .select_related("patient")
        .get(pk=grant.pk)
    )
    if not may_manage_caregivers(actor, grant.patient):
        raise NotFound("Not found.", code="not_found")
    if grant.revoked_at is None:
        grant.revoked_at = timezone.now()
        grant.revoked_by = actor
        grant.save(update_fields=["revoked_at", "revoked_by"])
        _event(grant, CaregiverGrantEvent.Action.REVOKED, actor)
        _grant_changed(grant)
    return grant


@transaction.atomic
def account_activate(*, token: str, password: str) -> User:
    """``POST /auth/activate/``: a caregiver's link, else a patient's invitation
    (``accounts.services.invitation_activate``). Same refusals, same single use."""
    grant = (
        CaregiverGrant.objects.select_for_update(of=("self",))
        .select_related("caregiver")
        .filter(code_hash=link_code_hash(token or ""))
        .first()
    )
    if grant is None:
        return invitation_activate(token=token, password=password)
    user = grant.caregiver
    if grant.revoked_at is not None:
        raise Invalid(
            "This invitation was withdrawn; ask the patient for a new one.",
            code="invitation_revoked",
            attr="token",
        )
    if grant.accepted_at is not None or user.is_active:
        raise Invalid(
            "This invitation has already been used: sign in with your e-mail and password.",
            code="invitation_used",
            attr="token",
        )
    if grant.link_expires_at is None or grant.link_expires_at <= timezone.now():
        raise Invalid(
            "This invitation has expired; ask the patient to invite you again.",
            code="invitation_expired",
            attr="token",
        )
    password_validate(password, user)
    user.set_password(password)
    user.is_active = True
    user.save(update_fields=["password", "is_active"])
    grant.accepted_at = timezone.now()
    grant.save(update_fields=["accepted_at"])
    _event(grant, CaregiverGrantEvent.Action.ACCEPTED, user)
    return user


def grants_of_patient(patient_id: int):
    """A patient's caregiver grants, newest first, with the caregiver and the history."""
    return (
        CaregiverGrant.objects.filter(patient_id=patient_id)
        .select_related("caregiver")
        .prefetch_related("events__actor")
        .order_by("-created_at", "-id")
    )


def grants_of_caregiver(user: User):
    """A caregiver's active grants (the patients they act for), with the patient."""
    now = timezone.now()
    return (
        CaregiverGrant.objects.filter(caregiver_id=user.pk, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .select_related("patient__user")
        .order_by("patient_id")
    )


def patient_caregivers_revoke(*, profile: PatientProfile) -> int:
    """``PATIENT_ERASED_HOOKS`` entry (``accounts.erasure``): an erased account's caregivers
    lose their access at once (revoked by no one: the erasure). Returns the number revoked."""
    grants = list(
        CaregiverGrant.objects.select_for_update().filter(patient=profile, revoked_at__isnull=True)
    )
    now = timezone.now()
    for grant in grants:
        grant.revoked_at = now
        grant.save(update_fields=["revoked_at"])
        _event(grant, CaregiverGrantEvent.Action.REVOKED, None)
        _grant_changed(grant)
    return len(grants)
