"""Who a signed-in user is: their role, staff membership, clinic admin, and whose care team they
are on. Every permission decision about staff (admin, API, write path, alerts) asks these
functions; nothing else restates them.

The rules:

- A **staff member** is authenticated, active and ``is_staff``, and a superuser or not a
  patient. Every staff power below needs this first: a clinician or clinic admin whose
  ``is_staff`` is off (access withdrawn) has none of them, in the admin or the API; so has a
  superuser whose ``is_staff`` is off.
- A **clinic admin** is a staff member who is a superuser or has the clinic-admin role.
- The **care team of a patient** (who may see and write the patient's record): a staff
  superuser; a clinic admin of the patient's clinic; a clinician (surgeon, nurse, PT) of the
  patient's clinic with a care-team membership for the patient, or with an emergency access
  to the patient that has not expired (``BreakGlassAccess``, ``accounts.break_glass``).

- A **caregiver** (role ``caregiver``, never staff) acts on the patients who granted them
  access (``CaregiverGrant``) while the grant is active (not revoked, not expired, the
  caregiver's account active), and only within its scopes: ``read`` the record, ``log`` pain
  logs, PT sessions, check-ins and wound photos on the patient's behalf
  (``CAREGIVER_LOG_TABLES``), see the
  ``plan``, receive ``reminders``. Never staff-only tables, never alerts, never the admin.
  ``caregiver_grants(user, scope)`` is that rule once.

``care_team_scope(user)`` is that last rule once; ``accounts.selectors.patients_for`` applies it
to a queryset and ``is_care_team_member`` to one loaded patient.
"""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.utils import timezone

from .models import (
    CLINICIAN_ROLES,
    BreakGlassAccess,
    CaregiverGrant,
    CaregiverScope,
    CareTeamMembership,
    PatientProfile,
    Role,
)

# The tables a caregiver with the ``log`` scope writes on the patient's behalf.
CAREGIVER_LOG_TABLES = frozenset({"pain_logs", "pt_sessions", "check_ins", "wound_photos"})


def role_of(user) -> str | None:
    """The user's role, or None for anonymous users."""
    return getattr(user, "role", None) if user.is_authenticated else None


def is_caregiver(user) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and not user.is_superuser
        and role_of(user) == Role.CAREGIVER
    )


def caregiver_grants(user, scope: str = CaregiverScope.READ):
    """The active grants of caregiver ``user`` that carry ``scope`` (none for anyone else)."""
    if not is_caregiver(user):
        return CaregiverGrant.objects.none()
    now = timezone.now()
    return CaregiverGrant.objects.filter(
        caregiver_id=user.pk, revoked_at__isnull=True, scopes__contains=scope
    ).exclude(expires_at__lte=now)


def is_caregiver_of(user, patient, scope: str = CaregiverScope.READ) -> bool:
    """May caregiver ``user`` act on ``patient`` (a PatientProfile) within ``scope``?"""
    return caregiver_grants(user, scope).filter(patient_id=patient.pk).exists()


def is_staff_member(user) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and (user.is_superuser or role_of(user) not in (Role.PATIENT, Role.CAREGIVER))
    )


def is_clinic_admin(user) -> bool:
    return is_staff_member(user) and (user.is_superuser or role_of(user) == Role.CLINIC_ADMIN)


def is_clinician(user) -> bool:
    """A staff member with a clinician role (surgeon, nurse, PT)."""
    return is_staff_member(user) and role_of(user) in CLINICIAN_ROLES


@dataclass(frozen=True)
class CareTeamScope:
    """The patients a staff member's care-team powers cover: every patient (``everyone``), or
    those of ``clinic_id``, and of those only the patients on ``clinician_id``'s care team when
    that is set."""

    everyone: bool = False
    clinic_id: int | None = None
    clinician_id: int | None = None

    def filter(self, patients):
        """``patients`` (a PatientProfile queryset) narrowed to this scope."""
        if self.everyone:
            return patients
        if self.clinician_id is not None:
            return patients.filter(clinic_id=self.clinic_id).filter(
                Exists(
                    CareTeamMembership.objects.filter(
                        patient_id=OuterRef("pk"), clinician_id=self.clinician_id
                    )
                )
                | Exists(self._emergency_accesses().filter(patient_id=OuterRef("pk")))
            )
        return patients.filter(clinic_id=self.clinic_id)

    def covers(self, patient) -> bool:
        """Whether one loaded ``PatientProfile`` is in scope: asks the database only for a
        clinician's membership (or emergency access)."""
        if self.everyone:
            return True
        if patient.clinic_id != self.clinic_id:
            return False
        if self.clinician_id is None:
            return True
        return self.filter(PatientProfile.objects.filter(pk=patient.pk)).exists()

    def _emergency_accesses(self):
        now = timezone.now()
        return BreakGlassAccess.objects.filter(
            user_id=self.clinician_id, started_at__lte=now, expires_at__gt=now
        )


def care_team_scope(user) -> CareTeamScope | None:
    """The patients whose care team ``user`` is on, or None when they are on none (not a staff
    member, no clinic, or a role without patients)."""
    if not is_staff_member(user):
        return None
    if user.is_superuser:
        return CareTeamScope(everyone=True)
    if not user.clinic_id:
        return None
    if role_of(user) == Role.CLINIC_ADMIN:
        return CareTeamScope(clinic_id=user.clinic_id)
    if role_of(user) in CLINICIAN_ROLES:
        return CareTeamScope(clinic_id=user.clinic_id, clinician_id=user.pk)
    return None


def is_care_team_member(user, patient) -> bool:
    """May staff member ``user`` see and write ``patient``'s record (a PatientProfile)?"""
    scope = care_team_scope(user)
    return scope is not None and scope.covers(patient)


def may_invite_patients(user) -> bool:
    """Clinic admins and surgeons of a clinic invite patients into it (a staff superuser too,
    into the clinic they belong to). Nurses and physical therapists do not."""
    if not is_staff_member(user) or not user.clinic_id:
        return False
    return user.is_superuser or role_of(user) in (Role.SURGEON, Role.CLINIC_ADMIN)


def may_manage_invitation(user, invitation) -> bool:
    """Resend or revoke ``invitation``: a staff superuser, a clinic admin of its clinic, or a
    surgeon of its clinic on the invited patient's care team."""
    if is_staff_member(user) and user.is_superuser:
        return True
    if not may_invite_patients(user) or invitation.clinic_id != user.clinic_id:
        return False
    return role_of(user) == Role.CLINIC_ADMIN or is_care_team_member(user, invitation.patient)
