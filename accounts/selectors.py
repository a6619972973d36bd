"""Reads scoped to the caller. Every lookup of a patient starts here."""

from django.db.models import QuerySet

from .models import PatientProfile, Role, User
from .roles import care_team_scope, is_staff_member, role_of


def patients_for(user: User) -> QuerySet[PatientProfile]:
    """The patients ``user`` may see: a patient themselves; staff the patients whose care team
    they are on (``accounts.roles.care_team_scope``: one rule with ``is_care_team_member``)."""
    qs = PatientProfile.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    scope = care_team_scope(user)
    if scope is not None:
        return scope.filter(qs)
    if role_of(user) == Role.PATIENT and not user.is_superuser:
        return qs.filter(user=user)
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
    qs = User.objects.exclude(role=Role.PATIENT)
    if not is_staff_member(user):
        return qs.none()
    if user.is_superuser:
        return qs
    if user.clinic_id:
        return qs.filter(clinic_id=user.clinic_id)
    return qs.none()
