"""The PHI access log: who read which patient's record, what, when and from where.

Neither change-history libraries nor Django's admin log record reads, so reads are written here
deliberately: one row per patient per request, insert-only (the admin offers no change or
delete). A patient reading their own record is not logged; every staff read is, and every
read by a caregiver (``Role.CAREGIVER``), so the patient sees it in their access history.
"""

from collections.abc import Iterable

from django.http import HttpRequest

from .models import PatientProfile, PHIAccess, User


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def phi_access_record(
    *,
    user: User,
    patient_ids: Iterable[int],
    action: str,
    resource: str,
    request: HttpRequest | None = None,
    object_id: str = "",
) -> int:
    """Writes one row per patient read by a staff member or a caregiver. Returns the number of
    rows."""
    if not user.is_authenticated or (not user.is_superuser and user.is_patient):
        return 0
    ids = set(patient_ids)
    if not ids:
        return 0
    clinics = dict(PatientProfile.objects.filter(pk__in=ids).values_list("pk", "clinic_id"))
    path = request.get_full_path()[:500] if request is not None else ""
    ip = client_ip(request)
    PHIAccess.objects.bulk_create(
        PHIAccess(
            user=user,
            patient_id=pid,
            clinic_id=clinics[pid],
            action=action,
            resource=resource,
            object_id=str(object_id)[:64],
            path=path,
            ip_address=ip,
        )
        for pid in sorted(ids)
        if pid in clinics
    )
    return len(ids)
