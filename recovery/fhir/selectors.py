"""Reads of Bulk Data export jobs, scoped to the caller first."""

from django.db.models import QuerySet

from accounts.models import User
from accounts.roles import is_clinic_admin

from .models import BulkExportJob


def bulk_exports_for(user: User) -> QuerySet[BulkExportJob]:
    """The export jobs ``user`` may poll, download and cancel: the ones they started, while they
    are a clinic admin of the job's clinic (a staff superuser: every job)."""
    qs = BulkExportJob.objects.all()
    if not is_clinic_admin(user):
        return qs.none()
    if user.is_superuser:
        return qs
    return qs.filter(requested_by=user, clinic_id=user.clinic_id)


def bulk_exports_listed_for(user: User) -> QuerySet[BulkExportJob]:
    """The admin's list: every export of the clinic admin's clinic (a superuser: all)."""
    qs = BulkExportJob.objects.select_related("clinic", "requested_by")
    if not is_clinic_admin(user):
        return qs.none()
    if user.is_superuser:
        return qs
    return qs.filter(clinic_id=user.clinic_id)


def bulk_export_for(user: User, job_id) -> BulkExportJob | None:
    return bulk_exports_for(user).select_related("requested_by").filter(pk=job_id).first()
