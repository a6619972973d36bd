"""Reads of the clinical record, scoped to the caller first (style.md: scope first)."""

from datetime import date, datetime

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import PatientProfile, User
from accounts.selectors import own_patient_id, patients_for
from config.errors import NotFound

from .models import (
    Appointment,
    AppointmentStatus,
    ClinicalRecord,
    Surgery,
)
from .writes import RecordKind


def records_for(user: User, kind: RecordKind) -> QuerySet:
    """Live rows of ``kind`` the user may see. A patient's are those of their own profile: a plain
    equality on its id, which PostgreSQL plans as cheaply as the query can be."""
    own = own_patient_id(user)
    if own is not None:
        return kind.model.objects.filter(patient_id=own)
    return kind.model.objects.filter(patient__in=patients_for(user).values("pk"))


def record_get(user: User, kind: RecordKind, record_id: str) -> ClinicalRecord:
    """One live row by id, through the caller's scope: outside it, a 404 as if it did not exist."""
    record = records_for(user, kind).select_related("patient").filter(pk=record_id).first()
    if record is None:
        raise NotFound("Not found.", code="not_found")
    return record


def patient_today(patient: PatientProfile) -> date:
    return timezone.localdate(timezone=patient.tz)


# The surgery the recovery counts from: the latest revision, else the latest surgery (the
# last two keys only make the choice the same every time between two on one day).
CURRENT_SURGERY_FIRST = ("-is_revision", "-performed_on", "-created_at", "-id")


def current_surgery(*, patient: PatientProfile, related: tuple[str, ...] = ()) -> Surgery | None:
    """The surgery the recovery counts from, with ``related`` rows joined in."""
    return (
        Surgery.objects.filter(patient=patient)
        .select_related(*related)
        .order_by(*CURRENT_SURGERY_FIRST)
        .first()
    )


def current_surgeries(patient_ids) -> dict[int, Surgery]:
    """``current_surgery`` of many patients, in one query: patient id -> surgery."""
    current: dict[int, Surgery] = {}
    for surgery in Surgery.objects.filter(patient_id__in=patient_ids).order_by(
        *CURRENT_SURGERY_FIRST
    ):
        current.setdefault(surgery.patient_id, surgery)
    return current


def post_op_day(
    *, patient: PatientProfile, on: date | None = None, surgery: Surgery | None = None
) -> int | None:
    """Days since the current surgery (day 0 is the day of the operation), in the patient's zone."""
    surgery = surgery or current_surgery(patient=patient)
    if surgery is None:
        return None
    return ((on or patient_today(patient)) - surgery.performed_on).days


def next_appointment(*, patient: PatientProfile, now: datetime | None = None) -> Appointment | None:
    return (
        Appointment.objects.filter(
            patient=patient,
            status=AppointmentStatus.SCHEDULED,
            starts_at__gte=now or timezone.now(),
        )
        .order_by("starts_at")
        .first()
    )


def restriction_status(restriction, *, on: date | None = None) -> str:
    return restriction.status_on(on or patient_today(restriction.patient))
