"""Reads scoped to the caller. Every lookup of a patient starts here."""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Case, CharField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from .models import (
    CLINICIAN_ROLES,
    BreakGlassAccess,
    CaregiverScope,
    Invitation,
    InvitationStatus,
    PatientProfile,
    PHIAccess,
    Role,
    User,
)
from .roles import care_team_scope, caregiver_grants, is_caregiver, is_staff_member, role_of


def patients_for(user: User, scope: str = CaregiverScope.READ) -> QuerySet[PatientProfile]:
    """The patients ``user`` may see: a patient themselves; staff the patients whose care team
    they are on (``accounts.roles.care_team_scope``: one rule with ``is_care_team_member``); a
    caregiver the patients with an active grant carrying ``scope`` (``read`` unless told:
    ``log`` for writes, ``plan`` for the care plan). ``scope`` matters for caregivers only."""
    qs = PatientProfile.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    team = care_team_scope(user)
    if team is not None:
        return team.filter(qs)
    if role_of(user) == Role.PATIENT and not user.is_superuser:
        return qs.filter(user=user)
    if is_caregiver(user):
        return qs.filter(pk__in=caregiver_grants(user, scope).values("patient_id"))
    return qs.none()


def own_patient_id(user: User) -> int | None:
    """A patient's own profile id (their whole scope), else None. The API's authentication reads
    it with the user (``own_patient_pk``), so there this asks the database nothing."""
    if not (user.is_authenticated and user.is_active and user.role == Role.PATIENT):
        return None
    if hasattr(user, "own_patient_pk"):
        return user.own_patient_pk
    profile = getattr(user, "patient_profile", None)
    return profile.pk if profile is not None else None


def staff_for(user: User) -> QuerySet[User]:
    """Clinicians and clinic admins ``user`` may see in pickers and lists."""
    qs = User.objects.exclude(role__in=(Role.PATIENT, Role.CAREGIVER))
    if not is_staff_member(user):
        return qs.none()
    if user.is_superuser:
        return qs
    if user.clinic_id:
        return qs.filter(clinic_id=user.clinic_id)
    return qs.none()


def clinic_staff_for_invitation(user: User, *, roles: tuple) -> QuerySet[User]:
    """Who ``user`` may name as surgeon of record (``roles=(Role.SURGEON,)``) or on the care
    team (``CLINICIAN_ROLES``) of a patient they invite: active staff of their own clinic."""
    if not user.clinic_id:
        return User.objects.none()
    return (
        staff_for(user)
        .filter(clinic_id=user.clinic_id, role__in=roles, is_active=True, is_staff=True)
        .order_by("last_name", "first_name", "email")
    )


def clinicians_for_invitation(user: User) -> QuerySet[User]:
    return clinic_staff_for_invitation(user, roles=CLINICIAN_ROLES)


def invitation_status_q(status: str, *, now: datetime | None = None) -> Q:
    """The rows whose status is ``status`` (pending, accepted, expired, revoked) at ``now``."""
    now = now or timezone.now()
    open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
    return {
        InvitationStatus.ACCEPTED: Q(accepted_at__isnull=False),
        InvitationStatus.REVOKED: Q(accepted_at__isnull=True, revoked_at__isnull=False),
        InvitationStatus.EXPIRED: open_ & Q(expires_at__lte=now),
        InvitationStatus.PENDING: open_ & Q(expires_at__gt=now),
    }[status]


def invitations_for(user: User, *, now: datetime | None = None) -> QuerySet[Invitation]:
    """The invitations of the patients ``user`` may see (``patients_for``), for staff only (a
    patient has no invitations to manage), with ``current_status`` computed at ``now``."""
    if not is_staff_member(user):
        return Invitation.objects.none()
    now = now or timezone.now()
    return (
        Invitation.objects.filter(patient__in=patients_for(user).values("pk"))
        .select_related("patient__user", "patient__surgeon", "created_by")
        .annotate(
            current_status=Case(
                *(
                    When(invitation_status_q(status, now=now), then=Value(status.value))
                    for status in InvitationStatus
                ),
                output_field=CharField(),
            )
        )
    )


def access_history_for(patient_ids: Iterable[int]) -> QuerySet[PHIAccess]:
    """Who read the patients' records ("who looked at my record"), newest first, with the reader.
    A read under an emergency access carries that access's reason as ``emergency_reason``
    (None otherwise): one query for a page, whatever its length."""
    emergency = BreakGlassAccess.objects.filter(
        user_id=OuterRef("user_id"),
        patient_id=OuterRef("patient_id"),
        started_at__lte=OuterRef("at"),
        expires_at__gt=OuterRef("at"),
    ).order_by("-started_at")
    return (
        PHIAccess.objects.filter(patient_id__in=list(patient_ids))
        .select_related("user")
        .annotate(emergency_reason=Subquery(emergency.values("reason")[:1]))
        .order_by("-at", "-id")
    )
