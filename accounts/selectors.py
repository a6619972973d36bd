"""Reads scoped to the caller. Every lookup of a patient starts here."""

from django.db.models import QuerySet

from .models import PatientProfile, Role, User


def patients_for(user: User) -> QuerySet[PatientProfile]:
    """The patients ``user`` may see: themselves, their care-team patients or their clinic's."""
    qs = PatientProfile.objects.all()
    if not user.is_authenticated or not user.is_active:
        return qs.none()
    if user.is_superuser:
        return qs
    if user.role == Role.PATIENT:
        return qs.filter(user=user)
    if user.role == Role.CLINIC_ADMIN:
        return qs.filter(clinic_id=user.clinic_id) if user.clinic_id else qs.none()
    if user.is_clinician and user.clinic_id:
        return qs.filter(clinic_id=user.clinic_id, memberships__clinician=user)
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


def patient_ids_for(user: User) -> QuerySet:
    return patients_for(user).values("pk")


def staff_for(user: User) -> QuerySet[User]:
    """Clinicians and clinic admins ``user`` may see in pickers and lists."""
    qs = User.objects.exclude(role=Role.PATIENT)
    if user.is_superuser:
        return qs
    if user.clinic_id and user.role != Role.PATIENT:
        return qs.filter(clinic_id=user.clinic_id)
    return qs.none()


def user_get_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=(email or "").strip()).first()
